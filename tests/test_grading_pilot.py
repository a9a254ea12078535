"""The pilot, through the real nbgrader: a small class of notebook 04 graded once, end to end.

Solution = full marks; blank = 0 on every graded cell; a partly-correct copy gets exactly its
expected score; an endless loop is stopped and the rest of the class is still graded; an edited
locked test cell is graded with the original and flagged; feedback never shows hidden tests;
a correct answer that warns on stderr keeps its points; the gradebook holds the scores.
"""

from __future__ import annotations

import csv
import json

import pytest
from gradekit import build_class, cell, grade_class, hidden_only_lines, set_cell

from coursekit.notebooks import release_notebook, source_notebook, submission_from

A = "04_convolution_by_hand"
pytestmark = pytest.mark.slow

WRONG_SIZE = (
    "def conv_output_size(n, f, padding=0, stride=1):\n    return (n - f + 2 * padding) // stride\n"
)
LOOPS = "def conv_output_size(n, f, padding=0, stride=1):\n    while True:\n        pass\n"


def _answer(nb, gid):  # the solution's text of an answer cell
    return cell(nb, gid).source


@pytest.fixture(scope="session")  # session: built once per worker even if xdist interleaves modules
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("pilot")
    src, rel = source_notebook(A), release_notebook(A)
    tests = [c.metadata.nbgrader for c in src.cells if c.metadata.get("nbgrader", {}).get("grade")]
    points = {m["grade_id"]: m["points"] for m in tests}

    partial = submission_from(
        rel,
        {
            "answer_cross_correlate2d": _answer(src, "answer_cross_correlate2d"),
            "answer_convolve2d": _answer(src, "answer_convolve2d"),
            "answer_conv_output_size": WRONG_SIZE,
        },
    )
    warns = submission_from(src)
    set_cell(
        warns,
        "answer_conv_output_size",
        "import sys, warnings\n"
        + _answer(src, "answer_conv_output_size")
        + "\nprint('careful: integer division', file=sys.stderr)\nwarnings.warn('a warning a student left in')\n",
    )
    edited = submission_from(src, {"answer_conv_output_size": WRONG_SIZE})
    set_cell(edited, "test_conv_output_size", "print('all good')\n")
    students = {
        "solution": submission_from(src),
        "blank": submission_from(rel),
        "partial": partial,
        "loops": submission_from(src, {"answer_conv_output_size": LOOPS}),
        "warns": warns,
        "edited": edited,
    }
    cls = build_class(work / "class", A, students)
    result = grade_class(cls, work, overrides={"cell_timeout_s": 30})
    return result, points, work, src


def test_solution_gets_full_marks(graded):
    result, points, *_ = graded
    s = result.get("solution")
    assert s.score == s.max_score == sum(points.values())
    assert all(e.status == "passed" for e in s.exercises)


def test_blank_copy_scores_zero_everywhere(graded):
    result, points, *_ = graded
    s = result.get("blank")
    assert [e.grade_id for e in s.exercises] == list(points)
    assert all(e.score == 0 for e in s.exercises)
    assert all("not written yet" in e.message for e in s.exercises)


def test_partly_correct_gets_exactly_its_partial_score(graded):
    result, points, *_ = graded
    s = result.get("partial")
    assert s.score == points["test_cross_correlate2d"] + points["test_convolve2d"]
    wrong = s.exercise("test_conv_output_size")
    assert wrong.status == "failed" and "+ 1 is missing" in wrong.message


def test_endless_loop_is_stopped_and_only_that_exercise_is_lost(graded):
    result, points, *_ = graded
    s = result.get("loops")
    assert s.exercise("test_conv_output_size").status == "timeout"
    assert s.score == sum(points.values()) - points["test_conv_output_size"]


def test_warning_on_stderr_keeps_the_points(graded):
    result, *_ = graded
    assert result.get("warns").exercise("test_conv_output_size").status == "passed"


def test_edited_test_cell_is_graded_with_the_original_and_flagged(graded):
    result, *_ = graded
    e = result.get("edited").exercise("test_conv_output_size")
    assert e.status == "failed" and e.score == 0
    assert any("edited" in f for f in e.flags)
    assert not result.get("solution").exercise("test_conv_output_size").flags  # no false alarms


def test_outputs_csv_and_gradebook(graded):
    result, points, work, _ = graded
    out = work / "out"
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert {r["student_id"] for r in rows} == {
        "solution",
        "blank",
        "partial",
        "loops",
        "warns",
        "edited",
    }
    ex = list(csv.DictReader((out / "exercises.csv").open()))
    assert len(ex) == 6 * len(points)
    assert set(ex[0]) == {
        "student_id",
        "assignment",
        "grade_id",
        "score",
        "max_score",
        "status",
        "message",
        "flags",
    }
    assert {r["status"] for r in ex} <= {"passed", "failed", "error", "timeout", "missing"}
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{work / 'nbgrader' / 'gradebook.db'}") as gb:
        assert gb.find_submission(A, "solution").score == sum(points.values())
        assert gb.find_submission(A, "blank").score == 0
        assert gb.find_submission(A, "partial").score == result.get("partial").score


def test_feedback_has_scores_and_no_hidden_tests(graded):
    result, points, work, src = graded
    hidden_lines = hidden_only_lines(src)
    assert hidden_lines
    for s in result.submissions:
        html = (work / "out" / "feedback" / s.student_id / f"{A}.html").read_text()
        leaked = [ln for ln in hidden_lines if ln in html]
        assert not leaked, f"hidden test text in {s.student_id}'s feedback: {leaked[:2]}"
        assert "BEGIN HIDDEN" not in html
        assert f"{s.score:g} / {s.max_score:g}" in html


def test_rerun_is_idempotent_and_resumes(graded):
    result, _, work, _ = graded
    again = grade_class(work / "class", work, overrides={"cell_timeout_s": 30})
    assert [
        (s.student_id, s.score, [e.status for e in s.exercises]) for s in again.submissions
    ] == [(s.student_id, s.score, [e.status for e in s.exercises]) for s in result.submissions]
    cached = json.loads((work / "out" / ".results" / f"solution__{A}.json").read_text())
    assert cached["result"]["digest"] == result.get("solution").digest


def test_an_interrupted_run_resumes_without_regrading_what_is_done(graded):
    result, _, work, _ = graded
    cache = work / "out" / ".results"
    done = {p: p.stat().st_mtime_ns for p in cache.glob("*.json")}
    lost = cache / f"blank__{A}.json"  # as if the run had stopped before this one finished
    lost.unlink()
    again = grade_class(work / "class", work, overrides={"cell_timeout_s": 30})
    assert lost.is_file(), "the missing submission was graded again"
    for path, mtime in done.items():
        if path != lost:
            assert path.stat().st_mtime_ns == mtime, f"{path.name} was graded again"
    assert (
        again.get("blank").score == 0
        and again.get("solution").score == result.get("solution").score
    )
