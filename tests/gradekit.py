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

__all__ = [
    "build_class",
    "grade_class",
    "cell",
    "set_cell",
    "hidden_only_lines",
    "run_test_cell_here",
]


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
    """Grade a class with the real grader (skips the test where no sandbox can be made)."""
    from syspkg import require_sandbox

    if kwargs.get("sandbox", True):
        require_sandbox()
    work = Path(work)
    return autograde(
        class_dir,
        work / "out",
        runtime=work / "nbgrader",
        workers=workers,
        progress=False,
        **kwargs,
    )


def cell(nb, grade_id: str):
    for c in nb.cells:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return c
    raise KeyError(grade_id)


def set_cell(nb, grade_id: str, source: str):
    cell(nb, grade_id).source = source
    return nb


def hidden_only_lines(nb, min_len: int = 12) -> set[str]:
    """Lines of the hidden tests that appear nowhere in the visible notebook (to detect leaks)."""
    from coursekit.notebooks import split_hidden

    hidden, visible = set(), set()
    for c in nb.cells:
        vis, hid = (
            split_hidden(c.source)
            if c.metadata.get("nbgrader", {}).get("grade")
            else (c.source, "")
        )
        hidden |= {ln.strip() for ln in hid.splitlines() if len(ln.strip()) > min_len}
        visible |= {ln.strip() for ln in vis.splitlines()}
    return hidden - visible


def run_test_cell_here(test_source: str, answers: Mapping[str, str], ns: dict, name: str) -> str:
    """Define the answers in `ns`, then run a test cell as the grader does (the one test-cell
    runner: the visible part, then the hidden part in hidden mode), in this process. Returns what
    it printed; raises what the checks raise."""
    from coursekit.grading.testcell import run_test_cell

    for src in answers.values():
        exec(compile(src, "<answer>", "exec"), ns)  # the tests' own answers
    return run_test_cell(test_source, ns, name=name).reraise()


# --- one graded class per assignment, shared by every test of that assignment -----------------
#
# The contract tests (tests/test_assignments.py) and a notebook's own tests (tests/test_nbNN_*.py)
# read the same graded class: the standard students "solution" and "blank", plus whatever a
# notebook's module registers with register_students(). conftest.py puts every test of an
# assignment in one xdist group, so the class is graded once, on one worker.

_EXTRA: dict[str, list] = {}
_GRADED: dict[str, ClassResult] = {}


def register_students(assignment: str, make) -> None:  # a function → {student: notebook}
    """Add students to `assignment`'s graded class (call at a test module's import)."""
    _EXTRA.setdefault(assignment, []).append(make)


def standard_students(assignment: str) -> dict:
    from coursekit.notebooks import release_notebook, source_notebook, submission_from

    return {
        "solution": submission_from(source_notebook(assignment)),
        "blank": submission_from(release_notebook(assignment)),
    }


def graded_class(assignment: str, tmp_path_factory) -> ClassResult:
    """The assignment's class, graded by the real grader (once per test worker)."""
    if assignment not in _GRADED:
        students = {}
        for make in _EXTRA.get(assignment, []):
            students.update(make())
        students.update(standard_students(assignment))
        work = tmp_path_factory.mktemp(f"class_{assignment}")
        _GRADED[assignment] = grade_class(build_class(work / "class", assignment, students), work)
    return _GRADED[assignment]


# --- the solution's namespace, in this process ---------------------------------------------------

_NAMESPACES: dict[tuple[str, bool], dict] = {}


def solution_namespace(assignment: str, *, skip_show_only: bool = True) -> dict:
    """The names the solution notebook defines, from running its code cells here (test cells
    and `show-only` cells left out), in grading mode (heavy cells on their small budget). Cached:
    copy it before changing it."""
    key = (assignment, skip_show_only)
    if key not in _NAMESPACES:
        import contextlib
        import io
        import os

        from coursekit.notebooks import nbgrader_meta, source_notebook

        ns: dict = {"__name__": "__main__"}
        old = os.environ.get("NBGRADER_EXECUTION")
        os.environ["NBGRADER_EXECUTION"] = "autograde"
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                for c in source_notebook(assignment).cells:
                    meta = nbgrader_meta(c)
                    if c.cell_type != "code" or (meta.get("grade") and not meta.get("solution")):
                        continue
                    if skip_show_only and "show-only" in c.metadata.get("tags", []):
                        continue
                    code = "\n".join(
                        ln for ln in c.source.splitlines() if not ln.lstrip().startswith(("%", "!"))
                    )
                    exec(compile(code, f"<{assignment} {meta.get('grade_id')}>", "exec"), ns)
        finally:
            if old is None:
                os.environ.pop("NBGRADER_EXECUTION", None)
            else:
                os.environ["NBGRADER_EXECUTION"] = old
            import matplotlib.pyplot as plt

            plt.close("all")
        _NAMESPACES[key] = ns
    return _NAMESPACES[key]


# --- a test cell judged in this process as the grader judges it -----------------------------------


def _numpy_only(ns: dict) -> dict:
    """A copy of a namespace in which the student's code can't import or reach torch and scipy,
    as in the grader's NumPy-only kernel."""
    import builtins

    from coursekit.grading.sandbox import NUMPY_ONLY_TAIL

    real_import = builtins.__import__

    def guarded_import(name, *args, **kwargs):
        top = name.split(".")[0]
        if top in ("torch", "scipy", "functorch", "torchgen"):
            raise ImportError(top + NUMPY_ONLY_TAIL)
        return real_import(name, *args, **kwargs)

    class Missing:
        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str):
            raise ImportError(self._name + NUMPY_ONLY_TAIL)

    out = dict(ns)
    out["__builtins__"] = {**vars(builtins), "__import__": guarded_import}
    for name in ("torch", "nn", "F"):
        out[name] = Missing("torch")
    out["scipy"] = Missing("scipy")
    return out


def judge_here(
    assignment: str,
    test: str,
    answers: dict | None = None,
    *,
    hidden: bool = True,
    skip_show_only: bool = True,
):
    """Run test cell `test` of `assignment` in this process against the solution's namespace with
    `answers` ({answer grade_id: source}) in place of the solution's, as the grader does: the
    test's names looked up in the student's namespace (a NumPy-only one for tests tagged
    `numpy-only`), the test cell in a fresh namespace of its own. A CellRun."""
    from coursekit.grading.testcell import CellRun, run_test_cell
    from coursekit.grading.verdict import free_names
    from coursekit.notebooks import cells_by_grade_id, source_notebook

    cell = cells_by_grade_id(source_notebook(assignment))[test]
    student = dict(solution_namespace(assignment, skip_show_only=skip_show_only))
    numpy_only = "numpy-only" in cell.metadata.get("tags", [])
    if numpy_only:
        student = _numpy_only(student)
        for gid, c in cells_by_grade_id(source_notebook(assignment)).items():
            if gid.startswith("answer_") and gid not in (answers or {}):
                src = "\n".join(
                    ln for ln in c.source.splitlines() if not ln.lstrip().startswith("%")
                )
                exec(compile(src, f"<{gid}>", "exec"), student)  # the solution's, NumPy-only too
    failed = set()
    for gid, src in (answers or {}).items():
        try:
            exec(compile(src, f"<{gid}>", "exec"), student)  # the table's own answers
        except ImportError:
            if not numpy_only:
                raise
            failed.add(gid)  # as in the NumPy-only kernel: the cell stops, its names are missing
    if failed:
        for gid in failed:  # names the cell would have defined
            for node in __import__("ast").parse(answers[gid]).body:
                name = getattr(node, "name", None)
                if name and name in student and name in free_names(cell.source):
                    del student[name]
    names = {n: student[n] for n in free_names(cell.source) if n in student}
    missing = [n for n in free_names(cell.source) if n not in student]
    if numpy_only and missing:
        from coursekit.checks import CheckFailed
        from coursekit.grading.sandbox import NUMPY_ONLY

        return CellRun(
            "",
            "visible",
            CheckFailed(
                f"{missing[0]}: its cell can't run without torch or scipy: it calls a ready-made "
                f"implementation (this exercise is {NUMPY_ONLY})"
            ),
        )
    return run_test_cell(cell.source, names, name=test, hidden=hidden)
