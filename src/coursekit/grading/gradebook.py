"""Scores into nbgrader's gradebook, so formgrader and `nbgrader export` show them.

Only the main grading process writes here (workers return plain results). Any SQLAlchemy URL
nbgrader accepts works: SQLite by default, PostgreSQL with psycopg2.
"""

from __future__ import annotations

from pathlib import Path

from .results import SubmissionResult

__all__ = ["ensure_assignment", "record"]


def ensure_assignment(assignment: str, db_url: str, root: Path, scratch: Path) -> None:
    """Make sure the gradebook knows `assignment`'s notebook and grade cells (nbgrader's
    generate_assignment records them); a missing assignment is released into `scratch`."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            a = gb.find_assignment(assignment)
            if a.notebooks and a.notebooks[0].grade_cells:
                return
        except MissingEntry:
            pass
    from .release import release

    release([assignment], root=root, release_dir=scratch, db_url=db_url)


def record(result: SubmissionResult, db_url: str) -> None:
    """Write one submission's scores (auto_score per grade cell) into the gradebook."""
    import warnings

    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own add_submission is noisy
        gb.update_or_create_student(result.student_id)
        try:
            gb.find_submission(result.assignment, result.student_id)
        except MissingEntry:
            gb.add_submission(result.assignment, result.student_id)
        for ex in result.exercises:
            try:
                grade = gb.find_grade(
                    ex.grade_id, result.assignment, result.assignment, result.student_id
                )
            except MissingEntry:
                continue
            grade.auto_score = float(ex.score)
            # as nbgrader's SaveAutoGrades: a grade an instructor already scored by hand stays
            # up for review (the manual score is kept and still counts)
            grade.needs_manual_grade = grade.manual_score is not None
        gb.db.commit()
