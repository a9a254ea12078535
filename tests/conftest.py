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


from syspkg import NEEDS  # noqa: E402 - after the environment above is set


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line at the end when tests were skipped for want of system packages."""
    packages: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = (
            str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        )
        if NEEDS in reason:
            pkg = reason.split(NEEDS, 1)[1].split()[0]
            packages[pkg] = packages.get(pkg, 0) + 1
    if packages:
        n = sum(packages.values())
        names = " ".join(sorted(packages))
        terminalreporter.write_line(
            f"coursekit: {n} tests skipped for want of system packages ({names}); "
            f"install them with `make system-deps` as root, or `sudo apt-get install -y {names}`",
            yellow=True,
            bold=True,
        )


@pytest.fixture(scope="session")
def course_root() -> Path:
    return ROOT


def pytest_report_header(config):
    return f"coursekit data: {os.environ.get('COURSEKIT_DATA') or 'none (MNIST tests will skip)'}"


@pytest.hookimpl(trylast=True)  # after xdist's hook: the groups must be in the node ids now
def pytest_collection_finish(session: pytest.Session) -> None:
    """Fail loudly when `--dist loadgroup` is not honoured (a pytest that pytest-xdist does not
    support): the tests would still pass, but each worker would grade every class again."""
    if getattr(session.config.option, "loadgroup", False) and session.items:
        if not any("@" in item.nodeid for item in session.items):
            raise pytest.UsageError(
                "pytest-xdist's --dist loadgroup left the node ids without their groups: "
                "this pytest is too new for it (pyproject.toml pins a working pair)"
            )


def _group(item: pytest.Item) -> str:
    if item.get_closest_marker("browser") or "tests/browser/" in item.nodeid:
        return "browser"  # one JupyterLab
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "assignment" in callspec.params:
        return str(callspec.params["assignment"])  # with that notebook's own tests
    assignment = getattr(item.module, "A", None)
    if item.module.__name__.startswith("test_nb") and isinstance(assignment, str):
        return assignment  # a notebook's module: its graded class is shared with test_assignments
    return item.nodeid.split("::")[0]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """For `pytest -n auto --dist loadgroup`: the tests of one assignment stay on one worker (its
    graded class and solution namespace are built once), so do each module's tests (module
    fixtures), and all browser tests share one worker."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
