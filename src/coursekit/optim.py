"""Optimizers behind one small contract, and the trajectories notebook 03's test cells compare.

An optimizer here is anything with ``step(w, g, lr=None) -> new w`` on NumPy float64 arrays (the
student's classes in notebook 03 follow that contract). This module holds no update rule of its
own — so no exercise answer:

- :class:`TorchStepper` — a ``torch.optim`` optimizer behind that contract (the reference);
- :func:`torch_path` / :func:`student_path` — the trajectory of a reference / a student optimizer
  on a gradient function (called step by step with plain arrays);
- :func:`first_divergence` / :func:`report_divergence` — the first step at which two trajectories
  part, and by how much (what a visible check prints);
- :func:`StudentOptimizer` — the student's class as a ``torch.optim.Optimizer``, to train a network.

The test cells import these (they run in the grader's process, outside the student's kernel).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "TorchStepper",
    "torch_path",
    "student_path",
    "first_divergence",
    "report_divergence",
    "StudentOptimizer",
]

Array = np.ndarray


class TorchStepper:
    """A ``torch.optim`` optimizer on one float64 parameter vector, used as ``step(w, g) -> w``.

    >>> s = TorchStepper("Adam", lr=0.1)
    >>> s.step(np.array([1.0, 2.0]), np.array([0.5, -0.5]))   # array([0.9, 2.1])
    """

    def __init__(self, torch_cls: str | type, **hp: Any) -> None:
        import torch

        self.cls = getattr(torch.optim, torch_cls) if isinstance(torch_cls, str) else torch_cls
        self.hp = dict(hp)
        self._torch = torch
        self._p: Any = None
        self._opt: Any = None

    @property
    def lr(self) -> float:
        return float(self.hp.get("lr", 1e-3))

    def step(self, w: Array, g: Array, lr: float | None = None) -> Array:
        torch = self._torch
        w = np.asarray(w, dtype=np.float64)
        if self._p is None or self._p.shape != w.shape:
            self._p = torch.zeros(w.shape, dtype=torch.float64, requires_grad=True)
            self._opt = self.cls([self._p], **self.hp)
        with torch.no_grad():
            self._p.copy_(torch.from_numpy(np.array(w, dtype=np.float64)))
        self._p.grad = torch.from_numpy(np.array(g, dtype=np.float64))
        if lr is not None:
            self._opt.param_groups[0]["lr"] = float(lr)
        self._opt.step()
        return self._p.detach().numpy().copy()


# --- trajectories for the test cells ------------------------------------------------------------


def torch_path(
    torch_cls: str | type,
    grad_fn: Callable[[Array], Array],
    w0: Any,
    steps: int,
    lrs: Sequence[float] | None = None,
    **hp: Any,
) -> Array:
    """The trajectory (steps + 1, d) of ``torch.optim.<torch_cls>(**hp)`` in float64 from w0,
    with gradients ``grad_fn(w)``; lrs: a learning rate per step (a schedule), or None."""
    opt = TorchStepper(torch_cls, **hp)
    w = np.array(w0, dtype=np.float64)
    out = [w.copy()]
    for t in range(steps):
        w = opt.step(w, grad_fn(w), None if lrs is None else float(lrs[t]))
        out.append(w.copy())
    return np.array(out)


def student_path(
    opt: Any,
    grad_fn: Callable[[Array], Array],
    w0: Any,
    steps: int,
    lrs: Sequence[float] | None = None,
    *,
    name: str = "step",
) -> Array:
    """The trajectory (steps + 1, d) of a student's optimizer object, called as
    ``opt.step(w, g)`` (or ``opt.step(w, g, lr)`` with a schedule) with plain float64 arrays.

    Stops early (returning what it has, padded with NaN) when step returns something that is
    not an array of the right shape, so that the check that follows says what went wrong.
    """
    from .checks import CheckFailed, to_numpy

    w = np.array(w0, dtype=np.float64)
    out = [w.copy()]
    for t in range(steps):
        g = np.asarray(grad_fn(w), dtype=np.float64)
        res = (
            opt.step(w.copy(), g.copy())
            if lrs is None
            else opt.step(w.copy(), g.copy(), float(lrs[t]))
        )
        if res is None:
            raise CheckFailed(
                f"{name}: step(w, g) returned None; it must return the new parameters "
                "(a NumPy array shaped like w)."
            )
        new = to_numpy(res).astype(np.float64)
        if new.shape != w.shape:
            raise CheckFailed(
                f"{name}: step(w, g) returned an array of shape {new.shape}, "
                f"not the shape of w {w.shape}."
            )
        w = new
        out.append(w.copy())
    return np.array(out)


def first_divergence(
    mine: Any, ref: Any, rtol: float = 1e-10, atol: float = 1e-12
) -> tuple[int, float] | None:
    """The first step t at which trajectories (T, d) differ beyond tolerance, and the largest
    |difference| at that step; None if they agree everywhere."""
    a = np.asarray(mine, dtype=np.float64)
    b = np.asarray(ref, dtype=np.float64)
    n = min(len(a), len(b))
    for t in range(n):
        d = np.abs(a[t] - b[t])
        if not np.all(np.isfinite(a[t])) or np.any(d > atol + rtol * np.abs(b[t])):
            return t, float(np.nanmax(d)) if np.any(np.isfinite(d)) else math.inf
    return None


def report_divergence(
    name: str,
    mine: Any,
    ref: Any,
    *,
    against: str = "torch",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    suspects: str = "",
) -> bool:
    """Print whether `mine` follows `ref` and, if not, the first step where it leaves it and by
    how much (the visible checks of notebook 03). Returns True if they agree at every step.
    Only prints: the verdict is a check."""
    a = np.asarray(mine, dtype=np.float64)
    b = np.asarray(ref, dtype=np.float64)
    hit = first_divergence(a, b, rtol, atol)
    if hit is None and a.shape == b.shape:
        err = float(np.max(np.abs(a - b))) if a.size else 0.0
        print(f"✓ {name}: same path as {against} for all {len(b) - 1} steps (max |Δw| = {err:.1e})")
        return True
    if hit is None:
        print(f"✗ {name}: your path has {len(a) - 1} steps, {against}'s {len(b) - 1}.")
        return False
    t, d = hit
    with np.printoptions(precision=6, suppress=False):
        print(
            f"✗ {name}: your path leaves {against}'s at step {t}: max |Δw| = {d:.3g}\n"
            f"    yours:  w[{t}] = {a[t]}\n    {against}: w[{t}] = {b[t]}"
        )
        if t > 0:
            print(f"    (both had w[{t - 1}] = {b[t - 1]})")
            da = np.linalg.norm(a[t] - a[t - 1])
            db = np.linalg.norm(b[t] - b[t - 1])
            if db > 0:
                print(
                    f"    your step {t} has length {da:.4g}, {against}'s {db:.4g} ({da / db:.3g}×)"
                )
    print(
        "  This exercise fails until your path matches to 10 digits."
        + (f"\n  Usual suspects: {suspects}." if suspects else "")
    )
    return False


# --- the student's optimizer as a torch.optim.Optimizer ----------------------------------------


def StudentOptimizer(params: Any, make: Callable[[], Any]) -> Any:  # a class factory, named as one
    """A ``torch.optim.Optimizer`` that updates each parameter tensor with its own student
    optimizer ``make()`` (any ``step(w, g) -> new w`` on NumPy float64 vectors).

    >>> opt = StudentOptimizer(model.parameters(), lambda: Adam(lr=1e-3))
    """
    import torch

    class _Student(torch.optim.Optimizer):
        def __init__(self, params: Any) -> None:
            super().__init__(params, {"lr": float("nan")})
            self._steppers: dict[int, Any] = {}

        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                lr = group["lr"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    s = self._steppers.get(id(p))
                    if s is None:
                        s = self._steppers[id(p)] = make()
                    w = p.detach().cpu().double().numpy().ravel()
                    g = p.grad.detach().cpu().double().numpy().ravel()
                    new = s.step(w, g) if lr != lr else s.step(w, g, lr)  # NaN: the object's own lr
                    p.copy_(torch.as_tensor(np.asarray(new).reshape(p.shape), dtype=p.dtype))
            return loss

    return _Student(params)
