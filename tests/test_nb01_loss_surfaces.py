"""Notebook 01 (loss surfaces): its exercises' test cells, its explorer widget and plots, and
grading it end to end.

Fast tests run the notebook's test cells in-process against the solution, the blank stubs and
known wrong answers (the verdicts a student sees). Slow tests execute the notebook in a kernel
and grade a small class with coursekit's grader.
"""

from __future__ import annotations

import math
import re

import matplotlib
import numpy as np
import pytest
from gradekit import graded_class, register_students, run_test_cell_here

from coursekit.checks import CheckFailed
from coursekit.notebooks import (
    cells_by_grade_id,
    release_notebook,
    source_notebook,
    split_hidden,
    submission_from,
)

matplotlib.use("Agg")

A = "01_loss_surfaces"
POINTS = {
    "nll_loss": 2,
    "nll_grad": 2,
    "numerical_grad": 2,
    "gradient_descent": 2,
    "convexity_violation": 2,
    "hessian_fd": 2,
    "classify_critical_point": 2,
    "max_stable_lr": 1,
    "best_step_along_gradient": 1,
}
TOTAL = sum(POINTS.values())

SOURCE = source_notebook(A)
CELLS = cells_by_grade_id(SOURCE)
SOLUTION = {f"answer_{n}": CELLS[f"answer_{n}"].source for n in POINTS}
BLANK = {
    gid: c.source for gid, c in cells_by_grade_id(release_notebook(A)).items() if gid in SOLUTION
}

# Wrong answers a student may write: (answer cell, source, a phrase the verdict must contain).
WRONG = {
    "nll_loss summed": (
        "nll_loss",
        "def nll_loss(w, X, y):\n    z = X @ w\n    return float(np.sum(np.logaddexp(0.0, z) - y * z))\n",
        "sum over the 3 examples",
    ),
    "nll_loss unstable": (
        "nll_loss",
        "def nll_loss(w, X, y):\n    s = 1 / (1 + np.exp(-(X @ w)))\n"
        "    return float(np.mean(-(y * np.log(s) + (1 - y) * np.log(1 - s))))\n",
        "np.logaddexp",
    ),
    "nll_grad ascent": (
        "nll_grad",
        "def nll_grad(w, X, y):\n    s = 1 / (1 + np.exp(-(X @ w)))\n    return X.T @ (y - s) / len(y)\n",
        "log-likelihood",
    ),
    "nll_grad summed": (
        "nll_grad",
        "def nll_grad(w, X, y):\n    s = 1 / (1 + np.exp(-(X @ w)))\n    return X.T @ (s - y)\n",
        "summed over the examples",
    ),
    "nll_grad per example": (
        "nll_grad",
        "def nll_grad(w, X, y):\n    s = 1 / (1 + np.exp(-(X @ w)))\n    return (s - y) / len(y)\n",
        "multiply by Xᵀ",
    ),
    "nll_grad by autograd": (
        "nll_grad",
        "import torch\ndef nll_grad(w, X, y):\n    wt = torch.tensor(w, requires_grad=True)\n"
        "    z = torch.as_tensor(X) @ wt\n"
        "    torch.nn.functional.binary_cross_entropy_with_logits(z, torch.as_tensor(y)).backward()\n"
        "    return wt.grad.numpy()\n",
        "automatic differentiation",
    ),
    "numerical_grad by scipy": (
        "numerical_grad",
        "from scipy.optimize import approx_fprime\ndef numerical_grad(f, w, h=1e-5):\n"
        "    return approx_fprime(np.asarray(w, float), f, h)\n",
        "ready-made implementation",
    ),
    "numerical_grad forward": (
        "numerical_grad",
        "def numerical_grad(f, w, h=1e-5):\n    w = np.asarray(w, float)\n"
        "    return np.array([(f(w + h * e) - f(w)) / h for e in np.eye(w.size)])\n",
        "one-sided",
    ),
    "gradient_descent without w0": (
        "gradient_descent",
        "def gradient_descent(grad, w0, lr, steps):\n    w = np.array(w0, float)\n    path = []\n"
        "    for _ in range(steps):\n        w = w - lr * grad(w)\n        path.append(w)\n"
        "    return np.array(path).reshape(steps, -1)\n",
        "row 0 must be the start point",
    ),
    "gradient_descent in place": (
        "gradient_descent",
        "def gradient_descent(grad, w0, lr, steps):\n    w = np.array(w0, float)\n    path = [w]\n"
        "    for _ in range(steps):\n        w -= lr * grad(w)\n        path.append(w)\n"
        "    return np.array(path)\n",
        "store copies",
    ),
    "gradient_descent uphill": (
        "gradient_descent",
        "def gradient_descent(grad, w0, lr, steps):\n    path = [np.array(w0, float)]\n"
        "    for _ in range(steps):\n        path.append(path[-1] + lr * grad(path[-1]))\n"
        "    return np.array(path)\n",
        "goes uphill",
    ),
    "convexity_violation flipped": (
        "convexity_violation",
        "def convexity_violation(f, w0, w1, n=101):\n    f0, f1 = f(w0), f(w1)\n"
        "    return float(max((l * f0 + (1 - l) * f1) - f(l * w0 + (1 - l) * w1)"
        " for l in np.linspace(0, 1, n)))\n",
        "sign is flipped",
    ),
    "convexity_violation mismatched λ": (
        "convexity_violation",
        "def convexity_violation(f, w0, w1, n=101):\n    f0, f1 = f(w0), f(w1)\n"
        "    return float(max(f(l * w0 + (1 - l) * w1) - (l * f1 + (1 - l) * f0)"
        " for l in np.linspace(0, 1, n)))\n",
        "λ weights w0",
    ),
    "hessian_fd over h²": (
        "hessian_fd",
        "def hessian_fd(f, w, h=1e-4):\n    w = np.asarray(w, float)\n    E = np.eye(w.size) * h\n"
        "    return np.array([[(f(w + a + b) - f(w + a - b) - f(w - a + b) + f(w - a - b)) / (h * h)"
        " for b in E] for a in E])\n",
        "4 times too large",
    ),
    "hessian_fd diagonal only": (
        "hessian_fd",
        "def hessian_fd(f, w, h=1e-4):\n    w = np.asarray(w, float)\n    E = np.eye(w.size) * h\n"
        "    return np.diag([(f(w + e) - 2 * f(w) + f(w - e)) / h**2 for e in E])\n",
        "only the diagonal",
    ),
    "classify from the diagonal": (
        "classify_critical_point",
        "def classify_critical_point(H, tol=1e-8):\n    d = np.diag(np.asarray(H, float))\n"
        "    if d.max() > tol and d.min() < -tol:\n        return 'saddle'\n"
        "    if np.any(np.abs(d) <= tol):\n        return 'degenerate'\n"
        "    return 'minimum' if d.min() > 0 else 'maximum'\n",
        "not the diagonal",
    ),
    "max_stable_lr 1/λ": (
        "max_stable_lr",
        "def max_stable_lr(H):\n    return float(1 / np.linalg.eigvalsh(H).max())\n",
        "1/λ_max",
    ),
    "max_stable_lr λ_min": (
        "max_stable_lr",
        "def max_stable_lr(H):\n    return float(2 / np.linalg.eigvalsh(H).min())\n",
        "largest eigenvalue sets the limit",
    ),
    "best_step upside down": (
        "best_step_along_gradient",
        "def best_step_along_gradient(g, H):\n    return float(g @ H @ g / (g @ g))\n",
        "upside down",
    ),
}

# Wrong answers that pass the visible checks and are caught only by the hidden tests.
HIDDEN_ONLY = {
    "gradient_descent calls grad twice": (
        "gradient_descent",
        "def gradient_descent(grad, w0, lr, steps):\n    path = [np.array(w0, float)]\n"
        "    for _ in range(steps):\n        grad(path[-1])\n"
        "        path.append(path[-1] - lr * np.asarray(grad(path[-1])))\n    return np.array(path)\n",
        "exactly once per step",
    ),
    "numerical_grad ignores h": (
        "numerical_grad",
        "def numerical_grad(f, w, h=1e-5):\n    w = np.asarray(w, float)\n"
        "    return np.array([(f(w + 1e-5 * e) - f(w - 1e-5 * e)) / 2e-5 for e in np.eye(w.size)])\n",
        "uses the step h",
    ),
    "classify ignores tol": (
        "classify_critical_point",
        "def classify_critical_point(H, tol=1e-8):\n    lam = np.linalg.eigvalsh(H)\n"
        "    if lam.max() > 1e-8 and lam.min() < -1e-8:\n        return 'saddle'\n"
        "    if np.any(np.abs(lam) <= 1e-8):\n        return 'degenerate'\n"
        "    return 'minimum' if lam.min() > 0 else 'maximum'\n",
        "tolerance",
    ),
    "nll_grad for 2 weights only": (
        "nll_grad",
        "def nll_grad(w, X, y):\n    s = 1 / (1 + np.exp(-(X @ w)))\n"
        "    return np.array([np.mean(X[:, 0] * (s - y)), np.mean(X[:, 1] * (s - y))])\n",
        "nll_grad",
    ),
}


def _run_test_cell(answers: dict[str, str], name: str) -> str:
    return run_test_cell_here(CELLS[f"test_{name}"].source, answers, {"np": np, "math": math}, name)


# --- the notebook's shape ---------------------------------------------------------------------


def test_notebook_says_the_loss_is_averaged() -> None:
    text = " ".join(c.source for c in SOURCE.cells if c.cell_type == "markdown")
    assert "**averaged**" in text
    assert "averaged, like the loss" in SOLUTION["answer_nll_grad"]


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
    answers = {**SOLUTION, f"answer_{name}": src}
    visible, _ = split_hidden(CELLS[f"test_{name}"].source)
    ns: dict = {"np": np}
    exec(compile(src, "<answer>", "exec"), ns)
    exec(compile(visible, "<visible>", "exec"), ns)  # passes the visible checks
    with pytest.raises(CheckFailed) as info:
        _run_test_cell(answers, name)
    assert phrase in str(info.value), str(info.value)


def test_hidden_messages_reveal_no_values() -> None:
    name, src, _ = HIDDEN_ONLY["nll_grad for 2 weights only"]
    with pytest.raises(CheckFailed) as info:
        _run_test_cell({**SOLUTION, f"answer_{name}": src}, name)
    assert not re.search(r"\d\.\d", str(info.value)), str(info.value)


def test_alternative_correct_answers_pass() -> None:
    """Other correct implementations (torch, a naive-but-stable loss, FD of a numerical
    gradient for the Hessian) get full marks: the tests check behaviour, not a formula."""
    alt = {
        "answer_nll_loss": "import torch\ndef nll_loss(w, X, y):\n"
        "    z = torch.as_tensor(X @ w)\n"
        "    return float(torch.nn.functional.binary_cross_entropy_with_logits(z, torch.as_tensor(y)))\n",
        "answer_nll_grad": "import torch\ndef nll_grad(w, X, y):\n    with torch.no_grad():\n"
        "        s = torch.sigmoid(torch.as_tensor(X @ w)).numpy()\n"
        "    return np.mean(X * (s - y)[:, None], axis=0)\n",
        "answer_hessian_fd": "def hessian_fd(f, w, h=1e-4):\n    w = np.asarray(w, float)\n"
        "    def g(v):\n        return np.array([(f(v + h * e) - f(v - h * e)) / (2 * h) for e in np.eye(v.size)])\n"
        "    H = np.array([(g(w + h * e) - g(w - h * e)) / (2 * h) for e in np.eye(w.size)])\n"
        "    return 0.5 * (H + H.T)\n",
        "answer_classify_critical_point": "def classify_critical_point(H, tol=1e-8):\n"
        "    lam = np.linalg.eigvals(np.asarray(H)).real\n"
        "    pos, neg = (lam > tol).any(), (lam < -tol).any()\n"
        "    if pos and neg:\n        return 'saddle'\n"
        "    if (abs(lam) <= tol).any():\n        return 'degenerate'\n"
        "    return 'minimum' if pos else 'maximum'\n",
    }
    answers = {**SOLUTION, **alt}
    for name in ("nll_loss", "nll_grad", "hessian_fd", "classify_critical_point"):
        _run_test_cell(answers, name)


# --- the explorer widget ----------------------------------------------------------------------


def _gd(grad, w0, lr, steps):  # a reference, as the notebook's answer
    w = np.array(w0, dtype=float)
    path = [w.copy()]
    for _ in range(steps):
        w = w - lr * np.asarray(grad(w))
        path.append(w.copy())
    return np.array(path)


@pytest.fixture(scope="session")  # session: built once per worker even if xdist interleaves modules
def explorer():
    from coursekit.explorer import LossSurfaceExplorer

    return LossSurfaceExplorer(_gd)


def test_explorer_diverges_exactly_past_two_over_lambda_max(explorer) -> None:
    explorer.set(surface="quadratic", kappa=10, lr=0.19)
    assert not explorer.summary.diverged
    assert "stable" in explorer.status_text() and "< 2/λ" in explorer.status_text()
    explorer.set(lr=0.21)
    assert explorer.summary.diverged
    assert "DIVERGES" in explorer.status_text() and "> 2/λ" in explorer.status_text()
    assert "κ = 10" in explorer.status_text()
    explorer.set(kappa=100, lr=0.019)  # 2/λmax = 0.02 now
    assert not explorer.summary.diverged
    explorer.set(lr=0.0205)
    assert explorer.summary.diverged


@pytest.mark.parametrize(
    "surface", ["quadratic", "rosenbrock", "saddle", "monkey", "plateau", "himmelblau"]
)
def test_explorer_draws_every_surface(explorer, surface: str) -> None:
    explorer.set(surface=surface)
    s = explorer.summary
    assert s.path.shape == (explorer.steps.value + 1, 2) and not s.error
    assert s.eigenvalues is not None and "Hessian eigenvalues" in explorer.status_text()
    axes = explorer.fig.axes
    assert len(axes) >= 3 and axes[0].lines and axes[1].name == "3d"
    lo, hi = explorer.x0.min, explorer.x0.max
    assert lo <= explorer.x0.value <= hi


def test_explorer_saddle_start_on_axis_stays(explorer) -> None:
    explorer.set(surface="saddle", start=(1.5, 0.0), lr=0.1, steps=80)
    assert abs(explorer.summary.path[-1]).max() < 1e-5
    explorer.set(start=(1.5, 0.01))
    assert abs(explorer.summary.path[-1, 1]) > 1.0


def test_explorer_runs_the_notebooks_functions() -> None:
    from coursekit.explorer import LossSurfaceExplorer
    from coursekit.surfaces import from_functions

    def stub(*args):
        raise NotImplementedError()

    ex = LossSurfaceExplorer(stub)
    assert "Write gradient_descent" in ex.status_text()
    ex = LossSurfaceExplorer(lambda *a: [1, 2, 3])
    assert "expected (steps + 1, 2)" in ex.status_text()

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2)) + [1, 0]
    y = (rng.random(50) < 0.5).astype(float)

    def loss(w):
        return np.mean(np.logaddexp(0, X @ w) - y * (X @ w))

    def grad(w):
        return X.T @ (1 / (1 + np.exp(-(X @ w))) - y) / len(y)

    logistic = from_functions("logistic", loss, grad, xlim=(-3, 3), ylim=(-3, 3), start=(2.0, 2.0))
    ex = LossSurfaceExplorer(_gd, extra={"logistic regression": logistic}, grid=30)
    ex.set(surface="logistic regression", lr=1.0, steps=20)
    assert ex.summary.losses[-1] < ex.summary.losses[0]
    assert "not available" in ex.status_text()  # no Hessian given
    ex.set(surface="logistic regression", lr=1.0, steps=20)
    with pytest.raises(KeyError, match="choose from"):
        ex.set(surface="banana")


def test_explorer_live_widget_reacts_to_its_sliders(monkeypatch) -> None:
    import coursekit.explorer as explorer_module

    monkeypatch.setattr(explorer_module, "is_headless", lambda: False)
    monkeypatch.setattr("coursekit.interactive.is_headless", lambda: False)
    ex = explorer_module.LossSurfaceExplorer(_gd, grid=40)
    assert ex.view is not None and "coursekit-explorer" in ex.widget._dom_classes
    assert "coursekit-explorer-status" in ex.status._dom_classes
    assert ex.view in ex.widget.children
    ex.lr.value = 0.25  # as if the slider moved
    assert "DIVERGES" in ex.status_text()
    ex.lr.value = 0.1
    assert "stable" in ex.status_text()
    ex.menu.value = "Rosenbrock"
    assert "rosenbrock" in ex.fig.axes[0].get_title() and ex.kappa.disabled


# --- plots ------------------------------------------------------------------------------------


def test_plots_draw_paths_losses_and_surfaces() -> None:
    import matplotlib.pyplot as plt

    from coursekit.plots import contour_levels, plot_contour, plot_losses, plot_surface3d
    from coursekit.surfaces import SURFACES

    s = SURFACES["rosenbrock"]
    diverged = np.array([[-1.5, 2.5], [3.0, -4.0], [1e6, 1e6], [np.inf, np.nan]])
    fig = plt.figure()
    ax = fig.add_subplot(1, 3, 1)
    plot_contour(ax, s, {"ok": _gd(s.grad, s.start, 1e-3, 20), "diverged": diverged})
    assert len(ax.get_legend().get_texts()) == 2
    assert ax.get_xlim() == s.xlim  # a diverging path does not move the view
    ax3 = fig.add_subplot(1, 3, 2, projection="3d")
    plot_surface3d(ax3, s, diverged)
    ax2 = fig.add_subplot(1, 3, 3)
    lines = plot_losses(ax2, {"a": np.geomspace(1, 1e-6, 30), "b": [1.0, np.inf]})
    assert len(lines) == 2 and ax2.get_yscale() == "log"
    plt.close(fig)
    lv = contour_levels(s.f(np.random.default_rng(0).uniform(-2, 2, (50, 2))), 20, log=True)
    assert np.all(np.diff(lv) > 0) and len(lv) == 20


# --- the notebook in a kernel, and graded -----------------------------------------------------


@pytest.mark.slow
def test_graded_solution_shows_the_explorer_headless(graded) -> None:
    """The solution, as graded (in the sandbox, one thread): no error in any cell, the
    explorer's two static pictures, in well under the 60 s budget of a free 2-core CPU."""
    s = graded.get("solution", A)
    assert not s.error
    errors = [c.source[:60] for c in s.cells for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, errors
    text = "\n".join(o.get("text", "") for c in s.cells for o in c.outputs)
    assert "Finish " not in text and "Traceback" not in text
    assert "GD DIVERGES" in text and "GD is stable" in text  # the explorer, headless
    pictures = sum("image/png" in o.get("data", {}) for c in s.cells for o in c.outputs)
    assert pictures >= 11, pictures


# Partial: three exercises right, gradient_descent wrong in a way only the hidden tests catch
# (it calls grad twice per step), the rest blank: 6 of 16 points.
PARTIAL = ("nll_loss", "nll_grad", "numerical_grad")
GRADED_WRONG = {  # one wrong variant per exercise, graded end to end
    "w_nll_loss": "nll_loss unstable",
    "w_nll_grad": "nll_grad by autograd",
    "w_numerical_grad": "numerical_grad by scipy",
    "w_gradient_descent": "gradient_descent in place",
    "w_convexity": "convexity_violation flipped",
    "w_hessian": "hessian_fd over h²",
    "w_classify": "classify from the diagonal",
    "w_lr": "max_stable_lr 1/λ",
    "w_step": "best_step upside down",
}


def class_notebooks() -> dict:
    """This notebook's students in its graded class (beside the standard solution and blank):
    partial, and one notebook with a wrong answer in every exercise."""
    release = release_notebook(A)
    students = {
        "partial": submission_from(
            release,
            {
                **{f"answer_{n}": SOLUTION[f"answer_{n}"] for n in PARTIAL},
                "answer_gradient_descent": HIDDEN_ONLY["gradient_descent calls grad twice"][1],
            },
        ),
    }
    wrong = {**SOLUTION}
    for variant in GRADED_WRONG.values():
        if variant in WRONG:
            name, src, _ = WRONG[variant]
            wrong[f"answer_{name}"] = src
    students["wrong"] = submission_from(release, wrong)
    return students


register_students(A, class_notebooks)


@pytest.fixture
def graded(tmp_path_factory):
    return graded_class(A, tmp_path_factory)


@pytest.mark.slow
def test_graded_partial_gets_its_points(graded) -> None:
    s = graded.get("partial", A)
    assert s.score == sum(POINTS[n] for n in PARTIAL) == 6
    for n in POINTS:
        e = s.exercise(f"test_{n}")
        assert (e.status == "passed") == (n in PARTIAL), (n, e.status, e.message)
    e = s.exercise("test_gradient_descent")  # passes the visible checks, not the hidden ones
    assert e.status == "failed" and "exactly once per step" in e.message, (e.status, e.message)
    assert "hidden" in e.message


@pytest.mark.slow
def test_graded_wrong_answers_fail_with_their_message(graded) -> None:
    s = graded.get("wrong", A)
    assert s.score == 0, [(e.grade_id, e.status) for e in s.exercises if e.score]
    for variant in GRADED_WRONG.values():
        name, _, phrase = WRONG[variant]
        e = s.exercise(f"test_{name}")
        assert e.status == "failed" and phrase in e.message, (variant, e.status, e.message)


def test_numpy_scalars_cross_the_grader_wire_as_scalars() -> None:
    """The grader's callbacks (test cells pass lambdas returning np.float64 to numerical_grad,
    convexity_violation, hessian_fd) and students' np.float64 results must keep shape ()."""
    import torch

    from coursekit.grading.wire import decode, encode

    for value in (np.float64(0.25), np.int64(3), np.array(2.0), torch.tensor(1.5)):
        buffers: list[bytes] = []
        back = decode(encode(value, buffers), buffers)
        assert np.shape(back) == () and float(back) == float(value), (value, back)
