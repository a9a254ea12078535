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
    """Write one submission's scores (auto_score per grade cell) into the gradebook.

    Integrity flags go up for the instructor's review in formgrader: the flagged exercise's
    grade needs a manual grade (the first exercise's, for a flag on the whole notebook), and the
    flag text is the auto_comment of the answer cell just above that test cell. A manual score
    or comment the instructor gave is never touched."""
    import warnings

    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    review, comments = _integrity_review(result)
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
            # up for review (the manual score is kept and still counts); so does a flagged one
            grade.needs_manual_grade = grade.manual_score is not None or ex.grade_id in review
        _integrity_comments(gb, result, comments)
        gb.db.commit()


INTEGRITY = "coursekit integrity check: "  # starts every auto_comment written here


def _integrity_review(result: SubmissionResult) -> tuple[set[str], dict[str, list[str]]]:
    """(grade ids to review, {answer cell grade_id: flag texts}) for a submission's flags."""
    answer_of: dict[str, str] = {}  # test grade_id → the answer cell above it
    first_answer, last = "", ""
    for cell in result.cells:
        meta = cell.nbgrader or {}
        gid = meta.get("grade_id") or ""
        if meta.get("solution") and gid:
            last = gid
            first_answer = first_answer or gid
        elif meta.get("grade") and gid and last:
            answer_of[gid] = last
    review: set[str] = set()
    comments: dict[str, list[str]] = {}
    for ex in result.exercises:
        if ex.flags:
            review.add(ex.grade_id)
            target = answer_of.get(ex.grade_id, first_answer)
            comments.setdefault(target, []).extend(ex.flags)
    if result.flags and result.exercises:
        review.add(result.exercises[0].grade_id)
        comments.setdefault(first_answer, []).extend(f"(whole notebook) {f}" for f in result.flags)
    return review, comments


def _integrity_comments(gb, result: SubmissionResult, comments: dict[str, list[str]]) -> None:
    """Set (or clear) the integrity auto_comments of the submission's answer cells."""
    from nbgrader.api import MissingEntry

    try:
        nb = gb.find_submission_notebook(result.assignment, result.assignment, result.student_id)
    except MissingEntry:
        return
    ours = sorted(nb.comments, key=lambda c: c.name)
    if "" in comments and ours:  # no answer cell known above the flagged test: the first one
        comments.setdefault(ours[0].name, []).extend(comments.pop(""))
    for c in ours:
        texts = comments.get(c.name)
        if texts:
            c.auto_comment = INTEGRITY + "; ".join(texts)
        elif c.auto_comment and c.auto_comment.startswith(INTEGRITY):
            c.auto_comment = None
