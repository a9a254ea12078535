"""Notebook 03 (optimizer races): the race widget, the notebook, and a small class graded once.

Fast tests drive coursekit.race directly (headless and as a live widget without a browser).
Slow tests grade one class end to end, once (the notebook runs in the grader's sandbox): the solution gets
full marks, a blank copy 0 everywhere, a partly correct copy exactly its score, and two copies
full of known slips (ε inside the square root, no bias correction, the learning rate inside the
momentum buffer, Nesterov without its look-ahead, a torch.optim wrapper...) fail each exercise
with a message that names the slip.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gradekit import graded_class, register_students

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


WRONG_ONE = {
    "answer_SGD": """
class SGD:
    def __init__(self, lr, weight_decay=0.0):
        self.lr, self.weight_decay = lr, weight_decay
    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        return w - lr * (g - self.weight_decay * w)
""",
    "answer_Momentum": """
class Momentum:
    def __init__(self, lr, momentum=0.9, dampening=0.0, weight_decay=0.0):
        self.lr, self.mu, self.d, self.wd, self.v = lr, momentum, dampening, weight_decay, None
    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        self.v = lr * g if self.v is None else self.mu * self.v + (1 - self.d) * lr * g
        return w - self.v
""",
    "answer_Nesterov": """
class Nesterov:
    def __init__(self, lr, momentum=0.9, weight_decay=0.0):
        self.lr, self.mu, self.wd, self.v = lr, momentum, weight_decay, None
    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        self.v = g.copy() if self.v is None else self.mu * self.v + g
        return w - lr * self.v
""",
    "answer_AdaGrad": """
class AdaGrad:
    def __init__(self, lr=0.01, eps=1e-10, weight_decay=0.0, initial_accumulator_value=0.0):
        self.lr, self.eps, self.wd, self.r0, self.r = lr, eps, weight_decay, initial_accumulator_value, None
    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        self.r = (np.full_like(w, self.r0) if self.r is None else self.r) + g * g
        return w - lr * g / np.sqrt(self.r + self.eps)
""",
    "answer_RMSProp": """
class RMSProp:
    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, centered=False):
        self.lr, self.a, self.eps, self.wd, self.r = lr, alpha, eps, weight_decay, None
    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        self.r = (1 - self.a) * g * g if self.r is None else self.a * self.r + (1 - self.a) * g * g
        return w - lr * g / (np.sqrt(self.r) + self.eps)
""",
    "answer_Adam": """
class Adam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.lr, self.betas, self.eps, self.wd = lr, betas, eps, weight_decay
        self.m = self.v = None
        self.t = 0
    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        b1, b2 = self.betas
        g = g + self.wd * w
        if self.m is None:
            self.m, self.v = np.zeros_like(w), np.zeros_like(w)
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        return w - lr * (self.m / (1 - b1 ** self.t)) / np.sqrt(self.v / (1 - b2 ** self.t) + self.eps)
""",
    "answer_AdamW": """
class AdamW:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        self.inner = _RightAdam(lr, betas, eps, weight_decay)
    def step(self, w, g, lr=None):
        return self.inner.step(w, g, lr)
""",
    "answer_optimal_momentum_params": """
def optimal_momentum_params(lam_min, lam_max):
    a, b = np.sqrt(lam_min), np.sqrt(lam_max)
    return ((b - a) / (b + a)) ** 2, (2 / (a + b)) ** 2
""",
    "answer_lr_at": """
def lr_at(schedule, t, **p):
    if schedule == "step":
        return p["lr0"] * p.get("gamma", 0.1) ** (t // p["step_size"])
    if schedule == "exponential":
        return p["lr0"] * p["gamma"] ** (t + 1)
    if schedule == "cosine":
        e = p.get("eta_min", 0.0)
        return e + (p["lr0"] - e) * (1 + np.cos(np.pi * t / p["T_max"])) / 2
    if schedule == "anneal":
        return p["alpha"] / (p["eps"] + t)
    s = p["step_size_up"]
    c = np.floor(1 + t / (2 * s))
    return p["base_lr"] + (p["max_lr"] - p["base_lr"]) * max(0.0, 1 - abs(t / s - 2 * c + 1))
""",
}

WRONG_TWO = {
    "answer_SGD": """
import torch
class SGD:
    def __init__(self, lr, weight_decay=0.0):
        self.lr, self.wd, self.opt = lr, weight_decay, None
    def step(self, w, g, lr=None):
        p = torch.tensor(w, requires_grad=True)
        opt = torch.optim.SGD([p], lr=self.lr if lr is None else lr, weight_decay=self.wd)
        p.grad = torch.tensor(g)
        opt.step()
        return p.detach().numpy()
""",
    "answer_Momentum": """
class Momentum:
    def __init__(self, lr, momentum=0.9, dampening=0.0, weight_decay=0.0):
        self.lr, self.mu, self.d, self.wd, self.v = lr, momentum, dampening, weight_decay, None
    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        self.v = (0 if self.v is None else self.mu * self.v) + (1 - self.d) * g
        return w - lr * self.v
""",
    "answer_Nesterov": """
class Nesterov:
    def __init__(self, lr, momentum=0.9, weight_decay=0.0):
        self.lr, self.mu, self.wd, self.v = lr, momentum, weight_decay, None
    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        self.v = g.copy() if self.v is None else self.mu * self.v + (1 - self.mu) * g
        return w - lr * (g + self.mu * self.v)
""",
    "answer_AdaGrad": """
class AdaGrad:
    def __init__(self, lr=0.01, eps=1e-10, weight_decay=0.0, initial_accumulator_value=0.0):
        self.lr, self.eps, self.wd, self.r0, self.r = lr, eps, weight_decay, initial_accumulator_value, None
    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        self.r = (np.full_like(w, self.r0) if self.r is None else self.r) + g * g
        return w - lr * g / (self.r + self.eps)
""",
    "answer_RMSProp": """
class RMSProp:
    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, centered=False):
        self.lr, self.a, self.eps, self.wd, self.c = lr, alpha, eps, weight_decay, centered
        self.r = self.m = 0.0
    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        self.r = self.a * self.r + (1 - self.a) * g * g
        var = self.r
        if self.c:
            self.m = self.a * self.m + (1 - self.a) * g
            var = self.r - self.m * self.m
        return w - lr * g / np.sqrt(var + self.eps)
""",
    "answer_Adam": """
class Adam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.lr, self.betas, self.eps, self.wd = lr, betas, eps, weight_decay
        self.m = self.v = 0.0
    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        b1, b2 = self.betas
        g = g + self.wd * w
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        return w - lr * self.m / (np.sqrt(self.v) + self.eps)
""",
    "answer_AdamW": None,  # filled below: the solution's Adam-based AdamW, decaying after the step
    "answer_optimal_momentum_params": """
def optimal_momentum_params(lam_min, lam_max):
    a, b = np.sqrt(lam_min), np.sqrt(lam_max)
    return (2 / (a + b)) ** 2, (b - a) / (b + a)
""",
    "answer_lr_at": None,  # filled below: the solution, but an unknown schedule returns 0.0
}

ADAMW_DECAY_AFTER = """
class AdamW:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        self.lr, self.betas, self.eps, self.wd = lr, betas, eps, weight_decay
        self.m = self.v = None
        self.t = 0
    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        b1, b2 = self.betas
        if self.m is None:
            self.m, self.v = np.zeros_like(w), np.zeros_like(w)
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        new = w - lr * (self.m / (1 - b1 ** self.t)) / (np.sqrt(self.v / (1 - b2 ** self.t)) + self.eps)
        return new * (1 - lr * self.wd)
"""

# what each slip's message must say (substrings of the exercise's message)
NAMED_ONE = {
    "test_SGD": "weight decay with the wrong sign",
    "test_Momentum": "learning rate is inside the momentum buffer",
    "test_Nesterov": "look-ahead is missing",
    "test_AdaGrad": "eps inside the square root",
    "test_RMSProp": "centered=True ignored",
    "test_Adam": "eps inside the square root",
    "test_AdamW": "weight decay added to the gradient",
    "test_optimal_momentum_params": "lr and momentum swapped",
    "test_lr_at": 'lr_at("exponential")',
}
NAMED_TWO = {
    "test_SGD": "ready-made implementation",
    "test_Momentum": "dampening applied at the first step",
    "test_Nesterov": "dampened by (1 - momentum)",
    "test_AdaGrad": "no square root",
    "test_RMSProp": "eps inside the square root",
    "test_Adam": "missing bias correction",
    "test_AdamW": "after the Adam step",
    "test_optimal_momentum_params": "momentum not squared",
    "test_lr_at": "should raise ValueError",
}
PARTIAL = ("answer_SGD", "answer_Momentum", "answer_Adam", "answer_optimal_momentum_params")


def _solution_answers() -> dict[str, str]:
    return {
        g: c.source
        for g, c in cells_by_grade_id(source_notebook(A)).items()
        if g.startswith("answer_")
    }


def _wrong_two() -> dict[str, str]:
    sol = _solution_answers()
    out = dict(WRONG_TWO)
    out["answer_AdamW"] = ADAMW_DECAY_AFTER
    out["answer_lr_at"] = sol["answer_lr_at"].replace(
        'raise ValueError(f"unknown schedule {schedule!r}")', "return 0.0"
    )
    assert out["answer_lr_at"] != sol["answer_lr_at"]
    return out


def _wrong_one() -> dict[str, str]:
    out = dict(WRONG_ONE)
    right_adam = _solution_answers()["answer_Adam"].replace("class Adam:", "class _RightAdam:")
    out["answer_AdamW"] = right_adam + "\n" + WRONG_ONE["answer_AdamW"]
    return out


def class_notebooks() -> dict:
    """This notebook's students in its graded class (beside the standard solution and blank)."""
    rel = release_notebook(A)
    sol = _solution_answers()
    return {
        "partial": submission_from(rel, {g: sol[g] for g in PARTIAL}),
        "wrong_one": submission_from(rel, _wrong_one()),
        "wrong_two": submission_from(rel, _wrong_two()),
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
    assert "not drawn while grading" in text and "MNIST race is skipped while grading" in text


@pytest.mark.slow
def test_grading_partial_gets_exactly_its_score(graded):
    s = graded.get("partial", A)
    want = sum(EXERCISES["test_" + g.removeprefix("answer_")] for g in PARTIAL)
    assert s.score == want, [(e.grade_id, e.score, e.message) for e in s.exercises]
    for e in s.exercises:
        if "answer_" + e.grade_id.removeprefix("test_") not in PARTIAL:
            assert e.score == 0 and "not written yet" in e.message


@pytest.mark.slow
@pytest.mark.parametrize("student, named", [("wrong_one", NAMED_ONE), ("wrong_two", NAMED_TWO)])
def test_grading_each_slip_fails_with_a_message_that_names_it(graded, student, named):
    s = graded.get(student, A)
    assert s.score == 0, [(e.grade_id, e.score, e.message) for e in s.exercises]
    problems = []
    for e in s.exercises:
        if named[e.grade_id] not in e.message or e.status != "failed":
            problems.append(
                f"{e.grade_id}: [{e.status}] {e.message!r}; expected to mention {named[e.grade_id]!r}"
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
    assert "✓ Adam(lr=0.05, betas=(0.9, 0.999)): same path as torch.optim.Adam" in out
    assert "a hidden test" not in out


@pytest.mark.slow
def test_visible_checks_report_the_first_divergent_step(graded):
    """What the student sees: where the path leaves torch's, by how much, and what to check."""
    s = graded.get("wrong_two", A)
    out = s.exercise("test_Adam").output
    assert (
        "✗ Adam(lr=0.05, betas=(0.9, 0.999)): your path leaves torch.optim.Adam's at step 1" in out
    )
    assert "max |Δw| =" in out and "your step 1 has length" in out
    assert "Usual suspects: eps goes outside the square root" in out
    assert "✗ AdaGrad(lr=0.3)" in s.exercise("test_AdaGrad").output
