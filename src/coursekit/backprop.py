"""The backprop stepper: a scalar expression as a graph, its forward values and backward messages.

Notebook 06 shows it in one line, driven by the student's own ``Value`` engine::

    show_backprop_stepper(Value)                               # the tanh neuron, default inputs
    show_backprop_stepper(Value, lambda a, b: (a * b + a).tanh(), {"a": 0.5, "b": -2.0})

Live (JupyterLab) there are three buttons: *Forward* lights the next node in the forward
pass with its value, *Backward* (once the forward pass is done) lights the next node from the
root down with the message it received, ∂L/∂node, and writes on each of its input edges the
message it sends (local derivative × its own message); *Reset* starts again. A status line
says what the current node computed. Headless (tests, grading) it draws one static picture:
the whole graph after the backward pass.

Every number shown is the student's: the ``data`` of their nodes, the ``grad`` their
``backward()`` left, the local derivatives their ``_backward`` closures send (probed one node
at a time). Each node is also recomputed with ``torch.autograd`` from its inputs' values; a
node whose value or local derivative disagrees is drawn red, and the status says which.

The engine's contract (the notebook's ``Value``): attributes ``data`` (float), ``grad``
(float), ``_prev`` (tuple of input nodes, in order, repeats kept), ``_op`` (``"+"``, ``"*"``,
``"tanh"``, ``"exp"``, ``"log"``, ``"**k"``, or ``""`` for a leaf) and ``_backward`` (a
function of no arguments that adds the node's messages to its inputs' ``grad``).

Model (:class:`BackpropGraph`), view (:func:`draw_graph`) and widget (:class:`BackpropStepper`)
are separate. The CSS classes ``coursekit-backprop`` (the widget), ``coursekit-backprop-forward``,
``-backward``, ``-reset`` (the buttons) and ``-status`` (the status line) let browser tests find
them. Also here: :func:`make_spiral` (the 2-D data set of section 3) and
:func:`plot_decision_boundary`. Nothing in this module is an exercise's answer: it never
computes a gradient except with torch, as the reference.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .interactive import is_headless, live_figure

__all__ = [
    "BACKPROP_CSS_CLASS",
    "BackpropGraph",
    "BackpropStepper",
    "Node",
    "draw_graph",
    "make_spiral",
    "neuron",
    "plot_decision_boundary",
    "show_backprop_stepper",
]

BACKPROP_CSS_CLASS = "coursekit-backprop"

# The tanh neuron of Karpathy's micrograd lecture: o = tanh(x1·w1 + x2·w2 + b), b chosen so that
# n = 0.8814 and o = 1/√2; then do/dn = 1/2 and the gradients are round numbers.
NEURON_INPUTS = {"x1": 2.0, "w1": -3.0, "x2": 0.0, "w2": 1.0, "b": 6.881373587019543}


def neuron(x1: Any, w1: Any, x2: Any, w2: Any, b: Any) -> tuple[Any, dict[str, Any]]:
    """o = tanh(x1·w1 + x2·w2 + b), built from Values; returns (o, {name: intermediate node})."""
    x1w1 = x1 * w1
    x2w2 = x2 * w2
    s = x1w1 + x2w2
    n = s + b
    o = n.tanh()
    return o, {"x1·w1": x1w1, "x2·w2": x2w2, "s": s, "n": n, "o": o}


def _fmt(v: float | None) -> str:
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return "?" if v is None else str(v)
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4g}"


def _close(a: float | None, b: float | None, tol: float = 1e-6) -> bool:
    if a is None or b is None:
        return False
    return abs(a - b) <= tol * (1.0 + abs(b))


# --- the model ------------------------------------------------------------------------------


@dataclass
class Node:
    """One node of the graph as the stepper sees it (numbers are the student's)."""

    label: str
    op: str
    data: float
    inputs: list[int]  # indices of the input nodes, in order, repeats kept
    level: int = 0
    y: float = 0.0
    grad: float | None = None  # what the student's backward() left
    local: dict[int, float] = field(default_factory=dict)  # input index → ∂node/∂input
    ref_data: float | None = None  # torch, from the inputs' values
    ref_local: dict[int, float] = field(default_factory=dict)
    ref_grad: float | None = None  # torch.autograd through the whole graph
    problem: str = ""  # why the node is red ("" when it agrees with autograd)
    unwritten: bool = False  # its _backward raises NotImplementedError

    @property
    def is_leaf(self) -> bool:
        return not self.inputs


def _torch_op(op: str, args: list[Any]) -> Any:
    """The reference for one node, or None for an operation the stepper does not know."""
    import torch

    if op == "+" and args:
        out = args[0]
        for a in args[1:]:
            out = out + a
        return out
    if op == "*" and args:
        out = args[0]
        for a in args[1:]:
            out = out * a
        return out
    if len(args) == 1:
        if op == "tanh":
            return torch.tanh(args[0])
        if op == "exp":
            return torch.exp(args[0])
        if op == "log":
            return torch.log(args[0])
        if op.lower() == "relu":
            return torch.relu(args[0])
        if op == "sigmoid":
            return torch.sigmoid(args[0])
        if op.startswith("**"):
            try:
                k = float(op[2:])
            except ValueError:
                return None
            return args[0] ** k
    return None


class BackpropGraph:
    """The graph under a root node of a Value engine, its numbers, and the stepper's position.

    root: the output node. names: {label: node} for the nodes to name (leaves, intermediates);
    the others are called v1, v2, ... Building the model probes every node's ``_backward`` once
    (to read its local derivatives), then runs the student's ``root.backward()`` once.
    """

    def __init__(self, root: Any, names: Mapping[str, Any] | None = None) -> None:
        self.root_obj = root
        self.objects: list[Any] = []
        self.nodes: list[Node] = []
        self.backward_error = ""
        self.forward_shown = 0  # nodes lit in the forward pass
        self.backward_shown = 0  # nodes lit in the backward pass
        self._collect(root, names or {})
        self._layout()
        self._probe_local_derivatives()
        self._reference()
        self._run_backward()

    # building ----------------------------------------------------------------------------------
    def _collect(self, root: Any, names: Mapping[str, Any]) -> None:
        """Nodes in a forward order (inputs before the nodes that use them), without recursion."""
        index: dict[int, int] = {}
        order: list[Any] = []
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            obj, expanded = stack.pop()
            if id(obj) in index:
                continue
            if expanded:
                index[id(obj)] = len(order)
                order.append(obj)
                continue
            stack.append((obj, True))
            for child in reversed(tuple(getattr(obj, "_prev", ()))):
                if id(child) not in index:
                    stack.append((child, False))
        label_of = {id(v): k for k, v in names.items()}
        count = 0
        for obj in order:
            inputs = [index[id(c)] for c in tuple(getattr(obj, "_prev", ()))]
            label = label_of.get(id(obj))
            if label is None:
                count += 1
                label = f"v{count}"
            self.nodes.append(
                Node(label, str(getattr(obj, "_op", "") or ""), float(obj.data), inputs)
            )
        self.objects = order
        self.index = index

    def _layout(self) -> None:
        nodes = self.nodes
        for n in nodes:  # longest path from the leaves (inputs come first in `nodes`)
            n.level = 1 + max((nodes[i].level for i in n.inputs), default=-1)
        consumers: dict[int, list[int]] = {i: [] for i in range(len(nodes))}
        for j, n in enumerate(nodes):
            for i in n.inputs:
                consumers[i].append(j)
        for i, n in enumerate(nodes):  # a leaf sits just left of its first consumer
            if n.is_leaf and consumers[i]:
                n.level = max(min(nodes[j].level for j in consumers[i]) - 1, 0)
        levels: dict[int, list[int]] = {}
        for i, n in enumerate(nodes):
            levels.setdefault(n.level, []).append(i)
        for lv in sorted(levels):
            members = levels[lv]
            key = {}
            for rank, i in enumerate(members):
                ins = nodes[i].inputs
                key[i] = (np.mean([nodes[k].y for k in ins]) if ins and lv else rank, rank)
            members.sort(key=lambda i: key[i])
            for rank, i in enumerate(members):
                nodes[i].y = rank - (len(members) - 1) / 2
        self.n_levels = max(levels) + 1 if levels else 1

    def _probe_local_derivatives(self) -> None:
        """Each node's own local derivatives: grads zeroed, its grad set to 1, its _backward."""
        objs = self.objects
        saved = [getattr(o, "grad", 0.0) for o in objs]
        for obj, node in zip(objs, self.nodes):
            if node.is_leaf:
                continue
            for o in objs:
                o.grad = 0.0
            obj.grad = 1.0
            try:
                obj._backward()
            except NotImplementedError:
                node.unwritten = True
                continue
            except Exception as exc:
                node.problem = f"its _backward raised {type(exc).__name__}: {exc}"
                continue
            for i in set(node.inputs):
                node.local[i] = float(objs[i].grad)
        for o, g in zip(objs, saved):
            o.grad = g

    def _reference(self) -> None:
        import torch

        nodes = self.nodes
        for node in nodes:  # each node alone, from its inputs' (student's) values
            if node.is_leaf:
                continue
            leaves = {
                i: torch.tensor(nodes[i].data, dtype=torch.float64, requires_grad=True)
                for i in set(node.inputs)
            }
            try:
                out = _torch_op(node.op, [leaves[i] for i in node.inputs])
            except Exception:
                out = None
            if out is None:
                continue
            node.ref_data = float(out.detach())
            grads = torch.autograd.grad(out, [leaves[i] for i in leaves], allow_unused=True)
            node.ref_local = {i: (0.0 if g is None else float(g)) for i, g in zip(leaves, grads)}
        tensors: list[Any] = []  # the whole graph, for the reference gradients
        for node in nodes:
            if node.is_leaf:
                tensors.append(torch.tensor(node.data, dtype=torch.float64, requires_grad=True))
                continue
            out = _torch_op(node.op, [tensors[i] for i in node.inputs])
            if out is None:
                return
            tensors.append(out)
        grads = torch.autograd.grad(tensors[-1], tensors, allow_unused=True)
        for node, g in zip(nodes, grads):
            node.ref_grad = 0.0 if g is None else float(g)
        self._mark_problems()

    def _mark_problems(self) -> None:
        for node in self.nodes:
            if node.is_leaf or node.problem or node.unwritten or node.ref_data is None:
                continue
            if not _close(node.data, node.ref_data, 1e-9):
                node.problem = (
                    f"{node.label} = {node.op}(…) is {_fmt(node.data)}, "
                    f"autograd's forward gives {_fmt(node.ref_data)}"
                )
                continue
            for i, want in node.ref_local.items():
                got = node.local.get(i)
                if not _close(got, want):
                    node.problem = (
                        f"∂{node.label}/∂{self.nodes[i].label} is {_fmt(got)}, "
                        f"autograd says {_fmt(want)}: the local derivative of '{node.op}' is wrong"
                    )
                    break

    def _run_backward(self) -> None:
        try:
            self.root_obj.backward()
        except NotImplementedError:
            self.backward_error = "backward() is not written yet: the backward pass can't be shown"
            return
        except Exception as exc:
            self.backward_error = f"backward() raised {type(exc).__name__}: {exc}"
            return
        for obj, node in zip(self.objects, self.nodes):
            node.grad = float(obj.grad)

    # the stepper's position ----------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.nodes)

    @property
    def forward_done(self) -> bool:
        return self.forward_shown >= self.n

    @property
    def can_backward(self) -> bool:
        return self.forward_done and not self.backward_error and self.backward_shown < self.n

    def forward_step(self) -> int | None:
        """Light the next node of the forward pass; returns its index (None when all are lit)."""
        if self.forward_done:
            return None
        self.forward_shown += 1
        return self.forward_shown - 1

    def backward_step(self) -> int | None:
        """Light the next node of the backward pass (root first); None when it can't go on."""
        if not self.can_backward:
            return None
        self.backward_shown += 1
        return self.n - self.backward_shown

    def reset(self) -> None:
        self.forward_shown = self.backward_shown = 0

    def finish(self) -> None:
        """Everything lit: the static picture."""
        self.forward_shown = self.n
        self.backward_shown = 0 if self.backward_error else self.n

    def forward_lit(self, i: int) -> bool:
        return i < self.forward_shown

    def backward_lit(self, i: int) -> bool:
        return i >= self.n - self.backward_shown

    def message(self, src: int, dst: int) -> float | None:
        """The message node `src` sends to its input `dst`: local derivative × src's grad."""
        node = self.nodes[src]
        if node.grad is None or dst not in node.local:
            return None
        return node.local[dst] * node.grad

    def problems(self) -> list[str]:
        return [n.problem for n in self.nodes if n.problem]

    def status(self) -> str:
        """One line about the current step (what a person reads under the picture)."""
        nodes = self.nodes
        if self.backward_shown:
            i = self.n - self.backward_shown
            node = nodes[i]
            users = [(j, m) for j, m in enumerate(nodes) if i in m.inputs and self.backward_lit(j)]
            parts = [f"{_fmt(self.message(j, i))} from {nodes[j].label}" for j, _ in users]
            got = f"∂L/∂{node.label} = {_fmt(node.grad)}" + (
                f" (= {' + '.join(parts)})" if parts else " (the root: ∂L/∂L = 1)"
            )
            sends = ", ".join(
                f"{_fmt(self.message(i, k))} to {nodes[k].label}"
                for k in dict.fromkeys(node.inputs)
            )
            text = f"backward {self.backward_shown}/{self.n}: {got}" + (
                f"; sends {sends}" if sends else ""
            )
        elif self.forward_shown:
            i = self.forward_shown - 1
            node = nodes[i]
            head = f"forward {self.forward_shown}/{self.n}"
            if node.is_leaf:
                text = f"{head}: {node.label} = {_fmt(node.data)} (an input)"
            else:
                args = ", ".join(nodes[k].label for k in node.inputs)
                text = f"{head}: {node.label} = {node.op}({args}) = {_fmt(node.data)}"
            if self.forward_done:
                text += (
                    "  — now press Backward"
                    if not self.backward_error
                    else f"  — {self.backward_error}"
                )
        else:
            text = f"{self.n} nodes: press Forward to compute them one at a time"
        problems = self.problems()
        if problems:
            text += f"  ✘ {problems[0]}"
        return text


# --- the view ---------------------------------------------------------------------------------

_GREY, _FWD, _BWD, _RED = "#EEEEEE", "#DCEBFA", "#FDE3BF", "#F4A6A6"


def draw_graph(graph: BackpropGraph, ax: Any, *, current: int | None = None) -> None:
    """Draw `graph` on `ax`: inputs left, the root right; lit nodes with their numbers."""
    from matplotlib.patches import FancyBboxPatch

    ax.clear()
    nodes = graph.nodes
    pos = {i: (2.6 * n.level, -1.35 * n.y) for i, n in enumerate(nodes)}
    w, h = 1.7, 0.95
    for j, node in enumerate(nodes):  # edges first, under the boxes
        for i in dict.fromkeys(node.inputs):
            (x0, y0), (x1, y1) = pos[i], pos[j]
            lit = graph.backward_lit(j) and graph.backward_shown
            color = "#D55E00" if lit else ("0.35" if graph.forward_lit(j) else "0.8")
            # an edge that skips a level bends (up when it comes from above), clear of the boxes
            rad = 0.0 if nodes[j].level - nodes[i].level <= 1 else (-0.3 if y0 >= y1 else 0.3)
            ax.annotate(
                "",
                xy=(x1 - w / 2, y1),
                xytext=(x0 + w / 2, y0),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": color,
                    "lw": 1.6 if lit else 1.0,
                    "shrinkA": 0,
                    "shrinkB": 0,
                    "connectionstyle": f"arc3,rad={rad}",
                },
            )
            dx, dy = (x1 - w / 2) - (x0 + w / 2), y1 - y0
            mx, my = (x0 + x1) / 2 + 0.5 * rad * dy, (y0 + y1) / 2 - 0.5 * rad * dx
            times = node.inputs.count(i)
            if lit:
                msg = graph.message(j, i)
                ax.text(
                    mx,
                    my + 0.12,
                    f"← {_fmt(msg)}",
                    color="#D55E00",
                    fontsize=7.5,
                    ha="center",
                    va="bottom",
                    bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 0.5},
                )
            elif times > 1 and graph.forward_lit(j):
                ax.text(mx, my + 0.12, f"×{times}", fontsize=7.5, ha="center")
    for i, node in enumerate(nodes):
        x, y = pos[i]
        fwd, bwd = graph.forward_lit(i), graph.backward_lit(i) and graph.backward_shown
        face = _RED if node.problem and fwd else (_BWD if bwd else (_FWD if fwd else _GREY))
        edge = "#C0392B" if node.problem and fwd else "black"
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0.04",
                fc=face,
                ec=edge,
                lw=2.6 if i == current else 1.0,
            )
        )
        title = node.label if node.is_leaf else f"{node.label} = {node.op}"
        ax.text(x, y + 0.26, title, ha="center", va="center", fontsize=8.5, fontweight="bold")
        ax.text(
            x,
            y + 0.0,
            f"data {_fmt(node.data)}" if fwd else "data ?",
            ha="center",
            va="center",
            fontsize=8,
        )
        if bwd:
            bad = node.ref_grad is not None and not _close(node.grad, node.ref_grad, 1e-5)
            ax.text(
                x,
                y - 0.26,
                f"grad {_fmt(node.grad)}",
                ha="center",
                va="center",
                fontsize=8,
                color="#C0392B" if bad else "#A04000",
                fontweight="bold",
            )
        elif node.unwritten and fwd:
            ax.text(
                x,
                y - 0.26,
                "_backward: not written",
                ha="center",
                va="center",
                fontsize=6.5,
                color="0.4",
            )
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    ax.set_xlim(min(xs) - w, max(xs) + w)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 1.0)
    ax.set_aspect("equal")
    ax.axis("off")


# --- the widget -------------------------------------------------------------------------------


class BackpropStepper:
    """Forward / Backward / Reset buttons over a :class:`BackpropGraph`, drawn with matplotlib."""

    def __init__(self, graph: BackpropGraph, *, title: str = "") -> None:
        self.graph = graph
        self.title = title
        self.current: int | None = None
        self.fig = None
        self.view = None
        self.widget = None
        self.controls: dict[str, Any] = {}
        self._lock = threading.RLock()  # ipympl may render while draw() rebuilds (see stepper.py)

    def draw(self):
        with self._lock:
            if self.fig is None:
                width = max(6.0, 1.75 * self.graph.n_levels + 1.0)
                self.fig, self.view = live_figure(figsize=(min(width, 11.0), 4.2))
                self.ax = self.fig.add_axes((0.01, 0.08, 0.98, 0.82))
                if self.view is not None:
                    render = self.fig.canvas.draw

                    def locked_render(*args, **kwargs):
                        with self._lock:
                            return render(*args, **kwargs)

                    self.fig.canvas.draw = locked_render
            draw_graph(self.graph, self.ax, current=self.current)
            status = self.graph.status()
            self.fig.suptitle(
                self.title or "forward: values left to right · backward: messages right to left",
                fontsize=9,
            )
            self.fig.texts.clear()
            self.fig.text(
                0.01, 0.02, status if len(status) < 150 else status[:147] + "…", fontsize=8
            )
            if hasattr(self.fig.canvas, "_force_full"):
                self.fig.canvas._force_full = True  # whole frames, not diffs (see stepper.py)
            self.fig.canvas.draw_idle()
            return self.fig

    def forward(self) -> None:
        self.current = self.graph.forward_step()
        self._update()

    def backward(self) -> None:
        self.current = self.graph.backward_step()
        self._update()

    def reset(self) -> None:
        self.graph.reset()
        self.current = None
        self._update()

    def _update(self) -> None:
        self.draw()
        c = self.controls
        if c:
            c["forward"].disabled = self.graph.forward_done
            c["backward"].disabled = not self.graph.can_backward
            c["status"].value = self.graph.status()

    def build_widget(self):
        """The live widget: three buttons, the status line and the figure."""
        import ipywidgets as widgets

        self.draw()
        fwd = widgets.Button(
            description="Forward", icon="step-forward", tooltip="light the next node"
        )
        bwd = widgets.Button(
            description="Backward",
            icon="step-backward",
            tooltip="send the next node's messages to its inputs",
        )
        rst = widgets.Button(description="Reset", icon="undo")
        status = widgets.HTML(value=self.graph.status())
        for name, w in (("forward", fwd), ("backward", bwd), ("reset", rst), ("status", status)):
            w.add_class(f"{BACKPROP_CSS_CLASS}-{name}")
            self.controls[name] = w
        fwd.on_click(lambda _: self.forward())
        bwd.on_click(lambda _: self.backward())
        rst.on_click(lambda _: self.reset())
        self._update()
        box = widgets.VBox([widgets.HBox([fwd, bwd, rst]), status, self.view])
        box.add_class(BACKPROP_CSS_CLASS)
        self.widget = box
        return box


def show_backprop_stepper(
    value_class: Callable[[float], Any],
    build: Callable[..., Any] | None = None,
    inputs: Mapping[str, float] | None = None,
    *,
    title: str = "",
) -> BackpropStepper | None:
    """Build an expression with the student's Value class and show it as a stepper.

    value_class: the engine (called as value_class(number) for each input).
    build: a function of the inputs (Values, as keyword arguments named like `inputs`) that
    returns the root, or (root, {name: intermediate node}). Default: the tanh neuron
    :func:`neuron`. inputs: {name: number} (default :data:`NEURON_INPUTS`).
    Live: the widget; headless: one static picture (everything computed). Returns the stepper,
    or None (with a sentence printed) when the engine can't build the expression yet.
    """
    from IPython.display import display

    build = neuron if build is None else build
    if inputs is None:
        if build is not neuron:
            inputs = {p: 1.0 for p in inspect.signature(build).parameters}
        else:
            inputs = NEURON_INPUTS
    leaves = {k: value_class(float(v)) for k, v in inputs.items()}
    try:
        out = build(**leaves)
    except NotImplementedError:
        print("The stepper needs your Value's operations: finish Exercise 1 first.")
        return None
    root, names = out if isinstance(out, tuple) else (out, {})
    stepper = BackpropStepper(BackpropGraph(root, {**leaves, **names}), title=title)
    if is_headless():
        stepper.graph.finish()
        display(stepper.draw())
    else:
        display(stepper.build_widget())
    return stepper


# --- the 2-D data set of section 3, and its picture -----------------------------------------------


def make_spiral(
    n_per_class: int = 100, n_classes: int = 3, *, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """cs231n's spiral: `n_classes` arms of `n_per_class` points in the plane.

    Returns X float64 (N, 2) with N = n_per_class · n_classes and y int64 (N,) in 0..n_classes-1.
    No straight line separates two arms: a linear classifier gets about 1/n_classes right.
    """
    rng = np.random.default_rng(seed)
    X = np.zeros((n_per_class * n_classes, 2))
    y = np.zeros(n_per_class * n_classes, dtype=np.int64)
    for k in range(n_classes):
        ix = slice(n_per_class * k, n_per_class * (k + 1))
        r = np.linspace(0.0, 1.0, n_per_class)
        t = np.linspace(k * 4.0, (k + 1) * 4.0, n_per_class) + rng.normal(size=n_per_class) * noise
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = k
    return X, y


def plot_decision_boundary(
    ax: Any,
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    *,
    resolution: int = 200,
    title: str = "",
) -> None:
    """The regions where `predict` (X (M, 2) → class ids (M,)) answers each class, and the data.

    X (N, 2), y (N,) ints: the points, coloured by their true class.
    """
    X, y = np.asarray(X, dtype=float), np.asarray(y)
    pad = 0.15 * (X.max(0) - X.min(0))
    lo, hi = X.min(0) - pad, X.max(0) + pad
    gx, gy = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    regions = np.asarray(predict(np.c_[gx.ravel(), gy.ravel()])).reshape(gx.shape)
    k = int(max(regions.max(), y.max())) + 1
    ax.contourf(
        gx, gy, regions, levels=np.arange(k + 1) - 0.5, cmap="tab10", vmin=0, vmax=9, alpha=0.25
    )
    ax.scatter(
        X[:, 0], X[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=12, edgecolors="k", linewidths=0.3
    )
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
