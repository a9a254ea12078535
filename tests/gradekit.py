"""Helpers for tests that grade a class: build submissions, grade them once, read the rows.

    from gradekit import build_class, grade_class
    cls = build_class(tmp, "04_convolution_by_hand", {"alice": nb, "bob": b"{not json"})
    result = grade_class(cls, tmp)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import nbformat

from coursekit.grading import autograde
from coursekit.grading.results import ClassResult

__all__ = ["build_class", "grade_class", "cell", "set_cell", "hidden_only_lines", "run_test_cell_here"]


def build_class(folder: Path, assignment: str, students: Mapping[str, object]) -> Path:
    """Write <folder>/<student>/<assignment>/<assignment>.ipynb for each student.
    A value is a notebook (nbformat node or dict), raw bytes, or text written as is."""
    folder = Path(folder)
    for student, nb in students.items():
        d = folder / student / assignment
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{assignment}.ipynb"
        if isinstance(nb, bytes):
            path.write_bytes(nb)
        elif isinstance(nb, str):
            path.write_text(nb)
        else:
            nbformat.write(nbformat.from_dict(nb), path)
    return folder


def grade_class(class_dir: Path, work: Path, *, workers: int = 2, **kwargs) -> ClassResult:
    work = Path(work)
    return autograde(class_dir, work / "out", runtime=work / "nbgrader", workers=workers, progress=False, **kwargs)


def cell(nb, grade_id: str):  # noqa: ANN001, ANN201
    for c in nb.cells:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return c
    raise KeyError(grade_id)


def set_cell(nb, grade_id: str, source: str):  # noqa: ANN001, ANN201
    cell(nb, grade_id).source = source
    return nb


def hidden_only_lines(nb, min_len: int = 12) -> set[str]:
    """Lines of the hidden tests that appear nowhere in the visible notebook (to detect leaks)."""
    from coursekit.notebooks import split_hidden

    hidden, visible = set(), set()
    for c in nb.cells:
        vis, hid = split_hidden(c.source) if c.metadata.get("nbgrader", {}).get("grade") else (c.source, "")
        hidden |= {ln.strip() for ln in hid.splitlines() if len(ln.strip()) > min_len}
        visible |= {ln.strip() for ln in vis.splitlines()}
    return hidden - visible


def run_test_cell_here(test_source: str, answers: Mapping[str, str], ns: dict, name: str) -> str:
    """Define the answers in `ns`, then run a test cell as the grader does: the visible part, then
    the hidden part in hidden mode, in this process. Returns what it printed; raises what the
    checks raise."""
    import contextlib
    import io

    from coursekit.checks import hidden_mode
    from coursekit.notebooks import split_hidden

    for src in answers.values():
        exec(compile(src, "<answer>", "exec"), ns)  # noqa: S102 - the tests' own answers
    visible, hidden = split_hidden(test_source)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(visible, f"<test_{name}>", "exec"), ns)  # noqa: S102
        with hidden_mode():
            exec(compile(hidden, f"<test_{name} hidden>", "exec"), ns)  # noqa: S102
    return buf.getvalue()
