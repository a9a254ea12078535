"""Notebook 02 (vanishing and exploding gradients): its exercises' test cells, the gradient-flow
explorer (coursekit.gradflow), and grading it end to end.

Fast tests run the notebook's test cells in-process against the solution, the blank stubs and
known wrong answers (the verdicts a student sees). The slow test grades a small class (solution,
blank, partly correct, wrong) once with coursekit's grader, in the sandbox.
"""

from __future__ import annotations

import contextlib
import io
import math

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradekit import graded_class, register_students, run_test_cell_here

from coursekit import gradflow
from coursekit.checks import CheckFailed
from coursekit.notebooks import (
    cells_by_grade_id,
    release_notebook,
    source_notebook,
    split_hidden,
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
BLANK = {
    gid: c.source for gid, c in cells_by_grade_id(release_notebook(A)).items() if gid in SOLUTION
}


def _variant(name: str, old: str, new: str) -> str:
    """The solution of `name` with `old` replaced by `new` (old must occur)."""
    src = SOLUTION[f"answer_{name}"]
    assert old in src, (name, old)
    return src.replace(old, new)


# Wrong answers a student may write: (exercise, source, a phrase the verdict must contain).
WRONG = {
    "product_norms left product": (
        "product_norms",
        _variant(
            "product_norms",
            "M = M @ rng.normal(0.0, std, size=(n, n))",
            "M = rng.normal(0.0, std, size=(n, n)) @ M",
        ),
        "multiplied on the left",
    ),
    "product_norms spectral norm": (
        "product_norms",
        _variant("product_norms", "np.linalg.norm(M)", "np.linalg.norm(M, 2)"),
        "spectral norm",
    ),
    "product_norms variance as scale": (
        "product_norms",
        _variant(
            "product_norms",
            "rng.normal(0.0, std, size=(n, n))",
            "rng.normal(0.0, std**2, size=(n, n))",
        ),
        "not the variance",
    ),
    "product_norms keeps M_0": (
        "product_norms",
        "def product_norms(n, std, steps, seed):\n    rng = np.random.default_rng(seed)\n"
        "    M = rng.normal(0.0, 1.0, size=(n, n))\n    out = [np.linalg.norm(M)]\n"
        "    for _ in range(steps):\n        M = M @ rng.normal(0.0, std, size=(n, n))\n"
        "        out.append(np.linalg.norm(M))\n    return np.array(out)\n",
        "leave out the norm of the starting matrix",
    ),
    "growth_rate log10": (
        "growth_rate",
        _variant("growth_rate", "np.log(norms)", "np.log10(norms)"),
        "log10",
    ),
    "growth_rate ratio": (
        "growth_rate",
        _variant(
            "growth_rate",
            "return float(np.polyfit(k, np.log(norms), 1)[0])",
            "return float(np.exp(np.polyfit(k, np.log(norms), 1)[0]))",
        ),
        "ratio exp(b)",
    ),
    "growth_rate endpoints": (
        "growth_rate",
        "def growth_rate(norms):\n    return float(np.log(norms[-1] / norms[0]) / (len(norms) - 1))\n",
        "first and last norms",
    ),
    "activation_grad returns sigmoid": (
        "activation_grad",
        _variant("activation_grad", "return s * (1 - s)", "return s"),
        "sigmoid(x) itself",
    ),
    "activation_grad tanh of x": (
        "activation_grad",
        _variant("activation_grad", "return 1 - torch.tanh(x) ** 2", "return 1 - x ** 2"),
        "apply tanh first",
    ),
    "activation_grad relu kink": (
        "activation_grad",
        _variant("activation_grad", "return (x > 0).to(x.dtype)", "return (x >= 0).to(x.dtype)"),
        "(and PyTorch's) is 0",
    ),
    "activation_grad leaky as relu": (
        "activation_grad",
        _variant("activation_grad", "torch.full_like(x, 0.01)", "torch.zeros_like(x)"),
        "leaky slope is 0.01",
    ),
    "activation_grad elu function": (
        "activation_grad",
        _variant(
            "activation_grad",
            "torch.ones_like(x), torch.exp(x))",
            "torch.ones_like(x), torch.exp(x) - 1)",
        ),
        "not its slope e^x",
    ),
    "activation_grad softsign no square": (
        "activation_grad",
        _variant("activation_grad", "return 1 / (1 + x.abs()) ** 2", "return 1 / (1 + x.abs())"),
        "forgot the square",
    ),
    "activation_grad autograd": (
        "activation_grad",
        "def activation_grad(name, x):\n    fn = {'sigmoid': torch.sigmoid, 'tanh': torch.tanh, 'relu': torch.relu,\n"
        "          'leaky_relu': F.leaky_relu, 'elu': F.elu, 'softplus': F.softplus, 'softsign': F.softsign}[name]\n"
        "    x = x.detach().clone().requires_grad_(True)\n    return torch.autograd.grad(fn(x).sum(), x)[0]\n",
        "uses autograd",
    ),
    "xavier naive bound": (
        "xavier_uniform_",
        _variant("xavier_uniform_", "math.sqrt(6.0 / (fan_in + fan_out))", "1 / math.sqrt(fan_in)"),
        "±1/√fan_in",
    ),
    "xavier fan_in only": (
        "xavier_uniform_",
        _variant(
            "xavier_uniform_", "math.sqrt(6.0 / (fan_in + fan_out))", "math.sqrt(6.0 / fan_in)"
        ),
        "only fan_in",
    ),
    "xavier normal draw": (
        "xavier_uniform_",
        _variant("xavier_uniform_", "W.uniform_(-a, a)", "W.normal_(0.0, a / math.sqrt(3))"),
        "normal distribution",
    ),
    "xavier torch.nn.init": (
        "xavier_uniform_",
        "def xavier_uniform_(W):\n    return torch.nn.init.xavier_uniform_(W)\n",
        "ready-made",
    ),
    "xavier returns nothing": (
        "xavier_uniform_",
        _variant("xavier_uniform_", "    return W\n", "\n"),
        "returned None",
    ),
    "he fan_out": (
        "he_normal_",
        _variant("he_normal_", "fan_in = W.shape[1]", "fan_in = W.shape[0]"),
        "fan_in is W.shape[1]",
    ),
    "he variance as std": (
        "he_normal_",
        _variant("he_normal_", "math.sqrt(2.0 / fan_in)", "2.0 / fan_in"),
        "that is the variance",
    ),
    "he lecun": (
        "he_normal_",
        _variant("he_normal_", "math.sqrt(2.0 / fan_in)", "math.sqrt(1.0 / fan_in)"),
        "LeCun",
    ),
    "he uniform draw": (
        "he_normal_",
        _variant(
            "he_normal_",
            "W.normal_(0.0, math.sqrt(2.0 / fan_in))",
            "W.uniform_(-math.sqrt(6.0 / fan_in), math.sqrt(6.0 / fan_in))",
        ),
        "not normally distributed",
    ),
    "he torch.nn.init": (
        "he_normal_",
        "def he_normal_(W):\n    return torch.nn.init.kaiming_normal_(W, nonlinearity='relu')\n",
        "ready-made",
    ),
    "layer_grad_norms reversed": (
        "layer_grad_norms",
        _variant(
            "layer_grad_norms",
            "torch.stack([g.norm() for g in grads])",
            "torch.stack([g.norm() for g in grads[::-1]])",
        ),
        "reverse order",
    ),
    "layer_grad_norms activation on logits": (
        "layer_grad_norms",
        _variant(
            "layer_grad_norms",
            "F.cross_entropy(h @ ws[-1].T, y)",
            "F.cross_entropy(phi(h @ ws[-1].T), y)",
        ),
        "activation to the logits",
    ),
    "layer_grad_norms summed loss": (
        "layer_grad_norms",
        _variant(
            "layer_grad_norms",
            "F.cross_entropy(h @ ws[-1].T, y)",
            "F.cross_entropy(h @ ws[-1].T, y, reduction='sum')",
        ),
        "summed the loss",
    ),
    "layer_grad_norms hidden layers only": (
        "layer_grad_norms",
        _variant(
            "layer_grad_norms",
            "torch.stack([g.norm() for g in grads])",
            "torch.stack([g.norm() for g in grads[:-1]])",
        ),
        "output layer included",
    ),
    "clip per tensor": (
        "clip_grad_norm",
        "def clip_grad_norm(grads, max_norm):\n    total = math.sqrt(sum(float((g ** 2).sum()) for g in grads))\n"
        "    return [g * min(1.0, max_norm / (float(g.norm()) + 1e-6)) for g in grads], total\n",
        "by its own norm",
    ),
    "clip always rescales": (
        "clip_grad_norm",
        _variant(
            "clip_grad_norm",
            "coef = min(1.0, max_norm / (total + 1e-6))",
            "coef = max_norm / (total + 1e-6)",
        ),
        "already short enough",
    ),
    "clip returns the clipped norm": (
        "clip_grad_norm",
        _variant(
            "clip_grad_norm",
            "return [g * coef for g in grads], total",
            "return [g * coef for g in grads], total * coef",
        ),
        "norm after clipping",
    ),
    "clip with torch": (
        "clip_grad_norm",
        "def clip_grad_norm(grads, max_norm):\n    ps = [torch.zeros_like(g, requires_grad=True) for g in grads]\n"
        "    for p, g in zip(ps, grads):\n        p.grad = g.clone()\n"
        "    total = float(torch.nn.utils.clip_grad_norm_(ps, max_norm))\n    return [p.grad for p in ps], total\n",
        "ready-made",
    ),
}

# Wrong answers that pass the visible checks and are caught only by the hidden tests.
HIDDEN_ONLY = {
    "product_norms only 4x4": (
        "product_norms",
        _variant("product_norms", "size=(n, n)", "size=(4, 4)"),
        "product_norms",
    ),
    "layer_grad_norms without relu": (
        "layer_grad_norms",
        _variant("layer_grad_norms", '"relu": torch.relu', '"relu": torch.tanh'),
        "layer_grad_norms",
    ),
    "activation_grad 1-D only": (
        "activation_grad",
        _variant(
            "activation_grad", "return torch.sigmoid(x)\n", "return torch.sigmoid(x).reshape(-1)\n"
        ),
        "wrong shape",
    ),
}

# Other correct ways to write the answers: full marks (behaviour is checked, not a formula).
ALTERNATIVES = {
    "answer_product_norms": (
        "def product_norms(n, std, steps, seed):\n    rng = np.random.default_rng(seed)\n"
        "    M = rng.standard_normal((n, n))\n    out = []\n    for _ in range(steps):\n"
        "        M = M @ (std * rng.standard_normal((n, n)))\n        out.append(math.sqrt((M ** 2).sum()))\n"
        "    return np.array(out)\n"
    ),
    "answer_growth_rate": (
        "def growth_rate(norms):\n    k = np.arange(1, len(norms) + 1)\n    A = np.stack([k, np.ones_like(k)], 1).astype(float)\n"
        "    return np.linalg.lstsq(A, np.log(norms), rcond=None)[0][0]\n"
    ),
    "answer_activation_grad": (
        "def activation_grad(name, x):\n    one = torch.ones_like(x)\n"
        "    if name == 'sigmoid':\n        return torch.exp(-x) / (1 + torch.exp(-x)) ** 2\n"
        "    if name == 'tanh':\n        return 1 / torch.cosh(x) ** 2\n"
        "    if name == 'relu':\n        return torch.where(x > 0, one, 0 * one)\n"
        "    if name == 'leaky_relu':\n        return torch.where(x > 0, one, 0.01 * one)\n"
        "    if name == 'elu':\n        return torch.where(x > 0, one, torch.exp(torch.clamp(x, max=0)))\n"
        "    if name == 'softplus':\n        return 1 / (1 + torch.exp(-x))\n"
        "    if name == 'softsign':\n        return (1 + x.abs()) ** -2\n    raise ValueError(name)\n"
    ),
    "answer_xavier_uniform_": (
        "def xavier_uniform_(W):\n    a = (6 / sum(W.shape)) ** 0.5\n"
        "    W.copy_(torch.rand(W.shape) * 2 * a - a)\n    return W\n"
    ),
    "answer_he_normal_": (
        "def he_normal_(W):\n    W.copy_(torch.randn(W.shape) * (2 / W.shape[1]) ** 0.5)\n    return W\n"
    ),
    "answer_layer_grad_norms": (
        "def layer_grad_norms(weights, x, y, activation):\n"
        "    ws = [w.clone().requires_grad_() for w in weights]\n    h = x\n"
        "    for w in ws[:-1]:\n        h = getattr(torch, activation)(torch.nn.functional.linear(h, w))\n"
        "    torch.nn.functional.cross_entropy(h @ ws[-1].t(), y).backward()\n"
        "    return torch.tensor([w.grad.pow(2).sum().sqrt().item() for w in ws], dtype=torch.float64)\n"
    ),
    "answer_clip_grad_norm": (
        "def clip_grad_norm(grads, max_norm):\n    total = torch.sqrt(sum((g ** 2).sum() for g in grads))\n"
        "    if total > max_norm:\n        grads = [g * (max_norm / (total + 1e-6)) for g in grads]\n"
        "    return list(grads), total\n"
    ),
}


def _run_test_cell(answers: dict[str, str], name: str) -> str:
    return run_test_cell_here(
        CELLS[f"test_{name}"].source,
        answers,
        {"np": np, "math": math, "torch": torch, "F": F},
        name,
    )


# --- the notebook's shape ---------------------------------------------------------------------


# --- the test cells' verdicts -----------------------------------------------------------------


@pytest.mark.parametrize("variant", list(WRONG))
def test_wrong_answer_fails_with_a_helpful_message(variant: str) -> None:
    name, src, phrase = WRONG[variant]
    with pytest.raises(CheckFailed) as info:
        _run_test_cell({**SOLUTION, f"answer_{name}": src}, name)
    assert phrase in str(info.value), str(info.value)


@pytest.mark.parametrize("variant", list(HIDDEN_ONLY))
def test_hidden_tests_catch_what_the_visible_ones_miss(variant: str) -> None:
    name, src, phrase = HIDDEN_ONLY[variant]
    ns: dict = {"np": np, "math": math, "torch": torch, "F": F}
    exec(compile(src, "<answer>", "exec"), ns)
    visible, _ = split_hidden(CELLS[f"test_{name}"].source)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(visible, "<visible>", "exec"), ns)  # passes the visible checks
    with pytest.raises(CheckFailed) as info:
        _run_test_cell({**SOLUTION, f"answer_{name}": src}, name)
    assert phrase in str(info.value), str(info.value)


def test_alternative_correct_answers_pass() -> None:
    answers = {**SOLUTION, **ALTERNATIVES}
    for name in POINTS:
        _run_test_cell(answers, name)


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
    assert len(ex._ax_g.patches) == 20  # one bar per layer


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
WRONG_STUDENT = {  # one mistake per exercise (all fail)
    "product_norms": "product_norms left product",
    "growth_rate": "growth_rate log10",
    "activation_grad": "activation_grad relu kink",
    "xavier_uniform_": "xavier naive bound",
    "he_normal_": "he fan_out",
    "layer_grad_norms": "layer_grad_norms reversed",
    "clip_grad_norm": "clip per tensor",
}
PARTIAL_WRONG = {  # the partly correct student's other answers: other mistakes
    "xavier_uniform_": "xavier torch.nn.init",
    "he_normal_": "he variance as std",
    "layer_grad_norms": "layer_grad_norms summed loss",
    "clip_grad_norm": "clip always rescales",
}


def class_notebooks() -> dict:
    """This notebook's students in its graded class (beside the standard solution and blank)."""
    rel = release_notebook(A)
    partial = {f"answer_{n}": SOLUTION[f"answer_{n}"] for n in PARTIAL_CORRECT}
    partial.update({f"answer_{n}": WRONG[v][1] for n, v in PARTIAL_WRONG.items()})
    wrong = {f"answer_{n}": WRONG[v][1] for n, v in WRONG_STUDENT.items()}
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
    for n, variant in PARTIAL_WRONG.items():
        e = s.exercise(f"test_{n}")
        assert e.status == "failed" and e.score == 0
        assert WRONG[variant][2] in e.message, (n, e.message)


@pytest.mark.slow
def test_graded_wrong_answers_fail_with_their_diagnosis(graded) -> None:
    s = graded.get("wrong", A)
    assert s.score == 0
    for n, variant in WRONG_STUDENT.items():
        e = s.exercise(f"test_{n}")
        assert e.status == "failed", (n, e.status, e.message)
        assert WRONG[variant][2] in e.message, (n, e.message)
