"""autograde(): the whole grading pipeline (being written)."""

from __future__ import annotations

from pathlib import Path

from .results import ClassResult

__all__ = ["GradingError", "autograde"]


class GradingError(RuntimeError):
    """Bad input for a whole run (missing folder, empty zip...): one readable line."""


def autograde(
    submissions: str | Path,
    out: str | Path,
    *,
    workers: int | None = None,
    sandbox: bool = True,
    db_url: str | None = None,
    resume: bool = True,
    progress: bool = False,
    root: str | Path | None = None,
) -> ClassResult:
    """Grade every submission under `submissions` and write grades.csv, exercises.csv and
    feedback/<student>/<assignment>.html into `out`; scores go into nbgrader's gradebook.

    submissions: a folder <student_id>/<assignment>/<assignment>.ipynb, or an LMS .zip.
    workers: notebooks graded at once (default: number of cores).
    sandbox: run student code in the bubblewrap sandbox (False only for trusted code).
    db_url: the gradebook (default: autograder/gradebook.db of the course).
    resume: skip submissions already graded with the same content.
    Returns a ClassResult: result.get(student, assignment).exercise(grade_id) → ExerciseResult
    with .score, .max_score, .status ('passed'|'failed'|'error'|'timeout'|'missing'), .message, .flags.
    """
    raise NotImplementedError("the grading pipeline is being written")
