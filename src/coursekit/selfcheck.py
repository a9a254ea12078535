"""`coursekit check NOTEBOOK`: a student runs their notebook and sees each visible check's verdict.

It runs in the student's own Jupyter kernel (it is their code on their machine); the verdict
that counts is the instructor's grader. Exit code 0 only if every visible check passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbformat.reader import NotJSONError

from .errors import CoursekitError
from .notebooks import execute, nbgrader_meta

__all__ = ["CheckError", "check_notebook"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class CheckError(CoursekitError):
    """The notebook can't be checked (missing, not a notebook, its kernel died)."""


def _load(path: Path) -> nbformat.NotebookNode:
    if not path.exists():
        raise CheckError(f"no such file: {path}")
    if path.is_dir() or path.suffix != ".ipynb":
        raise CheckError(f"{path} is not a notebook (.ipynb file)")
    try:
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        nbformat.validate(nb)
    except (UnicodeDecodeError, NotJSONError) as exc:
        raise CheckError(f"{path} is not valid notebook JSON ({exc})") from None
    except Exception as exc:  # nbformat's validation errors: one line
        raise CheckError(f"{path} is not a valid notebook ({str(exc).splitlines()[0]})") from None
    return nb


def _message(outputs: list) -> str:
    for out in outputs:
        if out.get("output_type") == "error":
            ename, evalue = out.get("ename", "Error"), out.get("evalue", "")
            if ename == "NotImplementedError":
                return "not written yet (the function still raises NotImplementedError)"
            if ename in ("CheckFailed", "AssertionError") and evalue:
                return evalue
            return f"{ename}: {evalue}" if evalue else ename
    return ""


def check_notebook(
    path: Path, *, timeout: int = 300, echo: Callable[[str], object] = print
) -> bool:
    """Run `path` top to bottom and print each graded cell's visible verdict. True if all pass."""
    nb = _load(path)
    tests = [
        (i, nbgrader_meta(c))
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        and nbgrader_meta(c).get("grade")
        and not nbgrader_meta(c).get("solution")
    ]
    if not tests:
        raise CheckError(f"{path} has no graded test cells (is it a coursekit assignment?)")
    try:
        ran = execute(nb, timeout=timeout, cwd=path.parent, allow_errors=True)
    except Exception as exc:  # a dead kernel, a timeout: report it as such
        first = _ANSI.sub("", str(exc)).strip().splitlines()
        raise CheckError(
            f"the notebook could not be run: {first[0] if first else type(exc).__name__}"
        ) from None
    echo(path.name)
    passed = 0
    width = max(len(m.get("grade_id", "")) for _, m in tests)
    for i, meta in tests:
        msg = _ANSI.sub("", _message(ran.cells[i].get("outputs", [])))
        pts = meta.get("points", 0)
        if msg:
            echo(
                f"  ✘ {meta['grade_id']:<{width}}  ({pts:g} pt)  {msg.splitlines()[0] if msg else ''}"
            )
        else:
            passed += 1
            echo(f"  ✔ {meta['grade_id']:<{width}}  ({pts:g} pt)")
    echo(
        f"{passed} of {len(tests)} visible checks pass."
        + (
            ""
            if passed == len(tests)
            else " (Hidden tests decide the grade: passing these is necessary, not sufficient.)"
        )
    )
    return passed == len(tests)
