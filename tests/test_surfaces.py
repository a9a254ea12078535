"""coursekit.surfaces: every surface's gradient and Hessian agree with finite differences,
and every function is vectorized over points of shape (..., 2)."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.surfaces import SURFACES, Surface, get_surface, quadratic

ALL = {**SURFACES, "quadratic κ=50 rotated": quadratic(50.0, 0.3, 0.5)}


def _points(s: Surface, n: int = 12, seed: int = 0) -> np.ndarray:
    """Random points inside the surface's view, away from x = 0 (|x| has a kink there)."""
    rng = np.random.default_rng(seed)
    lo = np.array([s.xlim[0], s.ylim[0]])
    hi = np.array([s.xlim[1], s.ylim[1]])
    p = lo + (hi - lo) * rng.uniform(0.05, 0.95, size=(n, 2))
    p[:, 0] = np.where(np.abs(p[:, 0]) < 0.05, 0.3, p[:, 0])
    return p


def _fd_grad(f, w: np.ndarray, h: float) -> np.ndarray:
    e = np.eye(2) * h
    return np.array([(f(w + e[i]) - f(w - e[i])) / (2 * h) for i in range(2)])


def _fd_hess(grad, w: np.ndarray, h: float) -> np.ndarray:
    e = np.eye(2) * h
    cols = [(grad(w + e[i]) - grad(w - e[i])) / (2 * h) for i in range(2)]
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("name", list(ALL))
def test_gradient_matches_finite_differences(name: str) -> None:
    s = ALL[name]
    for w in _points(s):
        scale = max(1.0, float(np.abs(s.f(w))))
        h = 1e-5 * max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(
            s.grad(w), _fd_grad(s.f, w, h), rtol=1e-5, atol=1e-6 * scale, err_msg=f"{name} at {w}"
        )


@pytest.mark.parametrize("name", list(ALL))
def test_hessian_matches_finite_differences(name: str) -> None:
    s = ALL[name]
    for w in _points(s, seed=1):
        H = s.hess(w)
        scale = max(1.0, float(np.abs(H).max()))
        h = 1e-5 * max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(
            H, _fd_hess(s.grad, w, h), rtol=1e-4, atol=1e-6 * scale, err_msg=f"{name} at {w}"
        )
        np.testing.assert_allclose(H, H.T, atol=1e-12, err_msg=f"{name}: Hessian not symmetric")


@pytest.mark.parametrize("name", list(ALL))
def test_vectorized_over_leading_axes(name: str) -> None:
    s = ALL[name]
    pts = _points(s, n=12).reshape(3, 4, 2)
    f, g, H = s.f(pts), s.grad(pts), s.hess(pts)
    assert np.shape(f) == (3, 4) and g.shape == (3, 4, 2) and H.shape == (3, 4, 2, 2)
    for i, j in [(0, 0), (2, 3), (1, 2)]:
        np.testing.assert_allclose(f[i, j], s.f(pts[i, j]), rtol=1e-12)
        np.testing.assert_allclose(g[i, j], s.grad(pts[i, j]), rtol=1e-12)
        np.testing.assert_allclose(H[i, j], s.hess(pts[i, j]), rtol=1e-12)


@pytest.mark.parametrize("name", list(ALL))
def test_known_minima_are_critical_points(name: str) -> None:
    s = ALL[name]
    for m in s.minima:
        m = np.array(m)
        g = s.grad(m)
        assert np.abs(g).max() < 1e-4 * max(1.0, float(np.abs(s.hess(m)).max())), f"{name} {m}: {g}"
        assert np.all(np.linalg.eigvalsh(s.hess(m)) > 0), f"{name}: {m} is not a minimum"


def test_quadratic_condition_number() -> None:
    for kappa in (1.0, 10.0, 1000.0):
        s = get_surface("quadratic", kappa=kappa, angle=0.7)
        lam = np.linalg.eigvalsh(s.hess(np.zeros(2)))
        assert lam.max() / lam.min() == pytest.approx(kappa)
        assert s.params["kappa"] == kappa


def test_saddles_are_saddles() -> None:
    lam = np.linalg.eigvalsh(SURFACES["saddle"].hess(np.zeros(2)))
    assert lam[0] < 0 < lam[1]
    np.testing.assert_allclose(SURFACES["monkey"].hess(np.zeros(2)), 0.0)


def test_plateau_is_flat_but_high() -> None:
    s = SURFACES["plateau"]
    w = np.array(s.start)
    assert s.f(w) > 0.9 and np.linalg.norm(s.grad(w)) < 0.05


def test_unknown_surface_names_the_choices() -> None:
    with pytest.raises(KeyError, match="rosenbrock"):
        get_surface("banana")
