"""`coursekit doctor`: versions, devices, data, and what is missing — in one screen."""

from __future__ import annotations

import importlib
import platform
import shutil
import sys

__all__ = ["doctor"]


def _version(mod: str) -> str | None:
    try:
        return getattr(importlib.import_module(mod), "__version__", "installed")
    except Exception:
        return None


def doctor(echo=print) -> int:
    """Print the report; return 0 if everything a student needs is there, 1 otherwise."""
    problems: list[str] = []
    echo(f"python      {sys.version.split()[0]} ({platform.platform()})")
    for mod in (
        "coursekit",
        "torch",
        "numpy",
        "matplotlib",
        "ipywidgets",
        "ipympl",
        "nbgrader",
        "jupyterlab",
        "tqdm",
    ):
        v = _version(mod)
        echo(f"{mod:<11} {v or 'MISSING'}")
        if v is None:
            problems.append(f"{mod} is not installed (run `make setup`)")
    try:
        from .devices import available_devices, describe_device

        devs = available_devices()
        echo("devices     " + ", ".join(describe_device(d) for d in devs))
    except Exception as exc:
        problems.append(f"torch devices could not be listed: {exc}")
    from .data import data_dirs, find_dataset

    for name in ("mnist", "fashion"):
        found = find_dataset(name)
        echo(f"{name + ' data':<11} {found or 'not found'}")
        if found is None and name == "mnist":
            problems.append(
                "MNIST is missing: put the four IDX .gz files in one of "
                + ", ".join(str(d) for d in data_dirs(name))
                + " (or set COURSEKIT_DATA)"
            )
    from .grading.sandbox import sandbox_available

    ok, why = sandbox_available()
    echo(
        f"sandbox     {'bubblewrap ok' if ok else 'unavailable: ' + why}  (instructors: needed by `coursekit autograde`)"
    )
    echo(f"chromium    {shutil.which('chromium') or 'not found (only the browser tests need it)'}")
    if problems:
        echo("\nmissing:")
        for p in problems:
            echo(f"  - {p}")
        return 1
    echo("\nall set.")
    return 0
