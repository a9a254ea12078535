"""Notebook 03 (optimizer races): the race widget, the notebook, and a small class graded once.

Fast tests drive coursekit.race directly (headless and as a live widget without a browser).
Slow tests grade one class end to end, once (the notebook runs in the grader's sandbox): the
solution gets full marks, a blank copy 0 everywhere, a partly correct copy exactly its score, and
two copies made of the validity table's slips (tests/validity/nb03_optimizer_races.py: ε inside
the square root, the learning rate inside the velocity, Nesterov without its look-ahead, a
torch.optim wrapper...) fail each exercise with a message that names the slip.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gradekit import graded_class, register_students
from validity import nb03_optimizer_races as table

from coursekit import race as R
from coursekit.checks import CheckFailed
from coursekit.notebooks import (
    cells_by_grade_id,
    nbgrader_meta,
    release_notebook,
    source_notebook,
    submission_from,
)

A = "03_optimizer_races"

EXERCISES = {  # grade_id: points
    "test_SGD": 1,
    "test_Momentum": 2,
    "test_Nesterov": 2,
    "test_AdaGrad": 2,
    "test_RMSProp": 2,
    "test_Adam": 2,
    "test_AdamW": 1,
    "test_optimal_momentum_params": 1,
    "test_lr_at": 2,
}


# --- a correct optimizer written the student's way, for the race ---------------------------------


class MyMomentum:
    def __init__(self, lr, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        self.v = g.copy() if self.v is None else self.momentum * self.v + g
        return w - lr * self.v


class Broken:
    def __init__(self, lr):
        raise NotImplementedError()


class ReturnsNone:
    def __init__(self, lr):
        self.lr = lr

    def step(self, w, g, lr=None):
        w -= self.lr * g  # in place, returns None


# --- coursekit.race: plumbing -----------------------------------------------------------------


def test_torch_stepper_follows_torch_optim():
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(3)
    p = torch.tensor(w0, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.1, betas=(0.8, 0.9))
    s = R.TorchStepper("Adam", lr=0.1, betas=(0.8, 0.9))
    w = w0.copy()
    for _ in range(20):
        g = 2 * w - 1.0
        w = s.step(w, g)
        p.grad = 2 * p.detach() - 1.0
        opt.step()
    np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-14)


def test_paths_and_first_divergence(capsys):
    grad = lambda w: 2 * w  # noqa: E731
    ref = R.torch_path("SGD", grad, [1.0, -2.0], 10, lr=0.1, momentum=0.9)
    mine = R.student_path(MyMomentum(lr=0.1, momentum=0.9), grad, [1.0, -2.0], 10)
    assert ref.shape == mine.shape == (11, 2)
    assert R.first_divergence(mine, ref) is None
    assert R.report_divergence("MyMomentum", mine, ref) is True
    assert "✓ MyMomentum: same path" in capsys.readouterr().out
    off = mine.copy()
    off[4:] += 1e-6
    assert R.first_divergence(off, ref)[0] == 4
    assert (
        R.report_divergence("x", off, ref, against="torch.optim.SGD", suspects="the usual") is False
    )
    text = capsys.readouterr().out
    assert "leaves torch.optim.SGD's at step 4" in text and "Usual suspects: the usual" in text
    # a schedule reaches the optimizer as step(w, g, lr)
    lrs = np.linspace(0.1, 0.01, 10)
    np.testing.assert_allclose(
        R.student_path(MyMomentum(lr=0.1), grad, [1.0, 1.0], 10, lrs),
        R.torch_path("SGD", grad, [1.0, 1.0], 10, lrs, lr=0.1, momentum=0.9),
        rtol=1e-13,
    )


def test_student_path_says_what_is_wrong_with_step():
    with pytest.raises(CheckFailed, match="returned None"):
        R.student_path(ReturnsNone(0.1), lambda w: w, [1.0, 1.0], 3, name="SGD")


def test_student_optimizer_trains_like_torch():
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randn(32, 1)

    def run(make):
        torch.manual_seed(1)
        model = torch.nn.Linear(4, 1)
        opt = make(model.parameters())
        for _ in range(5):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return model.weight.detach().clone()

    ours = run(lambda p: R.StudentOptimizer(p, lambda: MyMomentum(lr=0.1, momentum=0.9)))
    theirs = run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


# --- the race, headless ---------------------------------------------------------------------


def test_headless_race_runs_to_the_end_and_ranks():
    r = R.Race("bowl")
    r.run()
    res = {row["name"]: row for row in r.results()}
    assert set(res) == set(R.REFERENCE)
    assert r.finished and r.t == r.max_steps
    # on the bowl at lr 0.3 every optimizer gets there; momentum beats plain SGD
    assert res["Momentum"]["reached"] is not None
    assert res["SGD"]["reached"] is None or res["Momentum"]["reached"] < res["SGD"]["reached"]
    board = r.leaderboard()
    assert [n for n, _ in board][0] != "SGD" and all(isinstance(v, str) for _, v in board)
    assert "Race on ill-conditioned bowl" in repr(r)


def test_divergence_and_broken_student_classes_do_not_stop_the_race():
    r = R.Race(
        "bowl",
        lr=5.0,
        optimizers=["SGD", "Adam"],
        mine={"mine": MyMomentum, "broken": Broken, "none": ReturnsNone},
        steps=50,
    )
    r.run()
    res = {row["name"]: row for row in r.results()}
    assert res["SGD"]["diverged"] is not None  # lr 5 > 2 / 4 on the steep axis
    assert res["mine"]["diverged"] is not None
    assert "NotImplementedError" in res["broken"]["error"]
    assert res["none"]["error"]  # step returned None: reported, not raised
    rows = dict(r.leaderboard())
    assert rows["SGD"].startswith("diverged at step") and rows["broken"].startswith("error")


def test_student_class_in_the_race_follows_the_reference():
    r = R.Race(
        "rosenbrock",
        optimizers=["Momentum"],
        mine={"my Momentum": MyMomentum},
        lr=1e-3,
        beta=0.9,
        steps=80,
    )
    r.run()
    ref, mine = (next(x for x in r.racers if x.name == n) for n in ("Momentum", "my Momentum"))
    np.testing.assert_allclose(np.array(mine.path), np.array(ref.path), rtol=1e-12, atol=1e-12)


def test_noise_is_the_same_for_every_racer_and_reproducible():
    a = R.Race("bowl", noise=1.0, optimizers=["SGD", "Adam"], steps=40, seed=3).run()
    b = R.Race("bowl", noise=1.0, optimizers=["SGD", "Adam"], steps=40, seed=3).run()
    assert [x["loss"] for x in a.results()] == [x["loss"] for x in b.results()]
    c = R.Race("bowl", noise=0.0, optimizers=["SGD"], steps=40).run()
    assert a.results()[0]["loss"] != c.results()[0]["loss"]


def test_race_headless_shows_one_static_frame(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, *a, **k: shown.append(obj))
    r = R.race("saddle", steps=60)
    assert len(shown) == 1 and shown[0] is r.fig and r.widget is None
    assert r.t == 60 and r.fig.canvas.__class__.__name__ == "FigureCanvasAgg"


def test_every_surface_races_without_errors():
    from coursekit.surfaces import SURFACES

    for name in SURFACES:
        r = R.Race(name, steps=20).run()
        assert all(not row["error"] for row in r.results()), name


# --- the race, live (ipympl canvas and widgets, no browser) ---------------------------------


@pytest.fixture
def live_race(monkeypatch):
    import coursekit.interactive as I

    monkeypatch.setattr(I, "is_headless", lambda: False)
    r = R.RaceWidget(R.Race("bowl", mine={"my Momentum": MyMomentum}, steps=40), live=True)
    w = r.build()
    r.fig.canvas.syncing_data_url = False  # as when a front end is connected
    r.fig.canvas.draw()  # the front end's first draw request: caches the background
    return r, w


def test_widget_has_stable_classes_and_controls(live_race):
    r, w = live_race
    assert "coursekit-race" in w._dom_classes
    assert "coursekit-race-play" in r.play._dom_classes and r.play.description == "play"
    assert (
        "coursekit-race-lr" in r.lr_slider._dom_classes
        and r.lr_slider.description == "learning rate"
    )
    assert "coursekit-race-leaderboard" in r.board._dom_classes
    assert set(r.checks) == {*R.REFERENCE, "my Momentum"}
    assert r.view.__class__.__name__ == "Canvas"  # ipympl


def test_widget_frames_play_step_reset_and_sliders(live_race):
    r, _ = live_race
    sent = []
    r.fig.canvas.send_binary = lambda data: sent.append(len(data))  # what reaches the browser
    r.step_button.click()
    assert r.t == r.race.steps_per_frame and sent, "a frame blits one image"
    r.play.value = 3  # the Play widget ticks
    assert r.t == 2 * r.race.steps_per_frame
    for v in range(4, 40):
        r.play.value = v
    assert r.finished and not r.play.playing
    assert "step 40/40" in r.board.value and "Momentum" in r.board.value
    r.reset_button.click()
    assert r.t == 0 and r.play.value == 0
    r.lr_slider.value = 1.0  # too large for SGD on the bowl: restart with the new lr
    assert r.race.lr == 1.0 and r.t == 0
    for _ in range(10):
        r.frame()
    assert "diverged" in r.board.value
    r.checks["Adam"].value = False
    assert "Adam" not in r.race.active and "Adam</b>" not in r.board.value


def test_widget_click_moves_the_start(live_race):
    r, _ = live_race

    class Click:
        inaxes = r.plot.ax
        xdata, ydata = 2.0, 1.0

    r._on_click(Click())
    assert r.race.start == (2.0, 1.0) and r.t == 0
    assert all(np.allclose(x.path[0], [2.0, 1.0]) for x in r.race.racers)


def test_widget_surface_switch(live_race):
    r, _ = live_race
    r.surface_pick.value = "rosenbrock"
    race = r.race
    assert race.surface.name == "rosenbrock" and race.lr == R._defaults("rosenbrock")["lr"]
    assert r.lr_slider.value == pytest.approx(race.lr, rel=0.2)
    r.fig.canvas.draw()
    r.frame()
    assert r.t == race.steps_per_frame


# --- the notebook -------------------------------------------------------------------------------


def test_optimizer_tests_trace_and_compare_with_torch():
    cells = cells_by_grade_id(source_notebook(A))
    graded = {
        g: nbgrader_meta(c)["points"] for g, c in cells.items() if nbgrader_meta(c).get("grade")
    }
    assert graded == EXERCISES
    for g in graded:
        src = cells[g].source
        if g not in ("test_optimal_momentum_params", "test_lr_at"):
            assert "forbid_ops" in src and "torch_path" in src and "### BEGIN HIDDEN TESTS" in src


# --- slow: the whole notebook, and a class graded end to end -------------------------------------


# Two students made of the validity table's mistakes, one per exercise (test: the case's "what").
# In wrong_one, Adam is wrong and AdamW (built on it) is wrong on its own part too; in wrong_two,
# only Adam's defaults are wrong, so AdamW is compared with torch's visibly.
WRONG_ONE = {
    "test_SGD": "weight decay sign",
    "test_Momentum": "lr inside the velocity (Pan)",
    "test_Nesterov": "no look-ahead",
    "test_AdaGrad": "eps inside the root",
    "test_RMSProp": "centered ignored",
    "test_Adam": "eps inside the root",
    "test_AdamW": "coupled, on an Adam that is wrong too",
    "test_optimal_momentum_params": "swapped",
    "test_lr_at": "exponential off by one",
}
WRONG_TWO = {
    "test_SGD": "torch.optim inside",
    "test_Momentum": "dampening at the first step",
    "test_Nesterov": "dampened",
    "test_AdaGrad": "no square root",
    "test_RMSProp": "eps inside the root",
    "test_Adam": "another default beta2",
    "test_AdamW": "decay after the step",
    "test_optimal_momentum_params": "momentum not squared",
    "test_lr_at": "no ValueError",
}
PARTIAL = ("answer_SGD", "answer_Momentum", "answer_Adam", "answer_optimal_momentum_params")


def _case(test: str, what: str):
    return next(c for c in table.CASES if c.test == test and c.what == what)


def _answers(wrong: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for test, what in wrong.items():
        for gid, src in _case(test, what).answers.items():
            assert out.setdefault(gid, src) == src, (test, gid)  # the cases agree on shared cells
    return out


def _solution_answers() -> dict[str, str]:
    return {
        g: c.source
        for g, c in cells_by_grade_id(source_notebook(A)).items()
        if g.startswith("answer_")
    }


def class_notebooks() -> dict:
    """This notebook's students in its graded class (beside the standard solution and blank)."""
    rel = release_notebook(A)
    sol = _solution_answers()
    return {
        "partial": submission_from(rel, {g: sol[g] for g in PARTIAL}),
        "wrong_one": submission_from(rel, _answers(WRONG_ONE)),
        "wrong_two": submission_from(rel, _answers(WRONG_TWO)),
    }


register_students(A, class_notebooks)


@pytest.fixture
def graded(tmp_path_factory):
    return graded_class(A, tmp_path_factory)


@pytest.mark.slow
def test_grading_solution_notebook_ran_without_errors(graded):
    s = graded.get("solution", A)
    assert not s.error and not s.flags, (s.error, s.flags)
    errors = [c for c in s.cells if any(o.get("output_type") == "error" for o in c.outputs)]
    assert not errors, errors[:1]
    text = "".join(o.get("text", "") for c in s.cells for o in c.outputs)
    assert "✔ passed" in text and "Traceback" not in text


@pytest.mark.slow
def test_grading_partial_gets_exactly_its_score(graded):
    s = graded.get("partial", A)
    want = sum(EXERCISES["test_" + g.removeprefix("answer_")] for g in PARTIAL)
    assert s.score == want, [(e.grade_id, e.score, e.message) for e in s.exercises]
    for e in s.exercises:
        if "answer_" + e.grade_id.removeprefix("test_") not in PARTIAL:
            assert e.score == 0 and "not written yet" in e.message


@pytest.mark.slow
@pytest.mark.parametrize("student, wrong", [("wrong_one", WRONG_ONE), ("wrong_two", WRONG_TWO)])
def test_grading_each_slip_fails_with_a_message_that_names_it(graded, student, wrong):
    s = graded.get(student, A)
    assert s.score == 0, [(e.grade_id, e.score, e.message) for e in s.exercises]
    problems = []
    for e in s.exercises:
        words = _case(e.grade_id, wrong[e.grade_id]).words
        if e.status != "failed" or not all(w.lower() in e.message.lower() for w in words):
            problems.append(
                f"{e.grade_id}: [{e.status}] {e.message!r}; expected to mention {words}"
            )
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_grading_hidden_messages_reveal_no_values(graded):
    for student in ("wrong_one", "wrong_two"):
        for e in graded.get(student, A).exercises:
            if e.message.startswith("a hidden test failed"):
                assert "rel_error" not in e.message and "index" not in e.message, e.message


@pytest.mark.slow
def test_grading_keeps_the_visible_print_out(graded):
    """The feedback shows what the visible checks printed (✓ lines), not the hidden ones."""
    out = graded.get("solution", A).exercise("test_Adam").output
    assert "✓ Adam(lr=0.05): same path as torch.optim.Adam" in out
    assert "a hidden test" not in out


@pytest.mark.slow
def test_visible_checks_report_the_first_divergent_step(graded):
    """What the student sees: where the path leaves torch's, by how much, and what to check —
    printed before the check that names the mistake."""
    s = graded.get("wrong_two", A)
    out = s.exercise("test_Adam").output  # betas=(0.9, 0.99) by default: the first step agrees
    assert "✗ Adam(lr=0.05): your path leaves torch.optim.Adam's at step 2" in out, out
    assert "max |Δw| =" in out and "your step 2 has length" in out
    assert "Usual suspects: eps goes outside the square root" in out
    assert "✗ AdaGrad(lr=0.3)" in s.exercise("test_AdaGrad").output
