"""Notebook 01 (loss surfaces): what is specific to it — its explorer widget and plots, and a
small class graded end to end. Its exercises' mistakes and alternatives are the validity table
(tests/validity/nb01_loss_surfaces.py); the contract every notebook keeps is tests/test_assignments.py.
"""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import pytest
from gradekit import graded_class, register_students, solution_namespace
from validity import nb01_loss_surfaces as table

from coursekit.grading.testcell import run_test_cell
from coursekit.notebooks import (
    cells_by_grade_id,
    release_notebook,
    source_notebook,
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

SOURCE = source_notebook(A)
CELLS = cells_by_grade_id(SOURCE)
SOLUTION = {f"answer_{n}": CELLS[f"answer_{n}"].source for n in POINTS}


def _case(test: str, what: str):
    return next(c for c in table.CASES if c.test == test and c.what == what)


# --- the notebook's shape ---------------------------------------------------------------------


def test_notebook_says_the_loss_is_averaged() -> None:
    text = " ".join(c.source for c in SOURCE.cells if c.cell_type == "markdown")
    assert "**averaged**" in text
    assert "averaged, like the loss" in SOLUTION["answer_nll_grad"]


def test_hidden_messages_reveal_no_values() -> None:
    case = _case("test_nll_grad", "2 weights only")
    ns = dict(solution_namespace(A))
    exec(compile(case.answers["answer_nll_grad"], "<answer>", "exec"), ns)
    run = run_test_cell(CELLS["test_nll_grad"].source, ns, name="test_nll_grad")
    assert run.part == "hidden" and not re.search(r"\d\.\d", str(run.error)), str(run.error)


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
    """The solution, as graded (in the sandbox, one thread): no error in any cell, and the
    explorer demos (tagged show-only) skipped — their headless pictures and texts are checked
    where the whole notebook runs (test_solutions_run)."""
    s = graded.get("solution", A)
    assert not s.error
    errors = [c.source[:60] for c in s.cells for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, errors
    text = "\n".join(o.get("text", "") for c in s.cells for o in c.outputs)
    assert "Finish " not in text and "Traceback" not in text
    assert "GD DIVERGES" not in text  # the explorer demo is show-only: not run when grading


# Partial: three exercises right, gradient_descent wrong in a way only its hidden tests catch
# (it assumes two weights, as on the pictures), the rest blank: 6 of 16 points. Wrong: one named
# mistake of the validity table in every exercise, all in one notebook.
PARTIAL = ("nll_loss", "nll_grad", "numerical_grad")
GD_TWO_WEIGHTS = """
def gradient_descent(grad, w0, lr, steps):
    path = np.zeros((steps + 1, 2))          # two weights, as on the pictures
    path[0] = w0
    for k in range(steps):
        path[k + 1] = path[k] - lr * np.asarray(grad(path[k]))
    return path
"""
GRADED_WRONG = {  # test: the table's mistake, graded end to end
    "test_nll_loss": "log(1 + exp(z)) overflows",
    "test_nll_grad": "by autograd",
    "test_numerical_grad": "w moved and not put back",
    "test_gradient_descent": "the same array stored",
    "test_convexity_violation": "sign flipped",
    "test_hessian_fd": "divided by h²",
    "test_classify_critical_point": "det and trace",
    "test_max_stable_lr": "1/λ_max",
    "test_best_step_along_gradient": "upside down",
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
                "answer_gradient_descent": GD_TWO_WEIGHTS,
            },
        ),
    }
    wrong = {**SOLUTION}
    for test, what in GRADED_WRONG.items():
        wrong.update(_case(test, what).answers)
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
    assert e.status in ("failed", "error") and e.score == 0, (e.status, e.message)
    assert "hidden test" in e.message, e.message


@pytest.mark.slow
def test_graded_wrong_answers_fail_with_their_message(graded) -> None:
    s = graded.get("wrong", A)
    assert s.score == 0, [(e.grade_id, e.status) for e in s.exercises if e.score]
    for test, what in GRADED_WRONG.items():
        e = s.exercise(test)
        missing = [w for w in _case(test, what).words if w.lower() not in e.message.lower()]
        assert e.status == "failed" and not missing, (what, e.status, e.message)


def test_numpy_scalars_cross_the_grader_wire_as_scalars() -> None:
    """The grader's callbacks (test cells pass lambdas returning np.float64 to numerical_grad,
    convexity_violation, hessian_fd) and students' np.float64 results must keep shape ()."""
    import torch

    from coursekit.grading.wire import decode, encode

    for value in (np.float64(0.25), np.int64(3), np.array(2.0), torch.tensor(1.5)):
        buffers: list[bytes] = []
        back = decode(encode(value, buffers), buffers)
        assert np.shape(back) == () and float(back) == float(value), (value, back)
