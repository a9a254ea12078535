"""Pictures of 2-D loss surfaces: level lines with optimisation paths, 3-D views, loss curves.

Shared by notebook 01 (loss surfaces) and notebook 03 (optimizer races). Every function draws
on a matplotlib Axes you pass in (make 3-D axes with ``projection="3d"``) and returns what it
drew, so a widget can update it in place::

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    s = get_surface("rosenbrock")
    plot_contour(ax1, s, paths={"GD": path})        # path: array (steps + 1, 2)
    plot_losses(ax2, {"GD": s.f(path)})

A *path* is an array of shape ``(T, 2)``: the points an optimiser visited, start first.
Points outside the view or not finite (a diverging run) are cut, not plotted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .surfaces import Surface

__all__ = [
    "PATH_COLORS",
    "surface_grid",
    "contour_levels",
    "plot_contour",
    "plot_paths",
    "plot_surface3d",
    "plot_path3d",
    "plot_losses",
]

# Distinct colours that read on a viridis background (Okabe–Ito, minus the yellow).
PATH_COLORS = ("#D55E00", "#0072B2", "#CC79A7", "#009E73", "#E69F00", "#56B4E9", "#000000")

Paths = Mapping[str, Any] | Sequence[Any] | np.ndarray


def surface_grid(
    surface: Surface,
    n: int = 200,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, Y, Z, each of shape (n, n): the surface's values on a regular grid over its view
    (or over `xlim` × `ylim`). Z[i, j] = f(X[i, j], Y[i, j])."""
    xlim = xlim or surface.xlim
    ylim = ylim or surface.ylim
    X, Y = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    Z = np.asarray(surface.f(np.stack([X, Y], axis=-1)), dtype=float)
    return X, Y, Z


def contour_levels(Z: np.ndarray, n: int = 30, log: bool = False) -> np.ndarray:
    """`n` increasing contour levels for the values Z: evenly spaced, or (log=True) spaced
    geometrically above the minimum, so that flat valley floors still get level lines."""
    z = np.asarray(Z, dtype=float)
    z = z[np.isfinite(z)]
    lo, hi = float(z.min()), float(z.max())
    if hi <= lo:
        return np.array([lo, lo + 1.0])
    if not log:
        return np.linspace(lo, hi, n)
    span = hi - lo
    first = max(float(np.percentile(z - lo, 0.5)), span * 1e-6)
    return lo + np.geomspace(first, span, n)


def _as_paths(paths: Paths | None) -> dict[str, np.ndarray]:
    if paths is None:
        return {}
    if isinstance(paths, Mapping):
        items = paths.items()
    else:
        arr = paths if isinstance(paths, np.ndarray) else None
        if arr is not None and arr.ndim == 2:
            items = [("path", arr)]
        else:
            items = [(f"path {i + 1}", p) for i, p in enumerate(paths)]
    return {str(k): np.asarray(v, dtype=float).reshape(-1, 2) for k, v in items}


def _visible(
    path: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float], margin: float = 0.5
) -> np.ndarray:
    """The path with points far outside the view or not finite replaced by NaN (a gap)."""
    p = np.array(path, dtype=float)
    dx, dy = (xlim[1] - xlim[0]) * margin, (ylim[1] - ylim[0]) * margin
    with np.errstate(invalid="ignore"):
        out = ~np.isfinite(p).all(axis=1)
        out |= (p[:, 0] < xlim[0] - dx) | (p[:, 0] > xlim[1] + dx)
        out |= (p[:, 1] < ylim[0] - dy) | (p[:, 1] > ylim[1] + dy)
    p[out] = np.nan
    return p


def plot_paths(
    ax: Any,
    paths: Paths,
    *,
    colors: Sequence[str] = PATH_COLORS,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    markersize: float = 3.0,
    linewidth: float = 1.5,
    legend: bool = True,
) -> list[Any]:
    """Draw optimisation paths on a 2-D Axes: a line through the visited points, a circle at
    the start and a cross at the last point.

    paths: {label: array (T, 2)}, a list of such arrays, or a single array (T, 2).
    Returns the Line2D of each path (in order), e.g. to ``set_data`` in a widget.
    """
    xlim = xlim or ax.get_xlim()
    ylim = ylim or ax.get_ylim()
    lines = []
    for i, (label, p) in enumerate(_as_paths(paths).items()):
        color = colors[i % len(colors)]
        q = _visible(p, xlim, ylim)
        (line,) = ax.plot(
            q[:, 0], q[:, 1], "-o", color=color, ms=markersize, lw=linewidth, label=label
        )
        lines.append(line)
        if len(p) and np.isfinite(p[0]).all():
            ax.plot(*p[0], "o", color=color, ms=markersize * 2.5, mec="white", mew=1.0, zorder=5)
        if len(p) > 1 and np.isfinite(q[-1]).all():
            ax.plot(*q[-1], "X", color=color, ms=markersize * 3, mec="white", mew=1.0, zorder=5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    if legend and lines:
        ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    return lines


def plot_contour(
    ax: Any,
    surface: Surface,
    paths: Paths | None = None,
    *,
    n: int = 200,
    levels: int | Sequence[float] = 30,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    filled: bool = True,
    cmap: str = "viridis",
    show_minima: bool = True,
    title: str | None = None,
    **path_kwargs: Any,
) -> Any:
    """Level lines of `surface` over its view (or `xlim` × `ylim`), with `paths` drawn on top.

    levels: a number of levels (log-spaced for surfaces with ``log_levels``) or the levels.
    filled: shaded bands plus thin lines (True) or lines only (False).
    show_minima: mark the surface's known minima with a white star.
    path_kwargs go to :func:`plot_paths`. Returns the ContourSet (lines when filled=False).
    """
    xlim = tuple(xlim or surface.xlim)
    ylim = tuple(ylim or surface.ylim)
    X, Y, Z = surface_grid(surface, n, xlim, ylim)
    lv = (
        contour_levels(Z, levels, surface.log_levels)
        if isinstance(levels, int)
        else np.asarray(levels)
    )
    if filled:
        cs = ax.contourf(X, Y, Z, levels=lv, cmap=cmap, extend="both")
        ax.contour(X, Y, Z, levels=lv, colors="k", linewidths=0.3, alpha=0.4)
    else:
        cs = ax.contour(X, Y, Z, levels=lv, cmap=cmap, linewidths=0.8)
    if show_minima:
        for m in surface.minima:
            if xlim[0] <= m[0] <= xlim[1] and ylim[0] <= m[1] <= ylim[1]:
                ax.plot(*m, "*", color="white", mec="k", ms=12, zorder=4)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_title(surface.name if title is None else title)
    if paths is not None:
        plot_paths(ax, paths, xlim=xlim, ylim=ylim, **path_kwargs)
    return cs


def _zclip(surface: Surface, Z: np.ndarray) -> tuple[float, float]:
    z = Z[np.isfinite(Z)]
    lo, hi = float(z.min()), float(z.max())
    if surface.log_levels:  # a few huge values would flatten the interesting part
        hi = lo + float(np.percentile(z - lo, 90))
    return lo, hi


def plot_surface3d(
    ax: Any,
    surface: Surface,
    path: np.ndarray | None = None,
    *,
    n: int = 60,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    cmap: str = "viridis",
    alpha: float = 0.85,
    elev: float = 35.0,
    azim: float = -60.0,
    title: str | None = None,
) -> Any:
    """The surface as a 3-D sheet on a 3-D Axes (``fig.add_subplot(projection="3d")``), with an
    optional path (T, 2) drawn on it. Very high values (steep walls of Rosenbrock-like
    surfaces) are cut flat so the valley stays visible. Returns the Poly3DCollection."""
    xlim = tuple(xlim or surface.xlim)
    ylim = tuple(ylim or surface.ylim)
    X, Y, Z = surface_grid(surface, n, xlim, ylim)
    lo, hi = _zclip(surface, Z)
    Zc = np.minimum(Z, hi)  # a flat lid over the cut walls
    sheet = ax.plot_surface(
        X,
        Y,
        Zc,
        cmap=cmap,
        alpha=alpha,
        linewidth=0,
        antialiased=True,
        vmin=lo,
        vmax=hi,
        rstride=1,
        cstride=1,
    )
    ax.set_zlim(lo, hi)
    ax.view_init(elev=elev, azim=azim)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_title(surface.name if title is None else title)
    if path is not None:
        plot_path3d(ax, surface, path, zlim=(lo, hi))
    return sheet


def plot_path3d(
    ax: Any,
    surface: Surface,
    path: np.ndarray,
    *,
    color: str = PATH_COLORS[0],
    zlim: tuple[float, float] | None = None,
    markersize: float = 3.0,
) -> Any:
    """A path (T, 2) drawn on the 3-D surface at height f(w). Points off the view are cut."""
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    p = _visible(np.asarray(path, dtype=float).reshape(-1, 2), xlim, ylim, margin=0.0)
    with np.errstate(all="ignore"):
        z = np.asarray(surface.f(np.nan_to_num(p)), dtype=float)
    z[~np.isfinite(p).all(axis=1)] = np.nan
    if zlim is not None:
        z[(z < zlim[0]) | (z > zlim[1])] = np.nan
    (line,) = ax.plot(p[:, 0], p[:, 1], z, "-o", color=color, ms=markersize, lw=1.5, zorder=10)
    return line


def plot_losses(
    ax: Any,
    losses: Mapping[str, Any] | Sequence[Any] | np.ndarray,
    *,
    colors: Sequence[str] = PATH_COLORS,
    log: bool | None = None,
    shift: float | None = None,
    xlabel: str = "step",
    ylabel: str = "loss",
    title: str | None = None,
) -> list[Any]:
    """Loss per step: one curve per run. losses: {label: values (T,)}, a list, or one array.

    log: logarithmic y axis (default: when every finite value is positive and they span more
    than two decades). shift: subtract this from every value first (e.g. the minimum value
    f* to plot f(w) − f*). Values that are not finite (a diverged run) end the curve.
    Returns the Line2D of each curve.
    """
    if isinstance(losses, Mapping):
        items = list(losses.items())
    elif isinstance(losses, np.ndarray) and losses.ndim == 1:
        items = [("loss", losses)]
    else:
        items = [(f"run {i + 1}", v) for i, v in enumerate(losses)]
    curves = {str(k): np.asarray(v, dtype=float).ravel() - (shift or 0.0) for k, v in items}
    finite = np.concatenate([c[np.isfinite(c)] for c in curves.values()] or [np.zeros(0)])
    if log is None:
        log = bool(finite.size and finite.min() > 0 and finite.max() / finite.min() > 100)
    lines = []
    for i, (label, c) in enumerate(curves.items()):
        (line,) = ax.plot(np.arange(len(c)), c, color=colors[i % len(colors)], lw=1.5, label=label)
        lines.append(line)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel if not shift else f"{ylabel} − {shift:g}")
    if title:
        ax.set_title(title)
    if len(lines) > 1:
        ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return lines
