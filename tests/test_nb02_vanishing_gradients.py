"""Notebook 02 (vanishing and exploding gradients): what is specific to it — the lecture's
numbers, the gradient-flow explorer (coursekit.gradflow) — and a small class graded end to end.
Its exercises' mistakes and alternatives are the validity table
(tests/validity/nb02_vanishing_gradients.py); the contract every notebook keeps is
tests/test_assignments.py.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradekit import graded_class, register_students
from validity import nb02_vanishing_gradients as table

from coursekit import gradflow
from coursekit.notebooks import (
    cells_by_grade_id,
    release_notebook,
    source_notebook,
    submission_from,
)

matplotlib.use("Agg")

A = "02_vanishing_gradients"
POINTS = {
    "product_norms": 2,
    "growth_rate": 1,
    "activation_grad": 3,
    "xavier_uniform_": 2,
    "he_normal_": 2,
    "layer_grad_norms": 3,
    "clip_grad_norm": 2,
}
TOTAL = sum(POINTS.values())

SOURCE = source_notebook(A)
CELLS = cells_by_grade_id(SOURCE)
SOLUTION = {f"answer_{n}": CELLS[f"answer_{n}"].source for n in POINTS}


def _case(test: str, what: str):
    return next(c for c in table.CASES if c.test == test and c.what == what)


def test_the_notebook_names_the_inits_as_glorot_and_bengio_do() -> None:
    """Glorot & Bengio call U(±1/√fan_in) the *standard* initialisation; "normalized" is theirs."""
    text = " ".join(c.source for c in SOURCE.cells)
    assert "'normalised' rule" not in text and '"normalised" uniform' not in text
    assert "**standard** uniform" in text and "optional aside" in text


def test_lecture_numbers() -> None:
    """The lecture's experiment: 100 factors of std 0.5 → about 1e-6; std 1 → about 1e22."""
    ns: dict = {"np": np}
    exec(SOLUTION["answer_product_norms"], ns)
    small = ns["product_norms"](4, 0.5, 100, 0)[-1]
    big = ns["product_norms"](4, 1.0, 100, 0)[-1]
    assert 1e-9 < small < 1e-3 and 1e18 < big < 1e28
    from scipy.special import digamma

    rate = math.log(0.5) + 0.5 * (math.log(2) + digamma(2))  # the issue's ≈ −0.13 per factor
    assert -0.14 < rate < -0.13


# --- the gradient-flow explorer ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def one_torch_thread():  # small matrices: one thread is faster on a shared machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")  # session: built once per worker even if xdist interleaves modules
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 784, generator=g), torch.randint(0, 10, (64,), generator=g)


def test_gradient_flow_matches_an_nn_linear_model(batch) -> None:
    x, y = batch
    for residual in (False, True):
        prof = gradflow.gradient_flow(
            x,
            y,
            depth=6,
            width=32,
            activation="tanh",
            init="Glorot uniform",
            residual=residual,
            seed=3,
        )
        weights = gradflow.mlp_weights(784, 32, 6, "Glorot uniform", seed=3)
        layers = [torch.nn.Linear(w.shape[1], w.shape[0], bias=False).double() for w in weights]
        for layer, w in zip(layers, weights):
            layer.weight.data.copy_(w)
        h, stds = x.double(), []
        for i, layer in enumerate(layers[:-1]):
            a = torch.tanh(layer(h))
            h = h + a if residual and i > 0 else a
            stds.append(float(h.detach().std()))
        F.cross_entropy(layers[-1](h), y).backward()
        norms = [float(layer.weight.grad.norm()) for layer in layers]
        np.testing.assert_allclose(prof.grad_norms, norms[:-1], rtol=1e-10)
        np.testing.assert_allclose(prof.out_grad_norm, norms[-1], rtol=1e-10)
        np.testing.assert_allclose(prof.act_std, stds, rtol=1e-10)


def test_weights_are_cached_and_deeper_networks_extend_shallower_ones() -> None:
    short = gradflow.mlp_weights(784, 32, 4, "He normal", seed=5)
    long = gradflow.mlp_weights(784, 32, 9, "He normal", seed=5)
    assert [w.shape for w in long] == [(32, 784)] + [(32, 32)] * 8 + [(10, 32)]
    for a, b in zip(short[:-1], long[:4]):
        assert a is b
    assert torch.equal(short[-1], long[-1])
    other = gradflow.mlp_weights(784, 32, 4, "He normal", seed=6)
    assert not torch.equal(other[1], short[1])


def test_inits_follow_the_lecture_formulas() -> None:
    (w,) = gradflow.init_weights([400, 200], "He normal")
    assert w.shape == (200, 400) and abs(float(w.std()) / math.sqrt(2 / 400) - 1) < 0.03
    (w,) = gradflow.init_weights([400, 200], "Glorot uniform")
    a = math.sqrt(6 / 600)
    assert float(w.abs().max()) <= a and float(w.abs().max()) > 0.99 * a
    (w,) = gradflow.init_weights([400, 200], "uniform ±1/√fan_in")
    assert 0.99 / 20 < float(w.abs().max()) <= 1 / 20


def test_profiles_tell_the_notebooks_story(batch) -> None:
    x, y = batch
    flow = lambda **kw: gradflow.gradient_flow(x, y, depth=50, width=128, **kw)  # noqa: E731
    ratio = lambda p: p.grad_norms[0] / p.grad_norms[-1]  # noqa: E731
    collapsing = flow(activation="sigmoid", init="uniform ±1/√fan_in")
    flat = flow(activation="relu", init="He normal")
    assert ratio(collapsing) < 1e-20
    assert 0.1 < ratio(flat) < 10 and 0.05 < flat.act_std[-1] < 5
    assert flow(activation="tanh", init="Glorot uniform").act_std[-1] > 1e-2
    assert flow(activation="tanh", init="uniform ±1/√fan_in").act_std[-1] < 1e-6
    assert ratio(flow(activation="sigmoid", init="uniform ±1/√fan_in", residual=True)) > 1e-2
    exploding = flow(activation="relu", init="N(0, 1)")  # ~1e45: float64 keeps it finite
    assert np.isfinite(exploding.grad_norms).all() and exploding.act_std[-1] > 1e30


def test_widget_live_controls_redraw(batch, monkeypatch) -> None:
    import coursekit.interactive as interactive

    monkeypatch.setattr(interactive, "is_headless", lambda: False)
    x, y = batch
    ex = gradflow.GradFlowExplorer(x, y, depth=12, width=32)
    w = ex.widget
    assert "coursekit-gradflow" in w._dom_classes
    assert len(ex.profile.grad_norms) == 12
    ex.controls["depth"].value = 20
    assert len(ex.profile.grad_norms) == 20 and ex.config["depth"] == 20
    before = ex.status.value
    ex.controls["activation"].value = "relu"
    ex.controls["init"].value = "He normal"
    ex.controls["residual"].value = True
    assert ex.config == dict(depth=20, width=32, activation="relu", init="He normal", residual=True)
    assert ex.profile.config["residual"] and ex.status.value != before
    ex.controls["width"].value = 64
    assert ex.profile.config["width"] == 64
    assert len(ex.panel.bars.get_paths()) == 20  # one bar per layer


def test_widget_headless_draws_static_pictures(batch, monkeypatch) -> None:
    import IPython.display
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setenv("COURSEKIT_HEADLESS", "1")
    monkeypatch.setattr(IPython.display, "display", lambda obj, *a, **k: shown.append(obj))
    x, y = batch
    ex = gradflow.explore(
        x, y, depth=10, width=32, static_configs=[{}, dict(activation="relu", init="He normal")]
    )
    assert len(shown) == 2 and all(isinstance(f, matplotlib.figure.Figure) for f in shown)
    assert ex._widget is None  # no widget was built
    assert not plt.get_fignums()  # figures were closed after display


# --- grading a small class end to end ---------------------------------------------------------

PARTIAL_CORRECT = ("product_norms", "growth_rate", "activation_grad")
WRONG_STUDENT = {  # one mistake of the validity table per exercise (all fail)
    "test_product_norms": "left product",
    "test_growth_rate": "log10",
    "test_activation_grad": "relu'(0) = 1",
    "test_xavier_uniform_": "a new tensor",
    "test_he_normal_": "fan_out",
    "test_layer_grad_norms": "the caller's weights",
    "test_clip_grad_norm": "in place",
}
PARTIAL_WRONG = {  # the partly correct student's other answers: other mistakes
    "test_xavier_uniform_": "torch.nn.init",
    "test_he_normal_": "no torch.no_grad",
    "test_layer_grad_norms": "summed loss",
    "test_clip_grad_norm": "a 0-d tensor norm",
}


def class_notebooks() -> dict:
    """This notebook's students in its graded class (beside the standard solution and blank)."""
    rel = release_notebook(A)
    partial = {f"answer_{n}": SOLUTION[f"answer_{n}"] for n in PARTIAL_CORRECT}
    for test, what in PARTIAL_WRONG.items():
        partial.update(_case(test, what).answers)
    wrong = {}
    for test, what in WRONG_STUDENT.items():
        wrong.update(_case(test, what).answers)
    return {"partial": submission_from(rel, partial), "wrong": submission_from(rel, wrong)}


register_students(A, class_notebooks)


@pytest.fixture
def graded(tmp_path_factory):
    return graded_class(A, tmp_path_factory)


@pytest.mark.slow
def test_graded_solution_grades_every_exercise_in_order(graded) -> None:
    s = graded.get("solution", A)
    assert s.score == s.max_score == TOTAL
    assert [e.grade_id for e in s.exercises] == [f"test_{n}" for n in POINTS]


@pytest.mark.slow
def test_graded_partial_gets_exactly_its_score(graded) -> None:
    s = graded.get("partial", A)
    assert s.score == sum(POINTS[n] for n in PARTIAL_CORRECT)
    for n in PARTIAL_CORRECT:
        assert s.exercise(f"test_{n}").status == "passed"
    for test, what in PARTIAL_WRONG.items():
        e = s.exercise(test)
        assert e.status == "failed" and e.score == 0, (test, e.status, e.message)
        assert all(w.lower() in e.message.lower() for w in _case(test, what).words), (
            test,
            e.message,
        )


@pytest.mark.slow
def test_graded_wrong_answers_fail_with_their_diagnosis(graded) -> None:
    s = graded.get("wrong", A)
    assert s.score == 0
    for test, what in WRONG_STUDENT.items():
        e = s.exercise(test)
        assert e.status == "failed", (test, e.status, e.message)
        assert all(w.lower() in e.message.lower() for w in _case(test, what).words), (
            test,
            e.message,
        )
