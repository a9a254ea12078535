"""Notebook 04, convolution by hand: what is specific to it — its text, its lecture examples, its
stepper, a graded class, the demo class. Its classic mistakes and correct alternatives are the
validity table (tests/validity/nb04_convolution_by_hand.py, run by tests/test_validity.py); the
students graded here are built from that table's cases.

    .venv/bin/python -m pytest tests/test_nb04_convolution.py -x            # all (~2-3 min)
    .venv/bin/python -m pytest tests/test_nb04_convolution.py -m "not slow"  # fast (~30 s)

The demo class of `make demo` (autograder/demo_class/) is generated from the same answers:

    .venv/bin/python tests/test_nb04_convolution.py --write-demo-class
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import validity.nb04_convolution_by_hand as validity
from gradekit import graded_class, register_students

from coursekit.checks import CheckFailed
from coursekit.grading.testcell import run_test_cell as run_one_test_cell
from coursekit.notebooks import (
    cells_by_grade_id,
    release_notebook,
    source_notebook,
    split_hidden,
    submission_from,
)

A = "04_convolution_by_hand"
ROOT = Path(__file__).resolve().parents[1]
EXERCISES = {  # function: points
    "cross_correlate2d": 2,
    "convolve2d": 1,
    "conv_output_size": 1,
    "conv2d_naive": 3,
    "conv2d_num_params": 1,
    "pool2d": 2,
    "conv2d_fast": 3,
}
TOTAL = sum(EXERCISES.values())

# --- answers: the validity table's (tests/validity/nb04_convolution_by_hand.py) -------------------
#
# Every classic mistake and correct alternative of this notebook is a case of the validity table,
# checked in process by tests/test_validity.py. Here: the students of this notebook's graded class
# (built from those cases) and of the demo class.

V = validity.CASES


def case(test: str, what: str):
    """The validity table's case `what` of exercise `test`."""
    for c in V:
        if c.test == f"test_{test}" and c.what == what:
            return c
    raise KeyError((test, what))


# the demo class' partly-correct student: 2 + 1 + 0 + 3 + 1 + 0 + 0 = 7 of 13
PARTIAL = {
    "conv_output_size": validity.SIZE_CEIL,
    "pool2d": validity.POOL_SWAPPED,
    "conv2d_fast": None,
}  # None: the stub
# the graded test's: right answers written differently (one prints to stderr), wrong ones, a stub
PARTIAL_MIXED = {
    "cross_correlate2d": validity.XCORR_FLOAT32,
    "conv_output_size": validity.SIZE_CEIL,
    "conv2d_naive": None,
    "conv2d_num_params": validity.PARAMS_WARNS,
    "pool2d": validity.POOL_SWAPPED,
    "conv2d_fast": validity.FAST_TENSOR_UNFOLD,
}
PARTIAL_MIXED_SCORE = {
    "cross_correlate2d": 2,
    "convolve2d": 1,
    "conv_output_size": 0,
    "conv2d_naive": 0,
    "conv2d_num_params": 1,
    "pool2d": 0,
    "conv2d_fast": 3,
}  # 7 of 13
# graded students made of table cases, one per exercise (the cases' answer cells never overlap):
# each exercise gets the case's verdict and message from the real grader
GRADED = {
    "wrong_a": [
        case("convolve2d", "rows only"),
        case("conv_output_size", "true division"),  # conv2d_naive: the solution's, for conv2d_fast
        case("conv2d_num_params", "biases missing"),
        case("pool2d", "windows move by 1"),
        case("conv2d_fast", "calls conv2d_naive"),
    ],
    "wrong_b": [
        case("cross_correlate2d", "scipy"),
        case("conv_output_size", "visible cases memorised"),
        case("conv2d_naive", "P zeros on one side"),
        case("conv2d_num_params", "a float"),
        case("pool2d", "negatives clipped, like a ReLU"),
        case("conv2d_fast", "a loop over output positions"),
    ],
    "wrong_c": [
        case(
            "convolve2d", "right, on a wrong cross_correlate2d"
        ),  # brings its own wrong Exercise 1
        case("conv_output_size", "stride ignored"),
        case("conv2d_naive", "windows move by 1"),
        case("pool2d", "loops over torch slices"),
        case("conv2d_fast", "float64 out for float32 in"),
    ],
    "right_d": [
        case("convolve2d", "its own loops, cross_correlate2d not written"),
        case("conv_output_size", "counts the window starts"),
        case("conv2d_naive", "pure Python, no padded copy"),
        case("conv2d_fast", "loops over the kernel offsets"),
    ],
}


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")  # session: built once per worker even if xdist interleaves modules
def src():
    return source_notebook(A)


@pytest.fixture(scope="session")  # session: built once per worker even if xdist interleaves modules
def rel():
    return release_notebook(A)


def _solution_answers(nb) -> dict[str, str]:
    return {fn: cells_by_grade_id(nb)[f"answer_{fn}"].source for fn in EXERCISES}


def _answers(src_nb, rel_nb, overrides: dict[str, str | None]) -> dict[str, str]:
    """{answer grade_id: source}: the solution, with `overrides` (None = the released stub)."""
    out = {}
    for fn in EXERCISES:
        gid = f"answer_{fn}"
        if fn in overrides:
            text = overrides[fn]
            out[gid] = cells_by_grade_id(rel_nb)[gid].source if text is None else text
        else:
            out[gid] = cells_by_grade_id(src_nb)[gid].source
    return out


def _setup_source(nb) -> str:
    setup = cells_by_grade_id(nb)["cell_setup"].source
    return "\n".join(line for line in setup.splitlines() if not line.lstrip().startswith("%"))


def run_test_cell(
    nb, fn: str, answers: dict[str, str], *, part: str = "all"
) -> tuple[BaseException | None, str]:
    """Run exercise `fn`'s test cell with the one test-cell runner: the student's cells run in one
    namespace (setup + answers), the test cell in a fresh one that holds only the student's
    functions. part: "all" (visible, then hidden in hidden mode) or "visible".
    Returns (the exception or None, what the visible part printed)."""
    student: dict = {"__name__": "__main__"}
    exec(compile(_setup_source(nb), "<setup>", "exec"), student)
    for gid, text in answers.items():
        exec(compile(text, f"<{gid}>", "exec"), student)
    namespace = {k: student[k] for k in EXERCISES if k in student}
    source = cells_by_grade_id(nb)[f"test_{fn}"].source
    run = run_one_test_cell(source, namespace, name=f"test_{fn}", hidden=part != "visible")
    return run.error, run.output


# --- structure ----------------------------------------------------------------------------------


def test_lectures_cited_and_disagreement_said(src):
    text = "\n".join(c.source for c in src.cells if c.cell_type == "markdown")
    for lecturer in ("Correia", "Kalogerakis", "Farkaš", "Pan", "Kira"):
        assert lecturer in text
    assert "PyTorch floors" in text and "ceiling" in text and "invalid" in text
    assert "760" in text and "3\\times26\\times26" in text and "3\\times13\\times13" in text


# --- test cells, in process ------------------------------------------------------------------


@pytest.mark.parametrize("fn", list(EXERCISES))
def test_solution_passes_visible_and_hidden(src, fn):
    exc, printed = run_test_cell(src, fn, _solution_answers(src))
    assert exc is None, f"{type(exc).__name__}: {exc}"
    assert ": ok" in printed  # the visible checks say how close (rel_error) or ok


def test_hidden_failures_reveal_nothing(src, rel):
    """The table's hidden-only mistakes: the visible checks pass, the hidden ones fail, and the
    message holds no value, shape or index."""
    hidden = [c for c in V if c.hidden]
    assert hidden
    for c in hidden:
        fn = c.test.removeprefix("test_")
        answers = _answers(src, rel, {g.removeprefix("answer_"): t for g, t in c.answers.items()})
        assert run_test_cell(src, fn, answers, part="visible")[0] is None, c.id
        exc, _ = run_test_cell(src, fn, answers, part="hidden")
        assert isinstance(exc, CheckFailed), c.id
        message = str(exc)
        assert (
            "Expected" not in message
            and "index" not in message
            and not re.search(r"\(\d+, \d+", message)
        ), message


def test_seed_examples_are_the_first_checks(src):
    """The lectures' worked examples (seeds README) are the first visible values."""
    cells = cells_by_grade_id(src)
    first = split_hidden(cells["test_cross_correlate2d"].source)[0]
    for value in (
        "[[36, 42], [60, 66]]",
        "[[12, 12, 17], [10, 17, 19], [9, 6, 14]]",
        "[[19, 25], [37, 43]]",
        "[[122, 148], [126, 134]]",
        "[[65]]",
    ):
        assert value in first
    assert (
        "[[-0.35, 1.35, 0.75], [-0.55, 0.85, 0.05], [0.75, 0.05, 1.15]]"
        in cells["test_conv2d_naive"].source
    )
    assert "[[6, 8], [14, 16]]" in cells["test_pool2d"].source
    assert "check(3, 10, 5, True, 760)     # Pan: 760" in cells["test_conv2d_num_params"].source


# --- the stepper ----------------------------------------------------------------------------


def test_stepper_static_picture_fills_the_output_in_order():
    from coursekit.stepper import ConvStepper

    s = ConvStepper()  # Kalogerakis's example
    assert (s.geometry.out_h, s.geometry.out_w) == (3, 3)
    fig = s.draw(4)
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert texts == ["12", "12", "17", "10", "17"]  # cells 0..4 filled, the rest still empty
    assert "output[1, 1] =" in fig._suptitle.get_text() and fig._suptitle.get_text().endswith(
        "= 17"
    )
    assert s.draw(99).axes[1].texts[-1].get_text() == "14"  # clipped to the last position


def test_stepper_geometry_floors_like_pytorch():
    import torch
    import torch.nn.functional as F

    from coursekit.stepper import ConvStepper

    x, k = np.arange(49.0).reshape(7, 7), np.ones((3, 3))
    for stride in (1, 2, 3):
        for padding in (0, 1, 2):
            g = ConvStepper(x, k, stride=stride, padding=padding).geometry
            ref = F.conv2d(
                torch.zeros(1, 1, 7, 7), torch.zeros(1, 1, 3, 3), stride=stride, padding=padding
            )
            assert (g.out_h, g.out_w) == tuple(ref.shape[2:])
    s = ConvStepper(x, k, stride=2, padding=1)
    fig = s.draw(5)
    values = [float(t.get_text()) for t in fig.axes[1].texts]
    ref = F.conv2d(
        torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None], stride=2, padding=1
    )
    assert values == ref.flatten()[:6].tolist()


def test_stepper_live_widget(monkeypatch):
    import coursekit.interactive
    import coursekit.stepper as stepper

    monkeypatch.setattr(stepper, "is_headless", lambda: False)
    monkeypatch.setattr(coursekit.interactive, "is_headless", lambda: False)
    s = stepper.ConvStepper()
    box = s.build_widget()
    assert "coursekit-stepper" in box._dom_classes
    c = s.controls
    assert (c["position"].max, c["stride"].value, c["padding"].value) == (8, 1, 0)
    c["stride"].value = 2
    assert c["position"].max == 3 and s.geometry.out_h == 2
    c["padding"].value = 1
    assert c["position"].max == 8
    c["position"].value = 8
    import torch
    import torch.nn.functional as F

    ref = F.conv2d(
        torch.from_numpy(s.x)[None, None],
        torch.from_numpy(s.kernel)[None, None],
        stride=2,
        padding=1,
    )
    assert s.position == 8 and s.fig.axes[1].texts[-1].get_text() == f"{ref[0, 0, 2, 2].item():.0f}"


def test_stepper_headless_shows_one_picture(monkeypatch):
    import coursekit.stepper as stepper

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    monkeypatch.setattr(stepper, "is_headless", lambda: True)
    assert stepper.show_conv_stepper() is None
    assert len(shown) == 1 and type(shown[0]).__name__ == "Figure"


# --- slow: the notebook top to bottom, and a class through the real grader ----------------------


def class_notebooks() -> dict:
    """This notebook's students in its graded class (beside the standard solution and blank)."""
    src, rel = source_notebook(A), release_notebook(A)
    students = {"partial": submission_from(rel, _answers(src, rel, PARTIAL_MIXED))}
    for student, cases in GRADED.items():
        answers = {}
        for c in cases:
            assert not set(c.answers) & set(answers), f"{student}: {c.id} overlaps another case"
            answers.update(c.answers)
        students[student] = submission_from(src, answers)
    return students


register_students(A, class_notebooks)


@pytest.fixture
def graded(tmp_path_factory):
    return graded_class(A, tmp_path_factory), None


def _ex(result, student, fn):
    return result.get(student, A).exercise(f"test_{fn}")


@pytest.mark.slow
def test_graded_partial_gets_exactly_its_score(graded):
    """Correct answers written differently (float32, Tensor.unfold, a print to stderr) keep their
    points, wrong ones and the stub get none."""
    result, _ = graded
    p = result.get("partial", A)
    got = {e.grade_id: e.score for e in p.exercises}
    assert got == {f"test_{k}": v for k, v in PARTIAL_MIXED_SCORE.items()}, [
        (e.grade_id, e.status, e.message) for e in p.exercises
    ]
    assert p.score == sum(PARTIAL_MIXED_SCORE.values()) == 7
    assert _ex(result, "partial", "conv2d_naive").status == "error"  # the stub: not implemented


GRADED_CASES = [(student, c) for student, cases in GRADED.items() for c in cases]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("student", "c"), GRADED_CASES, ids=[f"{s}-{c.id}" for s, c in GRADED_CASES]
)
def test_graded_cases_get_their_verdict_from_the_grader(graded, student, c):
    """The real grader agrees with the table on these cases: the line count of conv2d_fast, the
    float32 contract, convolve2d graded apart from cross_correlate2d, hidden-only mistakes."""
    result, _ = graded
    e = result.get(student, A).exercise(c.test)
    if c.passes:
        assert e.status == "passed" and e.score == e.max_score, (e.status, e.message)
        return
    assert e.score == 0 and e.status == "failed", (e.status, e.message)
    missing = [w for w in c.words if w.lower() not in e.message.lower()]
    assert not missing, e.message
    if c.hidden:
        assert e.message.startswith("a hidden test failed")
        assert "Expected" not in e.message and not re.search(r"\(\d+, \d+", e.message)


@pytest.mark.slow
def test_graded_scores_add_up_and_penalties_stay_where_they_belong(graded):
    result, _ = graded
    # wrong_b's convolve2d is right but calls its cross_correlate2d, which calls scipy: the trace
    # can't tell who called it, so it is refused too, with a message that says where to look
    e = _ex(result, "wrong_b", "convolve2d")
    assert e.score == 0 and "ready-made implementation" in e.message and "Exercise 1" in e.message
    # wrong_c's cross_correlate2d is wrong; its convolve2d (right, built on it) keeps its point
    assert "one row and column short" in _ex(result, "wrong_c", "cross_correlate2d").message.lower()
    assert _ex(result, "wrong_c", "convolve2d").score == 1
    # right_d: cross_correlate2d not written (0 of 2); its own-loops convolve2d needs none
    assert result.get("right_d", A).score == 13 - 2
    assert result.get("wrong_a", A).score == 2 + 3  # its cross_correlate2d and conv2d_naive
    assert result.get("wrong_c", A).score == 1 + 1 + 2  # convolve2d, conv2d_num_params, pool2d


# --- the bundled demo class (`make demo`) -------------------------------------------------------

DEMO = {  # student: (answers that differ from the solution; None = the released stub), README line
    "ada": ({}, "the full solution", "13 / 13"),
    "blank": (
        "blank",
        "the released student copy, untouched",
        "0 / 13 (every exercise: not implemented)",
    ),
    "partial": (
        PARTIAL,
        "exercises 1, 2, 4, 5 right; `conv_output_size` rounds up, `pool2d` swaps max and "
        "average, `conv2d_fast` left blank",
        "7 / 13 (2 + 1 + 0 + 3 + 1 + 0 + 0)",
    ),
    "loops": (
        {"conv_output_size": validity.SIZE_LOOPS},
        "`conv_output_size` loops forever when called (by its test only)",
        "12 / 13 (`test_conv_output_size`: timeout; the rest graded normally)",
    ),
    "crasher": (
        {"conv2d_naive": validity.NAIVE_CRASH},
        "`conv2d_naive` kills its own kernel (`os.kill(os.getpid(), 9)`) "
        "when called (by its test only: the timing cell is skipped while grading)",
        "4 / 13 (exercises 1-3 passed; `test_conv2d_naive`: error, the kernel died; the three "
        "later exercises: error, not graded after the crash)",
    ),
    "warns": (
        {"conv_output_size": validity.SIZE_WARNS},
        "a correct `conv_output_size` that warns and prints to stderr",
        "13 / 13 (warnings keep their points)",
    ),
}


def write_demo_class(folder: Path = ROOT / "autograder" / "demo_class") -> None:
    """Write the demo class from the committed notebooks (run after every release of nb04)."""
    src, rel = source_notebook(A), release_notebook(A)
    lines = [
        "# The demo class of `make demo`",
        "",
        f"Six students who handed in `{A}`, laid out `<student>/{A}/{A}.ipynb` as",
        "`coursekit autograde` expects. Generated from the released notebook by",
        "`.venv/bin/python tests/test_nb04_convolution.py --write-demo-class` (re-run it after",
        "changing the notebook). Expected scores:",
        "",
        "| student | what it is | expected score |",
        "|---|---|---|",
    ]
    for student, (overrides, what, score) in DEMO.items():
        nb = (
            submission_from(rel)
            if overrides == "blank"
            else submission_from(rel, _answers(src, rel, overrides))
        )
        path = folder / student / A / f"{A}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        lines.append(f"| `{student}` | {what} | {score} |")
    (folder / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(DEMO)} students under {folder}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-demo-class"]:
        write_demo_class()
    else:
        sys.exit("usage: python tests/test_nb04_convolution.py --write-demo-class")
