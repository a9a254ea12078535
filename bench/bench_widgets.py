"""The other notebooks' widgets: kernel ms per control change, as bench_explorer.py measures.

    .venv/bin/python bench/bench_widgets.py [--repeat 9]

* the convolution stepper (04): the position slider, the stride slider (a new geometry); its
  baseline also rebuilds the whole picture on every change (what it did before it moved only
  the window, the filled cells and the title on a new position);
* the backprop stepper (06): Forward and Backward (one node lit / one message sent), Reset;
* the adversarial explorer (07): the digit slider, the ε slider, the target menu (an FGSM
  attack, the saliency map and the five-panel figure each time), on an untrained LeNet-sized
  CNN (the compute is the same as with trained weights).

Each change is timed end to end as widgetbench.py says (observers, the redraws JupyterLab asks
for, the PNG frames); budget 100 ms. The baseline beside each: the same widget with its whole
figure redrawn and encoded with matplotlib's stock PNG encoder on every change (widgetbench's
``full_redraw``). The optimizer race has its own bench (bench_race.py), as have the
loss-surface explorer (bench_explorer.py) and the gradient-flow explorer (bench_gradflow.py).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
from widgetbench import Browser, Row, full_redraw, live, machine, print_rows, time_changes


def _stepper(baseline: bool):
    from coursekit.stepper import ConvStepper

    x = np.arange(1.0, 50.0).reshape(7, 7) % 10
    s = ConvStepper(x, np.ones((3, 3)))
    s.build_widget()
    if baseline:
        full_redraw(s.fig.canvas)
    return s, Browser(s.fig.canvas)


def stepper_rows(repeat: int) -> list[Row]:
    a, ba = _stepper(False)
    b, bb = _stepper(True)
    out = []
    changes = {
        "position slider": lambda s, i: setattr(s.controls["position"], "value", (i * 3) % 25),
        "stride slider (new geometry)": lambda s, i: setattr(
            s.controls["stride"], "value", 1 + i % 3
        ),
    }

    def rebuilt(c, i):  # the baseline: every change rebuilds the whole picture (as before)
        b._built = None
        c(b, i)

    for name, change in changes.items():
        t, tb, cpu = time_changes(
            lambda i, c=change: c(a, i),
            [ba],
            repeat,
            baseline=lambda i, c=change: rebuilt(c, i),
            baseline_browsers=[bb],
        )
        out.append(Row("convolution stepper (04)", name, t, tb, cpu=cpu))
    return out


class Value:
    """A small autograd engine, the answer of notebook 06's first exercise (what the stepper
    draws is the graph such a class builds)."""

    def __init__(self, data, _children=(), _op=""):
        self.data, self.grad = float(data), 0.0
        self._prev, self._op = tuple(_children), _op
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    __radd__ = __add__

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    __rmul__ = __mul__

    def tanh(self):
        t = float(np.tanh(self.data))
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t * t) * out.grad

        out._backward = _backward
        return out

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for c in v._prev:
                    visit(c)
                order.append(v)

        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


def _backprop(baseline: bool):
    from coursekit.backprop import NEURON_INPUTS, BackpropGraph, BackpropStepper, neuron

    leaves = {k: Value(v) for k, v in NEURON_INPUTS.items()}
    out = neuron(**leaves)
    root, names = out if isinstance(out, tuple) else (out, {})
    s = BackpropStepper(BackpropGraph(root, {**leaves, **names}))
    s.build_widget()
    if baseline:
        full_redraw(s.fig.canvas)
    return s, Browser(s.fig.canvas)


def backprop_rows(repeat: int) -> list[Row]:
    a, ba = _backprop(False)
    b, bb = _backprop(True)

    def step(s, i):  # forward through the graph, then backward, then reset: every kind of click
        if not s.graph.forward_done:
            s.forward()
        elif s.graph.can_backward:
            s.backward()
        else:
            s.reset()

    t, tb, cpu = time_changes(
        lambda i: step(a, i), [ba], repeat, baseline=lambda i: step(b, i), baseline_browsers=[bb]
    )
    return [Row("backprop stepper (06)", "Forward / Backward / Reset", t, tb, cpu=cpu)]


def _attack(baseline: bool):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from coursekit.adversarial import AttackExplorer

    def fgsm(model, x, y, eps, lo=0.0, hi=1.0):  # notebook 07's answers
        x = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
        return (x + eps * g.sign()).clamp(lo, hi).detach()

    def fgsm_targeted(model, x, target, eps, lo=0.0, hi=1.0):
        x = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(x), target), x)
        return (x - eps * g.sign()).clamp(lo, hi).detach()

    def saliency(model, x, cls):
        x = x.detach().clone().requires_grad_(True)
        cls = torch.as_tensor(cls).long().reshape(-1).expand(len(x))
        (g,) = torch.autograd.grad(model(x).gather(1, cls.view(-1, 1)).sum(), x)
        return g.detach()

    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    ).eval()  # fmt: skip
    rng = np.random.default_rng(0)
    images = (rng.random((50, 28, 28)) * 255).astype(np.uint8)
    labels = rng.integers(0, 10, 50)
    ex = AttackExplorer(cnn, fgsm, saliency, images, labels, fgsm_targeted=fgsm_targeted)
    if baseline:
        full_redraw(ex.fig.canvas)
    return ex, Browser(ex.fig.canvas)


def attack_rows(repeat: int) -> list[Row]:
    a, ba = _attack(False)
    b, bb = _attack(True)
    targets = [opt[1] if isinstance(opt, tuple) else opt for opt in a.target.options]
    changes = {
        "digit slider": lambda e, i: setattr(e.digit, "value", (i * 7) % 50),
        "ε slider": lambda e, i: setattr(e.eps, "value", (0.05, 0.15, 0.25)[i % 3]),
        "target menu": lambda e, i: setattr(e.target, "value", targets[i % len(targets)]),
    }
    out = []
    for name, change in changes.items():
        t, tb, cpu = time_changes(
            lambda i, c=change: c(a, i),
            [ba],
            repeat,
            baseline=lambda i, c=change: c(b, i),
            baseline_browsers=[bb],
        )
        out.append(Row("adversarial explorer (07)", name, t, tb, cpu=cpu))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    live()
    print(machine())
    title = "kernel ms per control change, median (baseline: the whole figure redrawn, stock PNG)"
    print_rows(stepper_rows(args.repeat), f"convolution stepper (04): {title}")
    print_rows(backprop_rows(args.repeat), f"backprop stepper (06): {title}")
    print_rows(attack_rows(args.repeat), f"adversarial explorer (07): {title}")


if __name__ == "__main__":
    main()
