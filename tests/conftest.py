"""Shared test set-up: data from ../shared/data, never a download, widgets headless."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_shared = ROOT.parent / "shared" / "data"
if not os.environ.get("COURSEKIT_DATA") and _shared.is_dir():
    os.environ["COURSEKIT_DATA"] = str(_shared)
os.environ["COURSEKIT_OFFLINE"] = "1"
os.environ.setdefault("COURSEKIT_HEADLESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def course_root() -> Path:
    return ROOT


def pytest_report_header(config):  # noqa: ANN001, ANN201
    return f"coursekit data: {os.environ.get('COURSEKIT_DATA') or 'none (MNIST tests will skip)'}"


def pytest_collection_modifyitems(config, items):  # noqa: ANN001, ANN201
    """For `pytest -n auto --dist loadgroup`: each module's tests stay on one worker (its
    module-scoped fixtures, e.g. a graded class, are built once) and all browser tests share one
    worker (one JupyterLab)."""
    for item in items:
        group = "browser" if item.get_closest_marker("browser") else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
