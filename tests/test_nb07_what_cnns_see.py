"""Notebook 07, what a CNN sees and how to fool it: the attack explorer, the notebook's facts, and
grading a class.

Fast tests: the explorer's model, view and widget driven by the solution's own ``fgsm``,
``fgsm_targeted`` and ``saliency`` on a LeNet-5 (ε = 0 gives the clean image, a larger ε moves the
probabilities, the target menu, a drawing, the headless picture, the cost of an update); the
notebook's claims checked on a LeNet-5 (the receptive fields against the gradient measurement,
convolution equivariant and pooling only for even shifts, the parameter counts against PyTorch);
the test cells run as the grader runs them (solution passes, stubs say "not written yet"); instructor
cells never read a name a test cell may have overwritten. Slow tests execute the notebook top to
bottom and grade a small class with the real, sandboxed grader (once per module).

    .venv/bin/python -m pytest tests/test_nb07_what_cnns_see.py -x -q -m "not slow"   # ~15 s
    .venv/bin/python -m pytest tests/test_nb07_what_cnns_see.py -x -q                # ~4 min
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn as nn
from gradekit import graded_class, register_students

from coursekit.grading.testcell import run_test_cell
from coursekit.grading.verdict import free_names
from coursekit.notebooks import (
    cells_by_grade_id,
    release_notebook,
    source_notebook,
    submission_from,
)

sys.path.insert(0, str(Path(__file__).parent))
from validity.nb07_what_cnns_see import CASES

matplotlib.use("Agg")

A = "07_what_cnns_see"
POINTS = {
    "receptive_field": 3,
    "shift_image": 1,
    "equivariance_error": 2,
    "separable_params": 1,
    "separable_madds": 1,
    "DepthwiseSeparable": 2,
    "saliency": 2,
    "maximise_class": 3,
    "fgsm": 3,
    "fgsm_targeted": 2,
    "one_pixel_attack": 2,
}
TOTAL = sum(POINTS.values())
SRC = source_notebook(A)
REL = release_notebook(A)
CELLS = cells_by_grade_id(SRC)
ORDER = [c.metadata["nbgrader"]["grade_id"] for c in SRC.cells if c.cell_type == "code"]
STUDENT_CELLS = [g for g in ORDER if g.startswith("answer_") or g in ("cell_setup", "cell_lenet")]
BLANK = {g: c.source for g, c in cells_by_grade_id(REL).items() if g.startswith("answer_")}
LENET_LAYERS = [
    {"name": "conv1", "kernel": 5, "padding": 2},
    {"name": "pool1", "kernel": 2, "stride": 2},
    {"name": "conv2", "kernel": 5},
    {"name": "pool2", "kernel": 2, "stride": 2},
]


def _code(src: str) -> str:
    return "\n".join(line for line in src.splitlines() if not line.lstrip().startswith("%"))


def student_namespace(answers: dict[str, str] | None = None) -> dict:
    """The student's kernel, in this process: the setup, the LeNet5 class and the answer cells."""
    ns: dict = {"__name__": "__main__"}
    for gid in STUDENT_CELLS:
        src = (answers or {}).get(gid, CELLS[gid].source)
        exec(compile(_code(src), f"<{gid}>", "exec"), ns)
    return ns


def run_test(test: str, answers: dict[str, str] | None = None, *, hidden: bool = True):
    """One test cell as the grader runs it: a fresh namespace with only the student's names."""
    ns = student_namespace(answers)
    source = CELLS[test].source
    return run_test_cell(
        source, {n: ns[n] for n in free_names(source) if n in ns}, name=test, hidden=hidden
    )


@pytest.fixture(scope="module")
def solution():
    return student_namespace()


@pytest.fixture(scope="module")
def digits():
    from coursekit.data import load_mnist

    images, labels = load_mnist("test")
    return images[:50], labels[:50]


def _lenet(solution, seed: int = 0):
    torch.manual_seed(seed)
    return solution["LeNet5"]().eval()


def _explorer(solution, digits, **kwargs):
    from coursekit.adversarial import AttackExplorer

    images, labels = digits
    return AttackExplorer(
        _lenet(solution),
        solution["fgsm"],
        solution["saliency"],
        images,
        labels,
        fgsm_targeted=solution["fgsm_targeted"],
        **kwargs,
    )


# --- the attack explorer: model, view, widget -------------------------------------------------------


def test_attack_model_eps_zero_gives_the_clean_image(solution, digits):
    from coursekit.adversarial import AttackModel

    images, labels = digits
    m = AttackModel(_lenet(solution), solution["fgsm"], solution["saliency"], images, labels)
    r = m.attack(m.images[3], m.label(3), 0.0)
    assert not r.error and r.label == int(labels[3])
    assert np.array_equal(r.adversarial, r.clean) and np.allclose(r.clean, images[3] / 255.0)
    assert np.allclose(r.probs, r.clean_probs) and abs(float(r.probs.sum()) - 1) < 1e-5
    assert r.fooled == (r.clean_pred != r.label) and np.abs(r.saliency).max() > 0


def test_attack_model_larger_eps_moves_the_probabilities(solution, digits):
    from coursekit.adversarial import AttackModel

    images, labels = digits
    m = AttackModel(_lenet(solution), solution["fgsm"], solution["saliency"], images, labels)
    r = m.attack(m.images[0], m.label(0), 0.2)
    assert np.abs(r.perturbation).max() == pytest.approx(0.2, abs=1e-6)
    assert r.adversarial.min() >= 0 and r.adversarial.max() <= 1
    assert r.probs[r.label] < r.clean_probs[r.label]  # the true class lost probability
    assert np.abs(r.probs - r.clean_probs).max() > 1e-3


def test_attack_model_targeted(solution, digits):
    from coursekit.adversarial import AttackModel

    images, labels = digits
    m = AttackModel(
        _lenet(solution),
        solution["fgsm"],
        solution["saliency"],
        images,
        labels,
        fgsm_targeted=solution["fgsm_targeted"],
    )
    label = m.label(1)
    target = (label + 4) % 10
    r = m.attack(m.images[1], label, 0.2, target=target)
    assert r.target == target and r.saliency_class == target and not r.error
    assert r.probs[target] > r.clean_probs[target]
    assert r.fooled == (r.pred == target)
    untargeted = AttackModel(_lenet(solution), solution["fgsm"], solution["saliency"], images)
    assert "no targeted attack" in untargeted.attack(m.images[1], None, 0.1, target=3).error


def test_attack_model_says_which_exercise_is_missing(solution, digits):
    from coursekit.adversarial import AttackModel

    def unwritten(*args, **kwargs):
        raise NotImplementedError()

    images, labels = digits
    r = AttackModel(_lenet(solution), unwritten, solution["saliency"], images, labels).attack(
        images[0], int(labels[0]), 0.1
    )
    assert "write `fgsm`" in r.error and not r.fooled
    r = AttackModel(_lenet(solution), solution["fgsm"], unwritten, images, labels).attack(
        images[0], int(labels[0]), 0.1
    )
    assert "write `saliency`" in r.error


def test_explorer_headless_draws_one_static_picture(monkeypatch, solution, digits, capsys):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    ex = _explorer(solution, digits, digit=2, eps=0.15)
    assert ex.view_widget is None  # headless: a plain Agg figure
    ex.show()
    assert shown == [ex.fig]
    out = capsys.readouterr().out
    assert "ε = 0.150" in out and "predicted" in out
    titles = [ax.get_title() for ax in ex.fig.axes]
    assert any("adversarial, ε = 0.150" in t for t in titles)
    assert any("class probabilities (untargeted)" in t for t in titles)


def test_explorer_set_moves_the_controls(solution, digits):
    ex = _explorer(solution, digits)
    ex.set(eps=0.0)
    assert np.array_equal(ex.result.adversarial, ex.result.clean)
    ex.set(digit=5, eps=0.25, target=7)
    assert ex.result.target == 7 and ex.result.eps == 0.25
    assert ex.result.label == int(digits[1][5])
    assert "pushed to 7" in ex.status_line()
    ex.set(target=None)
    assert ex.result.target is None and "fooled" in ex.status_line()
    with pytest.raises(TypeError):
        ex.set(colour="red")


def test_explorer_live_widget_css_classes_and_drawing(monkeypatch, solution, digits):
    import coursekit.adversarial as adv
    import coursekit.interactive

    monkeypatch.setattr(adv, "is_headless", lambda: False)
    monkeypatch.setattr(coursekit.interactive, "is_headless", lambda: False)
    monkeypatch.setattr("IPython.display.display", lambda obj: None)
    ex = _explorer(solution, digits)
    assert "coursekit-attack" in ex.widget._dom_classes
    for name in ("source", "digit", "eps", "target", "clear", "status"):
        assert f"coursekit-attack-{name}" in getattr(ex, name)._dom_classes, name
    assert "coursekit-attack-canvas" in ex.draw_widget._dom_classes
    assert "coursekit-attack-figure" in ex.view_widget._dom_classes
    assert [v for _, v in ex.target.options] == [-1, *range(10)] and not ex.target.disabled
    # a slider move updates the status line and the figure
    ex.eps.value = 0.3
    assert "ε = 0.300" in ex.status.value and "ε = 0.300" in ex.view.ax_adv.get_title()
    ex.target.value = 2
    assert "pushed to 2" in ex.status.value

    # a stroke on the drawing canvas: press, move, release
    class Event:
        def __init__(self, row, col):
            self.inaxes, self.xdata, self.ydata = ex.draw_ax, col, row

    ex._on_press(Event(6, 10))
    for row in range(7, 22):
        ex._on_move(Event(row, 10 + (row - 6) // 3))
    assert ex.drawing.max() == pytest.approx(1.0) and ex.source.value == "test digit"
    ex._on_release(Event(21, 15))
    assert ex.source.value == "draw" and ex.digit.disabled
    assert ex.result.label is None and "your drawing" in ex.view.ax_clean.get_title()
    assert ex.status.value.startswith("<span>your drawing, ε = 0.300")
    centre = np.argwhere(ex.result.clean > 0.5).mean(axis=0)
    assert np.all(np.abs(centre - 13.5) < 2.5)  # centred like MNIST's digits
    ex.clear.click()
    assert ex.drawing.max() == 0 and ex.result.clean.max() == 0
    # each update redraws the status and the picture (its cost is measured in bench/, not here)
    ex.source.value = "test digit"
    ex.fig.canvas.draw()
    seen = set()
    for eps in np.linspace(0.01, 0.3, 4):
        ex.eps.value = float(eps)
        seen.add(ex.status.value)
    assert len(seen) == 4


def test_centred_drawing():
    from coursekit.adversarial import _centred

    d = np.zeros((28, 28), dtype=np.float32)
    d[2:8, 20:24] = 1.0
    c = _centred(d)
    assert c.sum() == d.sum()
    rows, cols = np.nonzero(c)
    assert abs(rows.mean() - 13.5) <= 0.5 and abs(cols.mean() - 13.5) <= 0.5
    assert _centred(np.zeros((28, 28))).sum() == 0


def test_pictures_headless():
    import matplotlib.pyplot as plt

    from coursekit import adversarial as adv

    img = np.zeros((28, 28))
    g = np.zeros((28, 28))
    g[10:15, 10:15] = 1
    figs = [
        adv.show_receptive_fields(img, [g, g], [(10, 10, 5), None], ["a", "b"]),
        adv.show_dreams({"row": [np.random.rand(28, 28)] * 10}, titles=[str(i) for i in range(10)]),
        adv.plot_accuracy_vs_eps([0, 0.1], {"FGSM": [0.99, 0.5]}),
        adv.plot_accuracy_vs_params(["a", "b"], [100, 200], [0.9, 0.95]),
        adv.show_attacks(
            np.zeros((3, 1, 28, 28)), np.full((3, 1, 28, 28), 0.1), [1, 2, 3], [1, 0, 3], title="t"
        ),
        adv.show_saliency(np.zeros((2, 28, 28)), np.random.randn(2, 28, 28), [0, 1]),
    ]
    assert all(f is not None for f in figs)
    assert figs[0].axes[0].patches and not figs[0].axes[1].patches
    for f in figs:
        plt.close(f)


# --- the notebook's claims, on a LeNet-5 ------------------------------------------------------------


def test_receptive_field_matches_the_gradient_on_lenet(solution):
    """The gradient of a middle unit of each stage reaches exactly the predicted window."""
    net = _lenet(solution, seed=3)
    x = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    predicted = solution["receptive_field"](LENET_LAYERS)
    start, jump_below = 0, 1
    for (size, jump), layer, middle in zip(predicted, LENET_LAYERS, (14, 7, 5, 2)):
        start -= layer.get("padding", 0) * jump_below
        for j in (middle, middle + 1):
            xi = x.clone().requires_grad_(True)
            out = net.stages(xi)[layer["name"]]
            channel = int(out[:, :, middle, middle].mean(0).argmax())
            out[:, channel, middle, j].sum().backward()
            grad = xi.grad.abs().sum(dim=(0, 1))
            rows = torch.nonzero(grad.sum(1)).flatten()
            cols = torch.nonzero(grad.sum(0)).flatten()
            assert (int(rows[0]), int(rows[-1])) == (
                start + middle * jump,
                start + middle * jump + size - 1,
            )
            assert (int(cols[0]), int(cols[-1])) == (start + j * jump, start + j * jump + size - 1)
        jump_below = jump
    assert predicted == [(5, 1), (6, 2), (14, 2), (16, 4)]


def test_convolution_is_equivariant_pooling_only_for_its_stride(solution):
    net = _lenet(solution, seed=1)
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    err = solution["equivariance_error"]
    with torch.no_grad():
        conv1 = [err(lambda z: net.stages(z)["conv1"], x, (s, s), 1, 6) for s in range(1, 5)]
        pool1 = [err(lambda z: net.stages(z)["pool1"], x, (s, s), 2, 3) for s in range(1, 5)]
    assert max(conv1) < 1e-6, conv1
    assert pool1[1] < 1e-6 and pool1[3] < 1e-6 and min(pool1[0], pool1[2]) > 0.05, pool1


def test_separable_counts_match_pytorch(solution):
    count = lambda *m: sum(p.numel() for layer in m for p in layer.parameters())  # noqa: E731
    for c_in, c_out, k, bias in ((6, 16, 5, True), (10, 20, 7, False), (32, 64, 3, True)):
        full, sep = solution["separable_params"](c_in, c_out, k, bias=bias)
        assert full == count(nn.Conv2d(c_in, c_out, k, bias=bias))
        assert sep == count(solution["DepthwiseSeparable"](c_in, c_out, k, bias=bias))
    full, sep = solution["separable_madds"](6, 16, 5, 10, 10)
    assert (full, sep) == (240_000, 24_600)  # LeNet-5's conv2, as the notebook prints


# --- the notebook and its test cells -----------------------------------------------------------------


def _assigned(src: str) -> set[str]:
    tree = ast.parse(_code(src))
    names = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    return names | {
        n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))
    }


# --- slow: the notebook top to bottom, and a class through the real grader ----------------------------


PARTIAL = ("receptive_field", "shift_image", "separable_params", "separable_madds", "fgsm")
WRONG = {  # answer: the validity case it takes (its words must be in the message)
    "receptive_field": "stride product forgotten",
    "saliency": "no model.eval()",
    "maximise_class": "gradient never cleared",
    "fgsm": "no sign",
    "fgsm_targeted": "steps up the target's loss",
    "one_pixel_attack": "several pixels change",
    "DepthwiseSeparable": "groups missing",
    "equivariance_error": "output shifted by the input's shift",
}


def _case(fn: str, what: str):
    return next(c for c in CASES if c.test == f"test_{fn}" and c.what == what)


def class_notebooks() -> dict:
    """This notebook's students in its graded class (beside the standard solution and blank)."""
    wrong = {}
    for fn, what in WRONG.items():
        wrong.update(_case(fn, what).answers)
    return {
        "partial": submission_from(
            REL, {f"answer_{fn}": CELLS[f"answer_{fn}"].source for fn in PARTIAL}
        ),
        "wrong": submission_from(SRC, wrong),
    }


register_students(A, class_notebooks)


@pytest.fixture
def graded(tmp_path_factory):
    return graded_class(A, tmp_path_factory), None


@pytest.mark.slow
def test_graded_partial_gets_exactly_its_score(graded):
    result, _ = graded
    p = result.get("partial", A)
    got = {e.grade_id: e.score for e in p.exercises}
    assert got == {f"test_{fn}": (POINTS[fn] if fn in PARTIAL else 0) for fn in POINTS}, [
        (e.grade_id, e.status, e.message) for e in p.exercises
    ]


@pytest.mark.slow
@pytest.mark.parametrize("fn", list(WRONG))
def test_graded_wrong_answers_fail_with_their_diagnosis(graded, fn):
    result, _ = graded
    e = result.get("wrong", A).exercise(f"test_{fn}")
    case = _case(fn, WRONG[fn])
    assert e.score == 0 and e.status == "failed", (e.status, e.message)
    assert all(w.lower() in e.message.lower() for w in case.words), e.message


@pytest.mark.slow
def test_graded_wrong_keeps_its_right_answers(graded):
    result, _ = graded
    w = result.get("wrong", A)
    right = [fn for fn in POINTS if fn not in WRONG]
    assert w.score == sum(POINTS[fn] for fn in right), [
        (e.grade_id, e.status, e.message) for e in w.exercises
    ]
