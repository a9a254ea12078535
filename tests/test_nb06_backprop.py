"""Notebook 06, backprop by hand: the backprop stepper, the test cells, and grading a class.

Fast tests: the stepper's model, view and widget driven by the solution's own ``Value`` (and by
engines with a wrong local derivative, a wrong forward value, an unwritten backward); the test
cells run in this process as the grader runs them (the solution passes, the stubs say "not
written yet", every case of tests/validity/nb06_backprop_by_hand.py gets its verdict); the
solution's LeNet-5 gradients against autograd. Slow tests execute the notebook top to bottom and
grade a small class with the real, sandboxed grader (once per module).

    .venv/bin/python -m pytest tests/test_nb06_backprop.py -x -q -m "not slow"   # ~10 s
    .venv/bin/python -m pytest tests/test_nb06_backprop.py -x -q                # ~1 min
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
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
from validity.nb06_backprop_by_hand import (
    AVG_OVERWRITE,
    CONV_SCATTER,
    CONV_STRIDE_IGNORED,
    GC_COPIES,
    GC_ONE_SIDED,
    LENET_AUTOGRAD,
    POOL_ALL_TIES,
    POOL_TORCH_UNFOLD,
    RELU_AT_ZERO,
    SIGMOID_AGAIN,
    SOFTMAX_NO_Y,
    SOFTMAX_ONE_HOT,
    TWO_LAYER_LIST,
    VALUE_OVERWRITE,
)

matplotlib.use("Agg")

A = "06_backprop_by_hand"
POINTS = {
    "Value": 4,
    "grad_check": 2,
    "affine_backward": 2,
    "relu_backward": 1,
    "sigmoid_backward": 1,
    "tanh_backward": 1,
    "softmax_cross_entropy": 2,
    "two_layer_net": 3,
    "conv2d_backward": 4,
    "maxpool_backward": 2,
    "avgpool_backward": 1,
    "lenet_loss": 3,
}
TOTAL = sum(POINTS.values())
SRC = source_notebook(A)
REL = release_notebook(A)
CELLS = cells_by_grade_id(SRC)
ORDER = [c.metadata["nbgrader"]["grade_id"] for c in SRC.cells if c.cell_type == "code"]
STUDENT_CELLS = [
    g
    for g in ORDER
    if g.startswith("answer_") or g in ("cell_setup", "cell_forwards", "cell_conv_forwards")
]
BLANK = {g: c.source for g, c in cells_by_grade_id(REL).items() if g.startswith("answer_")}


def student_namespace(answers: dict[str, str] | None = None) -> dict:
    """The student's kernel, in this process: the setup, the given layers and the answer cells."""
    ns: dict = {"__name__": "__main__"}
    for gid in STUDENT_CELLS:
        src = (answers or {}).get(gid, CELLS[gid].source)
        src = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith("%"))
        exec(compile(src, f"<{gid}>", "exec"), ns)
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


# --- the backprop stepper: model, view, widget ---------------------------------------------------


def _engine(solution, *replacements: tuple[str, str]):
    """The solution's Value class, with its source edited (a buggy engine)."""
    src = CELLS["answer_Value"].source
    for old, new in replacements:
        assert old in src, old
        src = src.replace(old, new)
    ns = {"math": solution["math"]}
    exec(compile(src, "<engine>", "exec"), ns)
    return ns["Value"]


def _neuron_graph(Value):
    from coursekit.backprop import NEURON_INPUTS, BackpropGraph, neuron

    leaves = {k: Value(v) for k, v in NEURON_INPUTS.items()}
    root, names = neuron(**leaves)
    return BackpropGraph(root, {**leaves, **names})


def test_stepper_model_follows_the_forward_then_the_backward_order(solution):
    g = _neuron_graph(solution["Value"])
    labels = [n.label for n in g.nodes]
    assert len(labels) == 10 and labels[-1] == "o"
    for i, node in enumerate(g.nodes):  # a forward order: every node after its inputs
        assert all(j < i for j in node.inputs)
    assert [g.forward_step() for _ in range(10)] == list(range(10))
    assert g.forward_step() is None and g.forward_done and "press Backward" in g.status()
    assert [g.backward_step() for _ in range(10)] == list(range(9, -1, -1))
    assert g.backward_step() is None
    grads = {
        n.label: n.grad for n in g.nodes
    }  # the lecture's worked example, by the student's engine
    for name, want in {
        "x1": -1.5,
        "w1": 1.0,
        "x2": 0.5,
        "w2": 0.0,
        "b": 0.5,
        "n": 0.5,
        "o": 1.0,
    }.items():
        assert grads[name] == pytest.approx(want, abs=1e-12)
    assert not g.problems()
    g.reset()
    assert (g.forward_shown, g.backward_shown) == (0, 0) and "press Forward" in g.status()


def test_stepper_status_names_the_messages(solution):
    g = _neuron_graph(solution["Value"])
    g.finish()
    g.backward_shown = 2  # the root, then n
    assert g.status().startswith(
        "backward 2/10: ∂L/∂n = 0.5 (= 0.5 from o); sends 0.5 to s, 0.5 to b"
    )
    g.backward_shown = 10
    assert "∂L/∂x1 = -1.5 (= -1.5 from x1·w1)" in g.status()


def test_stepper_node_used_twice_adds_its_messages(solution):
    from coursekit.backprop import BackpropGraph

    Value = solution["Value"]
    a, b = Value(0.5), Value(-2.0)
    g = BackpropGraph((a * b + a).tanh(), {"a": a, "b": b})
    g.finish()
    node_a = next(i for i, n in enumerate(g.nodes) if n.label == "a")
    users = [j for j, n in enumerate(g.nodes) if node_a in n.inputs]
    assert len(users) == 2
    assert sum(g.message(j, node_a) for j in users) == pytest.approx(g.nodes[node_a].grad)
    assert g.nodes[node_a].grad == pytest.approx(g.nodes[node_a].ref_grad)


def test_stepper_draws_a_wrong_local_derivative_red(solution):
    from coursekit.backprop import BackpropStepper

    Value = _engine(solution, ("(1.0 - t * t) * out.grad", "(1.0 - t) * out.grad"))
    g = _neuron_graph(Value)
    (bad,) = [n for n in g.nodes if n.problem]
    assert bad.label == "o" and "local derivative of 'tanh'" in bad.problem
    assert bad.local != pytest.approx(bad.ref_local)
    g.finish()
    fig = BackpropStepper(g).draw()
    faces = [matplotlib.colors.to_hex(p.get_facecolor()) for p in fig.axes[0].patches]
    assert faces.count("#f4a6a6") == 1  # exactly one red node
    assert "✘" in fig.texts[-1].get_text() and "tanh" in fig.texts[-1].get_text()


def test_stepper_draws_a_wrong_forward_value_red(solution):
    Value = _engine(
        solution,
        (
            'Value(math.exp(self.data), (self,), "exp")',
            'Value(math.exp(self.data) + 1.0, (self,), "exp")',
        ),
    )
    x = Value(0.3)
    from coursekit.backprop import BackpropGraph

    g = BackpropGraph((x * 2.0).exp(), {"x": x})
    assert [n.op for n in g.nodes if n.problem] == ["exp"]
    assert "forward" in g.problems()[0]


def test_stepper_without_a_backward_shows_the_forward_pass(solution):
    Value = _engine(
        solution,
        (
            "        visit(self)\n        self.grad = 1.0",
            "        raise NotImplementedError()\n        visit(self)\n        self.grad = 1.0",
        ),
    )
    g = _neuron_graph(Value)
    assert "not written yet" in g.backward_error and not g.problems()
    while g.forward_step() is not None:
        pass
    assert not g.can_backward and g.backward_step() is None and "not written yet" in g.status()


def test_stepper_headless_shows_one_static_picture(monkeypatch, solution, capsys):
    import coursekit.backprop as bp

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    monkeypatch.setattr(bp, "is_headless", lambda: True)
    stepper = bp.show_backprop_stepper(solution["Value"])
    assert len(shown) == 1 and type(shown[0]).__name__ == "Figure"
    assert stepper.graph.forward_done and stepper.graph.backward_shown == stepper.graph.n
    texts = [t.get_text() for t in shown[0].axes[0].texts]
    assert "grad -1.5" in texts and "data 0.7071" in texts
    # the blank notebook's Value: a sentence, no picture, no error
    blank = {"math": np}
    exec(compile(BLANK["answer_Value"], "<blank>", "exec"), blank)
    assert bp.show_backprop_stepper(blank["Value"]) is None
    assert "finish Exercise 1" in capsys.readouterr().out
    assert len(shown) == 1


def test_stepper_live_widget(monkeypatch, solution):
    import coursekit.backprop as bp
    import coursekit.interactive

    monkeypatch.setattr(bp, "is_headless", lambda: False)
    monkeypatch.setattr(coursekit.interactive, "is_headless", lambda: False)
    monkeypatch.setattr("IPython.display.display", lambda obj: None)
    stepper = bp.show_backprop_stepper(solution["Value"])
    box, c = stepper.widget, stepper.controls
    assert "coursekit-backprop" in box._dom_classes
    for name in ("forward", "backward", "reset", "status"):
        assert f"coursekit-backprop-{name}" in c[name]._dom_classes
    assert c["backward"].disabled and not c["forward"].disabled
    c["forward"].click()
    assert "forward 1/10: x1 = 2" in c["status"].value
    for _ in range(9):
        c["forward"].click()
    assert c["forward"].disabled and not c["backward"].disabled
    c["backward"].click()
    assert "backward 1/10: ∂L/∂o = 1" in c["status"].value
    assert "grad 1" in [t.get_text() for t in stepper.fig.axes[0].texts]
    c["reset"].click()
    assert (
        stepper.graph.forward_shown == 0
        and c["backward"].disabled
        and "press Forward" in c["status"].value
    )


def test_spiral_and_decision_boundary():
    import matplotlib.pyplot as plt

    from coursekit.backprop import make_spiral, plot_decision_boundary

    X, y = make_spiral(50, 4, seed=3)
    assert X.shape == (200, 2) and y.dtype == np.int64 and np.bincount(y).tolist() == [50] * 4
    assert np.abs(X).max() <= 1.0 + 1e-12
    fig, ax = plt.subplots()
    plot_decision_boundary(ax, lambda P: (P[:, 0] > 0).astype(int), X, y, resolution=20, title="t")
    assert ax.get_title() == "t"
    plt.close(fig)


# --- the notebook and its test cells ---------------------------------------------------------------


def test_worked_examples_are_visible_checks():
    from coursekit.notebooks import split_hidden

    visible = {fn: split_hidden(CELLS[f"test_{fn}"].source)[0] for fn in POINTS}
    assert "[2.0, -3.0, 0.0, 1.0, 6.8813735870195432]" in visible["Value"]
    assert "[[-0.34, 0.24, 0.10]]" in visible["softmax_cross_entropy"]
    assert "[[0, 1, 1], [2, 6, 4], [2, 5, 3]]" in visible["conv2d_backward"]
    assert "[[0, 0, 0, 0], [0, 1, 0, 2], [0, 0, 0, 0], [0, 3, 0, 4]]" in visible["maxpool_backward"]
    assert "dw = [[4, 4, 4], [6, 6, 6]]" in visible["affine_backward"]


def test_solution_lenet_gradients_match_autograd(solution):
    rng = np.random.default_rng(0)
    shapes = {
        "conv1.w": (6, 1, 5, 5),
        "conv1.b": (6,),
        "conv2.w": (16, 6, 5, 5),
        "conv2.b": (16,),
        "fc1.w": (400, 120),
        "fc1.b": (120,),
        "fc2.w": (120, 84),
        "fc2.b": (84,),
        "fc3.w": (84, 10),
        "fc3.b": (10,),
    }
    p = {k: rng.uniform(-0.2, 0.2, size=s) for k, s in shapes.items()}
    x = rng.normal(size=(6, 1, 28, 28))
    y = rng.integers(0, 10, size=6)
    loss, grads = solution["lenet_loss"](p, x, y)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    h = F.max_pool2d(
        torch.relu(F.conv2d(torch.tensor(x), t["conv1.w"], t["conv1.b"], padding=2)), 2
    )
    h = F.max_pool2d(torch.relu(F.conv2d(h, t["conv2.w"], t["conv2.b"])), 2).flatten(1)
    h = torch.relu(torch.relu(h @ t["fc1.w"] + t["fc1.b"]) @ t["fc2.w"] + t["fc2.b"])
    ref = F.cross_entropy(h @ t["fc3.w"] + t["fc3.b"], torch.tensor(y))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    for k, v in t.items():
        np.testing.assert_allclose(grads[k], v.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_solution_conv2d_backward_on_many_geometries(solution):
    rng = np.random.default_rng(5)
    for _ in range(25):
        n, c, f = rng.integers(1, 4, size=3)
        kh, kw, s, p = (
            int(v) for v in (*rng.integers(1, 6, size=2), rng.integers(1, 4), rng.integers(0, 3))
        )
        h, w = int(rng.integers(max(kh - 2 * p, 1), 12)), int(rng.integers(max(kw - 2 * p, 1), 12))
        x, wt, b = (
            rng.normal(size=(n, c, h, w)),
            rng.normal(size=(f, c, kh, kw)),
            rng.normal(size=f),
        )
        xt, wtt, bt = (torch.tensor(a, requires_grad=True) for a in (x, wt, b))
        out = F.conv2d(xt, wtt, bt, stride=s, padding=p)
        dout = rng.normal(size=out.shape)
        out.backward(torch.tensor(dout))
        got = solution["conv2d_backward"](dout, (x, wt, b, s, p))
        for g, r in zip(got, (xt.grad, wtt.grad, bt.grad)):
            np.testing.assert_allclose(g, r.numpy(), rtol=1e-9, atol=1e-10)


# --- slow: the notebook top to bottom, and a class through the real grader -------------------------


PARTIAL = {  # right answers written differently, and three leaf exercises wrong or blank
    "answer_grad_check": GC_COPIES,
    "answer_sigmoid_backward": SIGMOID_AGAIN,
    "answer_tanh_backward": None,
    "answer_softmax_cross_entropy": SOFTMAX_ONE_HOT,
    "answer_two_layer_net": TWO_LAYER_LIST,
    "answer_conv2d_backward": CONV_SCATTER,
    "answer_maxpool_backward": POOL_TORCH_UNFOLD,
    "answer_avgpool_backward": AVG_OVERWRITE,
}
PARTIAL_LOST = {"test_sigmoid_backward", "test_tanh_backward", "test_avgpool_backward"}
WRONG = {
    "answer_Value": VALUE_OVERWRITE,
    "answer_grad_check": GC_ONE_SIDED,
    "answer_relu_backward": RELU_AT_ZERO,
    "answer_softmax_cross_entropy": SOFTMAX_NO_Y,
    "answer_conv2d_backward": CONV_STRIDE_IGNORED,
    "answer_maxpool_backward": POOL_ALL_TIES,
    "answer_lenet_loss": LENET_AUTOGRAD,
}
WRONG_SAYS = {
    "test_grad_check": "one-sided",
    "test_relu_backward": "gradient at 0",
    "test_softmax_cross_entropy": "without subtracting y",
    "test_two_layer_net": "without subtracting y",  # it uses the wrong softmax_cross_entropy
    "test_conv2d_backward": "stride is ignored in dx",
    "test_maxpool_backward": "every tied maximum",
    "test_lenet_loss": "ready-made implementation",
}


def class_notebooks() -> dict:
    """This notebook's students in its graded class (beside the standard solution and blank)."""

    def sub(overrides):
        answers = {g: (BLANK[g] if v is None else v) for g, v in overrides.items()}
        return submission_from(SRC, answers)

    return {"partial": sub(PARTIAL), "wrong": sub(WRONG)}


register_students(A, class_notebooks)


@pytest.fixture
def graded(tmp_path_factory):
    return graded_class(A, tmp_path_factory), None


def _rows(result, student):
    return {e.grade_id: e for e in result.get(student, A).exercises}


@pytest.mark.slow
def test_graded_partial_gets_exactly_its_points(graded):
    result, _ = graded
    rows = _rows(result, "partial")
    got = {g: e.score for g, e in rows.items()}
    want = {f"test_{fn}": (0 if f"test_{fn}" in PARTIAL_LOST else p) for fn, p in POINTS.items()}
    assert got == want, [(g, e.status, e.message) for g, e in rows.items()]


@pytest.mark.slow
@pytest.mark.parametrize("test", list(WRONG_SAYS) + ["test_Value"])
def test_graded_wrong_answers_fail_with_their_diagnosis(graded, test):
    result, _ = graded
    e = _rows(result, "wrong")[test]
    assert e.score == 0 and e.status == "failed", (e.status, e.message)
    says = WRONG_SAYS.get(test, "overwritten instead of accumulated")
    assert says in e.message, e.message
