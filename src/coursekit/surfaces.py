"""Two-dimensional test functions, each with its value, gradient and Hessian.

Shared by notebook 01 (loss surfaces) and notebook 03 (optimizer races). Every function takes
points of shape ``(..., 2)`` (one point, or a whole grid or batch at once) and returns values of
shape ``(...)``, gradients ``(..., 2)`` and Hessians ``(..., 2, 2)``.

    >>> s = SURFACES["rosenbrock"]
    >>> s.f(np.array([1.0, 1.0])), s.grad(np.array([0.0, 0.0]))
    (0.0, array([-2.,  0.]))

These are plumbing for pictures and races, not exercise answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Surface", "SURFACES", "quadratic", "get_surface", "from_functions"]

Array = np.ndarray


@dataclass(frozen=True)
class Surface:
    """A 2-D function with derivatives and the view that shows it best."""

    name: str
    f: Callable[[Array], Array]
    grad: Callable[[Array], Array]
    hess: Callable[[Array], Array]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...] = ()
    log_levels: bool = False  # contour levels on a log scale (Rosenbrock, Beale)
    note: str = ""
    params: dict = field(default_factory=dict)

    def __call__(self, w: Array) -> Array:
        return self.f(np.asarray(w, dtype=float))


def _xy(w: Array) -> tuple[Array, Array]:
    w = np.asarray(w, dtype=float)
    return w[..., 0], w[..., 1]


def _stack(a: Array, b: Array) -> Array:
    a, b = np.broadcast_arrays(a, b)
    return np.stack([a, b], axis=-1)


def _hess(hxx: Array, hxy: Array, hyy: Array) -> Array:
    hxx, hxy, hyy = np.broadcast_arrays(hxx, hxy, hyy)
    return np.stack([np.stack([hxx, hxy], -1), np.stack([hxy, hyy], -1)], -2)


def quadratic(kappa: float = 10.0, angle: float = 0.0, lam_min: float = 1.0) -> Surface:
    """f(w) = ½ wᵀAw with eigenvalues lam_min and kappa·lam_min, axes rotated by `angle` rad."""
    c, s = np.cos(angle), np.sin(angle)
    R = np.array([[c, -s], [s, c]])
    A = R @ np.diag([lam_min, kappa * lam_min]) @ R.T

    def f(w: Array) -> Array:
        w = np.asarray(w, float)
        return 0.5 * np.einsum("...i,ij,...j->...", w, A, w)

    def grad(w: Array) -> Array:
        return np.asarray(w, float) @ A.T

    def hess(w: Array) -> Array:
        w = np.asarray(w, float)
        return np.broadcast_to(A, w.shape[:-1] + (2, 2)).copy()

    return Surface(
        f"quadratic (κ = {kappa:g})",
        f,
        grad,
        hess,
        (-5, 5),
        (-5, 5),
        (-4.0, 3.0),
        ((0.0, 0.0),),
        note="½ wᵀAw: an ellipse bowl whose condition number κ = λmax/λmin sets how GD crawls.",
        params={"A": A, "kappa": kappa},
    )


def _bowl() -> Surface:
    f = lambda w: 0.1 * _xy(w)[0] ** 2 + 2.0 * _xy(w)[1] ** 2  # noqa: E731
    g = lambda w: _stack(0.2 * _xy(w)[0], 4.0 * _xy(w)[1])  # noqa: E731
    h = lambda w: _hess(0.2 + 0 * _xy(w)[0], 0 * _xy(w)[0], 4.0 + 0 * _xy(w)[0])  # noqa: E731
    return Surface(
        "ill-conditioned bowl",
        f,
        g,
        h,
        (-6, 6),
        (-3, 3),
        (-5.0, -2.0),
        ((0.0, 0.0),),
        note="0.1·x² + 2·y²: κ = 20, the classic zig-zag.",
    )


def _rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    def f(w):
        x, y = _xy(w)
        return (a - x) ** 2 + b * (y - x**2) ** 2

    def g(w):
        x, y = _xy(w)
        return _stack(-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2))

    def h(w):
        x, y = _xy(w)
        return _hess(2 - 4 * b * (y - 3 * x**2), -4 * b * x, 2 * b + 0 * x)

    return Surface(
        "rosenbrock",
        f,
        g,
        h,
        (-2, 2),
        (-1, 3),
        (-1.5, 2.5),
        ((a, a * a),),
        log_levels=True,
        note="The banana: a curved valley with a flat floor.",
    )


def _saddle() -> Surface:
    f = lambda w: _xy(w)[0] ** 2 - _xy(w)[1] ** 2  # noqa: E731
    g = lambda w: _stack(2 * _xy(w)[0], -2 * _xy(w)[1])  # noqa: E731
    h = lambda w: _hess(2 + 0 * _xy(w)[0], 0 * _xy(w)[0], -2 + 0 * _xy(w)[0])  # noqa: E731
    return Surface(
        "saddle",
        f,
        g,
        h,
        (-2, 2),
        (-2, 2),
        (1.5, 0.0),
        note="x² − y²: a minimum along x, a maximum along y.",
    )


def _monkey() -> Surface:
    f = lambda w: _xy(w)[0] ** 3 - 3 * _xy(w)[0] * _xy(w)[1] ** 2  # noqa: E731

    def g(w):
        x, y = _xy(w)
        return _stack(3 * x**2 - 3 * y**2, -6 * x * y)

    def h(w):
        x, y = _xy(w)
        return _hess(6 * x, -6 * y, -6 * x)

    return Surface(
        "monkey saddle",
        f,
        g,
        h,
        (-1.5, 1.5),
        (-1.5, 1.5),
        (1.0, 0.0),
        note="x³ − 3xy²: three valleys meet; the Hessian at 0 is zero (degenerate).",
    )


def _himmelblau() -> Surface:
    def f(w):
        x, y = _xy(w)
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2

    def g(w):
        x, y = _xy(w)
        a, b = x**2 + y - 11, x + y**2 - 7
        return _stack(4 * x * a + 2 * b, 2 * a + 4 * y * b)

    def h(w):
        x, y = _xy(w)
        return _hess(12 * x**2 + 4 * y - 42, 4 * x + 4 * y, 4 * x + 12 * y**2 - 26)

    mins = ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))
    return Surface(
        "himmelblau",
        f,
        g,
        h,
        (-5, 5),
        (-5, 5),
        (0.0, 0.0),
        mins,
        log_levels=True,
        note="Four minima of equal height: where GD ends depends on where it starts.",
    )


def _beale() -> Surface:
    c = (1.5, 2.25, 2.625)

    def f(w):
        x, y = _xy(w)
        return sum((ci - x + x * y ** (i + 1)) ** 2 for i, ci in enumerate(c))

    def g(w):
        x, y = _xy(w)
        gx = gy = 0.0
        for i, ci in enumerate(c):
            k = i + 1
            r = ci - x + x * y**k
            gx = gx + 2 * r * (y**k - 1)
            gy = gy + 2 * r * (k * x * y ** (k - 1))
        return _stack(gx, gy)

    def h(w):
        x, y = _xy(w)
        hxx = hxy = hyy = 0.0
        for i, ci in enumerate(c):
            k = i + 1
            r = ci - x + x * y**k
            rx, ry = y**k - 1, k * x * y ** (k - 1)
            ryy = k * (k - 1) * x * y ** (k - 2) if k > 1 else 0 * x
            rxy = k * y ** (k - 1)
            hxx = hxx + 2 * rx * rx
            hxy = hxy + 2 * (rx * ry + r * rxy)
            hyy = hyy + 2 * (ry * ry + r * ryy)
        return _hess(hxx, hxy, hyy)

    return Surface(
        "beale",
        f,
        g,
        h,
        (-4.5, 4.5),
        (-4.5, 4.5),
        (1.0, 1.5),
        ((3.0, 0.5),),
        log_levels=True,
        note="Flat plateaus and sharp ridges around one minimum at (3, 0.5).",
    )


def _sig(z: Array) -> Array:
    return 0.5 * (1 + np.tanh(0.5 * z))


def _pathological() -> Surface:
    """UvA tutorial 4: tanh(x)² + 0.01·|x| + sigmoid(y)... written with w1 = x, w2 = y."""

    def f(w):
        x, y = _xy(w)
        return np.tanh(x) ** 2 + 0.01 * np.abs(x) + _sig(y)

    def g(w):
        x, y = _xy(w)
        t = np.tanh(x)
        s = _sig(y)
        return _stack(2 * t * (1 - t**2) + 0.01 * np.sign(x), s * (1 - s))

    def h(w):
        x, y = _xy(w)
        t = np.tanh(x)
        s = _sig(y)
        return _hess(2 * (1 - t**2) * (1 - 3 * t**2), 0 * x, s * (1 - s) * (1 - 2 * s))

    return Surface(
        "pathological curvature",
        f,
        g,
        h,
        (-2, 2),
        (-10, 5),
        (-1.5, 4.0),
        note="A steep, narrow ravine in x while y slopes gently downhill (UvA tutorial 4).",
    )


def _steep(sigma: float = 0.5) -> Surface:
    """UvA tutorial 4's 'steep optimum': a narrow Gaussian well in a flat plain."""

    def f(w):
        x, y = _xy(w)
        return -np.exp(-(x**2 + y**2) / (2 * sigma**2)) / (2 * np.pi * sigma**2)

    def g(w):
        x, y = _xy(w)
        v = f(w)
        return _stack(-v * x / sigma**2, -v * y / sigma**2)

    def h(w):
        x, y = _xy(w)
        v = f(w)
        s2 = sigma**2
        return _hess(v * (x * x / s2 - 1) / s2, v * x * y / s2**2, v * (y * y / s2 - 1) / s2)

    return Surface(
        "steep optimum",
        f,
        g,
        h,
        (-2, 2),
        (-2, 2),
        (0.9, 0.7),
        ((0.0, 0.0),),
        note="Flat almost everywhere, one narrow well: big steps jump out of it.",
    )


def _plateau() -> Surface:
    """A saturated sigmoid unit: the loss is high but the gradient is almost zero."""

    def f(w):
        x, y = _xy(w)
        return 1.0 - _sig(x + 0.5 * y - 1.0) + 0.001 * (x**2 + y**2)

    def g(w):
        x, y = _xy(w)
        s = _sig(x + 0.5 * y - 1.0)
        d = s * (1 - s)
        return _stack(-d + 0.002 * x, -0.5 * d + 0.002 * y)

    def h(w):
        x, y = _xy(w)
        s = _sig(x + 0.5 * y - 1.0)
        d2 = s * (1 - s) * (1 - 2 * s)
        return _hess(-d2 + 0.002, -0.5 * d2, -0.25 * d2 + 0.002)

    return Surface(
        "plateau",
        f,
        g,
        h,
        (-12, 12),
        (-12, 12),
        (-9.0, -6.0),
        note="1 − σ(x + y/2 − 1): far from the step, σ saturates and the slope vanishes.",
    )


SURFACES: dict[str, Surface] = {
    "quadratic": quadratic(10.0, np.pi / 6),
    "bowl": _bowl(),
    "rosenbrock": _rosenbrock(),
    "saddle": _saddle(),
    "monkey": _monkey(),
    "himmelblau": _himmelblau(),
    "beale": _beale(),
    "pathological": _pathological(),
    "steep": _steep(),
    "plateau": _plateau(),
}


def get_surface(name: str, **params: float) -> Surface:
    """A surface by name; "quadratic" accepts kappa=, angle=, lam_min=."""
    if name == "quadratic" and params:
        return quadratic(**params)
    try:
        return SURFACES[name]
    except KeyError:
        raise KeyError(f"unknown surface {name!r}; choose from {', '.join(SURFACES)}") from None


def _pointwise(
    fn: Callable[[Array], object], out_shape: tuple[int, ...]
) -> Callable[[Array], Array]:
    """Lift a function of one point (2,) to points (..., 2) by calling it point by point."""

    def lifted(w: Array) -> Array:
        w = np.asarray(w, dtype=float)
        flat = w.reshape(-1, 2)
        out = np.array([np.asarray(fn(p.copy()), dtype=float).reshape(out_shape) for p in flat])
        return out.reshape(w.shape[:-1] + out_shape)

    return lifted


def _no_hessian(w: Array) -> Array:
    raise NotImplementedError("this surface was made without a Hessian")


def from_functions(
    name: str,
    f: Callable[[Array], object],
    grad: Callable[[Array], object],
    hess: Callable[[Array], object] | None = None,
    *,
    xlim: tuple[float, float] = (-3.0, 3.0),
    ylim: tuple[float, float] = (-3.0, 3.0),
    start: tuple[float, float] = (-2.0, 2.0),
    minima: tuple[tuple[float, float], ...] = (),
    log_levels: bool = False,
    note: str = "",
) -> Surface:
    """A Surface made from functions of ONE point w of shape (2,): f(w) → number,
    grad(w) → (2,), hess(w) → (2, 2) (optional; without it ``surface.hess`` raises
    NotImplementedError). The returned surface accepts points (..., 2) like the built-in ones,
    by calling the functions point by point (slow on big grids: fine for ~100×100).

    Notebooks use it to turn a loss written in an exercise (e.g. logistic regression's loss as
    a function of its two weights) into something the plots and the explorer can draw.
    """
    return Surface(
        name,
        _pointwise(f, ()),
        _pointwise(grad, (2,)),
        _pointwise(hess, (2, 2)) if hess is not None else _no_hessian,
        tuple(xlim),
        tuple(ylim),
        tuple(start),
        tuple(tuple(m) for m in minima),
        log_levels,
        note,
    )
