"""System packages a test needs: where one is missing, the test is skipped with a reason naming
it (conftest.py then prints one line at the end saying which were missing)."""

from __future__ import annotations

import pytest

NEEDS = "needs the system package"


def need_system_package(package: str, why: str) -> None:
    """Skip the calling test: `package` (a Debian package) is missing here."""
    pytest.skip(f"{NEEDS} {package} ({why})")


def require_sandbox() -> None:
    from coursekit.grading.sandbox import sandbox_available

    ok, why = sandbox_available()
    if not ok:
        need_system_package("bubblewrap", why)
