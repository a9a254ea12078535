"""The gradebook on a real PostgreSQL server, a class from an LMS zip, and --workers 1 vs 2."""

from __future__ import annotations

import zipfile

import pytest
from gradekit import build_class, grade_class
from pg import postgres_server  # noqa: F401 - the fixture `postgres`

from coursekit.notebooks import release_notebook, source_notebook, submission_from

A = "04_convolution_by_hand"
pytestmark = pytest.mark.slow
WRONG = (
    "def conv_output_size(n, f, padding=0, stride=1):\n    return (n - f + 2 * padding) // stride\n"
)


@pytest.fixture(scope="session")  # session: built once per worker even if xdist interleaves modules
def small_class(tmp_path_factory):
    src, rel = source_notebook(A), release_notebook(A)
    folder = tmp_path_factory.mktemp("small") / "class"
    return build_class(
        folder,
        A,
        {
            "ana": submission_from(src),
            "ben": submission_from(src, {"answer_conv_output_size": WRONG}),
            "cy": submission_from(rel),
        },
    )


def _rows(result):
    return [
        (s.student_id, [(e.grade_id, e.score, e.status, e.message) for e in s.exercises])
        for s in result.submissions
    ]


@pytest.mark.postgres
def test_gradebook_on_postgresql(postgres, small_class, tmp_path):
    result = grade_class(small_class, tmp_path, db_url=postgres)
    from nbgrader.api import Gradebook

    from coursekit.grading.config import normalize_db_url

    with Gradebook(normalize_db_url(postgres)) as gb:
        scores = {s.student.id: s.score for s in gb.assignment_submissions(A)}
    assert scores == {s.student_id: s.score for s in result.submissions}
    assert scores["ana"] == result.get("ana").max_score and scores["cy"] == 0


def test_workers_1_and_2_give_identical_results(small_class, tmp_path):
    one = grade_class(small_class, tmp_path / "w1", workers=1)
    two = grade_class(small_class, tmp_path / "w2", workers=2)
    assert _rows(one) == _rows(two)
    assert (tmp_path / "w1" / "out" / "exercises.csv").read_text() == (
        tmp_path / "w2" / "out" / "exercises.csv"
    ).read_text()


def test_lms_zip_with_the_default_pattern(small_class, tmp_path):
    z = tmp_path / "download.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for nb in small_class.rglob("*.ipynb"):
            zf.write(nb, f"submissions/{nb.parent.parent.name}_{A}.ipynb")
        zf.writestr("submissions/readme.txt", "not a notebook")
    result = grade_class(z, tmp_path, workers=2)
    assert {s.student_id for s in result.submissions} == {"ana", "ben", "cy"}
    assert result.get("ana").score == result.get("ana").max_score
    assert "readme.txt" in (tmp_path / "out" / "skipped.txt").read_text()


def test_a_manual_score_survives_a_rerun_of_autograde(small_class, tmp_path):
    """As nbgrader's own SaveAutoGrades: an instructor's manual score stays, and the grade stays
    up for review (needs_manual_grade) after autograde runs again."""
    from nbgrader.api import Gradebook

    grade_class(small_class, tmp_path)
    db = f"sqlite:///{tmp_path / 'nbgrader' / 'gradebook.db'}"
    with Gradebook(db) as gb:
        g = gb.find_grade("test_conv_output_size", A, A, "ben")
        assert g.auto_score == 0 and not g.needs_manual_grade
        g.manual_score = 1.0
        g.needs_manual_grade = False  # what formgrader does when the instructor saves a score
        gb.db.commit()
    grade_class(small_class, tmp_path, resume=False)
    with Gradebook(db) as gb:
        g = gb.find_grade("test_conv_output_size", A, A, "ben")
        assert g.manual_score == 1.0 and g.auto_score == 0
        assert g.needs_manual_grade
        assert gb.find_grade("test_conv_output_size", A, A, "ana").needs_manual_grade is False
        assert gb.find_submission(A, "ben").score == gb.find_submission(A, "ana").score


def test_identical_submissions_are_graded_once_and_recorded_for_each(tmp_path):
    """Two students who hand in the very same file: one kernel grades it, each student gets the
    result as their own (row, gradebook entry, feedback page); a different file is graded."""
    from nbgrader.api import Gradebook

    from coursekit.grading.executor import LocalExecutor

    src, rel = source_notebook(A), release_notebook(A)
    same = submission_from(src, {"answer_conv_output_size": WRONG})
    cls = build_class(
        tmp_path / "class", A, {"dee": same, "eve": same, "fay": submission_from(rel)}
    )

    class Counting:  # the executor the pipeline hands its tasks to, counting them
        def __init__(self) -> None:
            self.inner, self.graded = LocalExecutor(2), []

        def run(self, tasks):
            self.graded += [t.job.student_id for t in tasks]
            yield from self.inner.run(tasks)

    counting = Counting()
    result = grade_class(cls, tmp_path / "work", executor=counting, report=False)
    assert sorted(counting.graded) in (["dee", "fay"], ["eve", "fay"]), counting.graded
    dee, eve = result.get("dee", A), result.get("eve", A)
    assert [(e.grade_id, e.score, e.status, e.message) for e in dee.exercises] == [
        (e.grade_id, e.score, e.status, e.message) for e in eve.exercises
    ]
    assert dee.score == eve.score < dee.max_score  # the named mistake costs both the same
    assert all(e.student_id == "eve" for e in eve.exercises)
    for s in (dee, eve):
        page = tmp_path / "work" / "out" / "feedback" / s.student_id / f"{A}.html"
        assert page.is_file() and s.student_id in page.read_text(encoding="utf-8")
    rows = (tmp_path / "work" / "out" / "grades.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == ["dee", "eve", "fay"]
    with Gradebook(f"sqlite:///{tmp_path / 'work' / 'nbgrader' / 'gradebook.db'}") as gb:
        scores = {s.student.id: s.score for s in gb.assignment_submissions(A)}
    assert scores["dee"] == scores["eve"] == dee.score


def test_a_student_cell_that_reads_a_skipped_cells_name_is_graded_with_every_cell():
    """Skipping show-only cells is checked against the instructor's cells; a cell the student
    adds may still read what one of them defines (here X, the data cell_data draws). Their own
    run had it, so the grader grades that submission again with every cell: no NameError, full
    marks; an honest submission is graded once, without the skipped cells."""
    import json

    import nbformat

    from coursekit.grading.assignment import Assignment
    from coursekit.grading.collect import Job
    from coursekit.grading.config import load_settings
    from coursekit.grading.grade import grade_job
    from coursekit.notebooks import course_root, nbgrader_meta

    a = "01_loss_surfaces"
    sub = submission_from(source_notebook(a))
    at = next(i for i, c in enumerate(sub.cells) if nbgrader_meta(c).get("grade_id") == "cell_data")
    assert "show-only" in sub.cells[at].metadata.get("tags", [])
    sub.cells.insert(at + 1, nbformat.v4.new_code_cell("print('my data:', X.shape)"))
    assignment = Assignment.load(a, course_root())
    limits = load_settings().limits_for(a)

    def grade(nb, student):
        return grade_job(Job(student, a, json.dumps(nb).encode(), student), assignment, limits)

    res = grade(sub, "curious")
    mine = next(c for c in res.cells if "my data:" in c.source)
    text = json.dumps(mine.outputs)
    assert "my data:" in text and "NameError" not in text, text
    assert res.score == res.max_score, [(e.grade_id, e.message) for e in res.exercises]
    honest = grade(submission_from(source_notebook(a)), "honest")
    assert honest.score == honest.max_score
    assert not any("cell_data" in c.source or "n_per_class" in c.source for c in honest.cells)
