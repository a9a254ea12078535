"""The loss-surface explorer of notebook 01: pick a surface, a start point and a learning rate,
and watch gradient descent on the level lines, on the 3-D surface and as loss per step, with
the Hessian's eigenvalues and condition number κ at the point where GD stands.

It runs *your* gradient descent (the notebook's exercise), so the library holds no answer::

    ex = LossSurfaceExplorer(gradient_descent, extra={"logistic regression": logistic})
    ex.show()                        # a live widget in JupyterLab; static pictures headless
    ex.set(surface="quadratic", kappa=10, lr=0.21)   # move the controls from code

The claim it makes visible (Correia, *Optimization for training neural networks*): on a
quadratic, GD converges when lr < 2/λ_max and diverges when lr > 2/λ_max; the status line says
which side of that bound the learning rate is on, and whether the run actually diverged.
The widget's outer box has the CSS class ``coursekit-explorer``; its status line
``coursekit-explorer-status``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .interactive import Blitter, fast_png_frames, is_headless, live_figure
from .plots import PATH_COLORS, contour_levels, plot_surface3d, surface_grid
from .surfaces import SURFACES, Surface, quadratic

__all__ = ["ExplorerView", "LossSurfaceExplorer", "RunSummary", "MENU", "summarize_run"]

# Menu label → built-in surface name ("quadratic" takes its κ from the slider).
MENU = {
    "quadratic bowl (κ slider)": "quadratic",
    "Rosenbrock": "rosenbrock",
    "saddle x² − y²": "saddle",
    "monkey saddle x³ − 3xy²": "monkey",
    "plateau (saturated sigmoid)": "plateau",
    "Himmelblau": "himmelblau",
}

# A learning rate that shows something on each built-in surface when it is picked.
DEFAULT_LR = {
    "quadratic": 0.15,
    "rosenbrock": 0.001,
    "saddle": 0.1,
    "monkey": 0.05,
    "plateau": 5.0,
    "himmelblau": 0.01,
}

QUAD_ANGLE = math.pi / 6


@dataclass
class RunSummary:
    """What one GD run did, in numbers the status line reports."""

    path: np.ndarray  # (T, 2), non-finite rows kept as they came
    losses: np.ndarray  # (T,)
    eigenvalues: np.ndarray | None  # Hessian eigenvalues at the current point (ascending)
    at: np.ndarray  # the point where they were taken (the last finite point)
    lam_max_start: float | None  # λ_max of the Hessian at the start point
    diverged: bool
    error: str = ""

    @property
    def kappa(self) -> float | None:
        """|λ|_max / |λ|_min at the current point (inf when an eigenvalue is 0)."""
        if self.eigenvalues is None:
            return None
        a = np.abs(self.eigenvalues)
        return float(a.max() / a.min()) if a.min() > 0 else math.inf

    @property
    def lr_bound(self) -> float | None:
        """2/λ_max at the start (None when λ_max ≤ 0: no curvature limit there)."""
        if self.lam_max_start is None or self.lam_max_start <= 0:
            return None
        return 2.0 / self.lam_max_start


def _eig(surface: Surface, w: np.ndarray) -> np.ndarray | None:
    try:
        H = np.asarray(surface.hess(np.asarray(w, dtype=float)), dtype=float).reshape(2, 2)
    except NotImplementedError:
        return None
    if not np.all(np.isfinite(H)):
        return None
    return np.linalg.eigvalsh(0.5 * (H + H.T))


def summarize_run(surface: Surface, path: Any) -> RunSummary:
    """Losses, divergence and the Hessian at the last finite point of a GD path (T, 2).

    A run *diverged* when it left the numbers (inf/NaN), or its loss ended higher than it
    started, or it went more than 100 view-widths away: the signature of lr > 2/λ_max.
    """
    p = np.asarray(path, dtype=float).reshape(-1, 2)
    with np.errstate(all="ignore"):
        losses = np.asarray(
            surface.f(np.nan_to_num(p, nan=0.0, posinf=1e300, neginf=-1e300)), float
        )
    finite = np.isfinite(p).all(axis=1) & np.isfinite(losses)
    losses = np.where(finite, losses, np.nan)
    last = int(np.nonzero(finite)[0][-1]) if finite.any() else 0
    at = p[last] if finite.any() else np.asarray(surface.start, float)
    width = max(surface.xlim[1] - surface.xlim[0], surface.ylim[1] - surface.ylim[0])
    far = (
        bool(np.nanmax(np.abs(p[finite] - p[0]), initial=0.0) > 100 * width)
        if finite.any()
        else True
    )
    went_up = bool(
        finite[-1] and len(p) > 1 and losses[-1] > losses[0] + 1e-12 * max(1.0, abs(losses[0]))
    )
    diverged = bool(not finite.all() or far or went_up)
    eig_start = _eig(surface, p[0]) if np.isfinite(p[0]).all() else None
    return RunSummary(
        path=p,
        losses=losses,
        eigenvalues=_eig(surface, at),
        at=at,
        lam_max_start=None if eig_start is None else float(eig_start.max()),
        diverged=diverged,
    )


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if not math.isfinite(x):
        return "∞"
    return f"{x:.3g}"


def status_html(summary: RunSummary, lr: float) -> str:
    """The status line: the lr against 2/λ_max, what happened, and the Hessian where GD is."""
    if summary.error:
        return f"<b>⚠ {html.escape(summary.error)}</b>"
    bound = summary.lr_bound
    if bound is None:
        theory = f"lr = {_fmt(lr)}; no curvature bound at the start (λ_max ≤ 0)"
    elif lr > bound:
        theory = f"lr = {_fmt(lr)} &gt; 2/λ<sub>max</sub> = {_fmt(bound)}"
    else:
        theory = f"lr = {_fmt(lr)} &lt; 2/λ<sub>max</sub> = {_fmt(bound)}"
    if summary.diverged:
        verdict = "<b style='color:#D55E00'>⚠ GD DIVERGES</b> (the loss went up or blew up)"
    elif summary.losses.size and summary.losses[-1] < -1e3:
        verdict = "<b>GD runs downhill without end</b> (the surface has no bottom)"
    else:
        verdict = "<b style='color:#009E73'>GD is stable</b>"
    if summary.eigenvalues is None:
        hess = "Hessian: not available for this surface"
    else:
        lam = ", ".join(_fmt(float(v)) for v in summary.eigenvalues)
        where = ", ".join(f"{v:.2f}" for v in summary.at)
        hess = f"Hessian eigenvalues at w = ({where}): {lam}; κ = {_fmt(summary.kappa)}"
    return f"{verdict}: {theory}.<br>{hess}"


# --- the view ---------------------------------------------------------------------------------


def _cut(p: np.ndarray, xlim: Any, ylim: Any, margin: float = 0.5) -> np.ndarray:
    """The path with points far outside the view or not finite replaced by NaN (a gap)."""
    p = np.array(p, dtype=float)
    dx, dy = (xlim[1] - xlim[0]) * margin, (ylim[1] - ylim[0]) * margin
    with np.errstate(invalid="ignore"):
        out = ~np.isfinite(p).all(axis=1)
        out |= (p[:, 0] < xlim[0] - dx) | (p[:, 0] > xlim[1] + dx)
        out |= (p[:, 1] < ylim[0] - dy) | (p[:, 1] > ylim[1] + dy)
    p[out] = np.nan
    return p


class ExplorerView:
    """The explorer's picture on `fig`: the level lines with the GD path (left), the 3-D sheet
    with the path on it (middle), the loss per step (right).

    :meth:`draw_surface` draws the static part for a surface (bands and level lines, the 3-D
    sheet, the minima: a full draw); :meth:`draw_run` only changes the moving artists (the
    paths, the title, the loss axes), which live are blitted over the kept picture of the rest
    (:class:`coursekit.interactive.Blitter`): a new lr or start costs what the path costs. The
    view of the 3-D axes does not change between runs; if a person rotates it, the full draw
    that follows keeps the new picture.
    """

    LEVELS = 30

    def __init__(self, fig: Any, *, live: bool) -> None:
        from matplotlib.ticker import MaxNLocator

        self.fig = fig
        self.ax1 = fig.add_subplot(1, 3, 1)
        self.ax2 = fig.add_subplot(1, 3, 2, projection="3d")
        self.ax3 = fig.add_subplot(1, 3, 3)
        # one layout for every surface: a re-layout would cost a render per change
        fig.subplots_adjust(left=0.055, right=0.985, bottom=0.15, top=0.9, wspace=0.3)
        self.blitter = Blitter(fig.canvas, live=live)
        if live:
            fast_png_frames(fig.canvas)
        self.ready = True  # the surface could be drawn (a user's surface may not be written yet)
        self._bands: Any = None
        self._lines: Any = None
        self._sheet: Any = None
        self._zlim = (0.0, 1.0)
        color = PATH_COLORS[0]
        ax1, ax2, ax3 = self.ax1, self.ax2, self.ax3
        (self._minima,) = ax1.plot([], [], "*", color="white", mec="k", ms=12, zorder=4)
        self._note = ax1.text(
            0.5, 0.5, "", ha="center", va="center", transform=ax1.transAxes, visible=False
        )
        ax1.set_xlabel("$w_1$")
        ax1.set_ylabel("$w_2$")
        # Fixed places for the titles and axis labels, few ticks: text is most of a draw's cost,
        # and placing a title or a label by the tick labels' extents costs a second layout.
        for ax in (ax1, ax3):
            ax.xaxis.set_label_coords(0.5, -0.12)
            ax.yaxis.set_label_coords(-0.14, 0.5)
        for axis in (ax1.xaxis, ax1.yaxis, ax2.xaxis, ax2.yaxis, ax2.zaxis):
            axis.set_major_locator(MaxNLocator(5 if axis.axes is ax1 else 4))
        (self.path,) = ax1.plot([], [], "-o", color=color, ms=3.0, lw=1.5, label="GD")
        (self.start,) = ax1.plot([], [], "o", color=color, ms=7.5, mec="white", mew=1.0, zorder=5)
        (self.end,) = ax1.plot([], [], "X", color=color, ms=9.0, mec="white", mew=1.0, zorder=5)
        (self.path3d,) = ax2.plot([], [], [], "-o", color=color, ms=3.0, lw=1.5, zorder=10)
        (self.loss,) = ax3.plot([], [], color=color, lw=1.5, label="GD")
        ax3.set_xlabel("step")
        ax3.set_ylabel("loss")
        ax3.set_title("loss per step", y=1.0)
        ax3.grid(True, alpha=0.3)
        # in the order of their zorder, so that a blitted frame equals a full draw (the minima's
        # stars sit above the path, under its end marks)
        self.blitter.add(self.path, self._minima, self.start, self.end, ax1.title, self.path3d, ax3)

    def draw_surface(self, s: Surface, n: int = 120) -> None:
        """The static part for surface `s` on an n × n grid (the bands, level lines and the
        3-D sheet). Raises nothing: a surface whose f is not written yet says so in the plot."""
        from matplotlib.colors import BoundaryNorm

        ax1, ax2 = self.ax1, self.ax2
        for old in (self._bands, self._lines, self._sheet):
            if old is not None:
                old.remove()
        self._bands = self._lines = self._sheet = None
        ax1.set_xlim(*s.xlim)
        ax1.set_ylim(*s.ylim)
        ax2.set_xlim(*s.xlim)
        ax2.set_ylim(*s.ylim)
        try:
            X, Y, Z = surface_grid(s, n)
            levels = contour_levels(Z, self.LEVELS, s.log_levels)
        except NotImplementedError as exc:
            self.ready = False
            self._note.set_text(f"not ready:\n{exc}")
            self._note.set_visible(True)
            self._minima.set_data([], [])
            self.blitter.invalidate()
            return
        self.ready = True
        self._note.set_visible(False)
        # The filled level bands as one image (the grid interpolated, then cut at the levels:
        # the bands of contourf at a fraction of its cost), the level lines on top.
        cmap = "viridis"
        norm = BoundaryNorm(levels, 256, extend="both")
        self._bands = ax1.imshow(
            np.where(np.isfinite(Z), Z, np.nanmax(Z[np.isfinite(Z)], initial=0.0)),
            extent=(*s.xlim, *s.ylim),
            origin="lower",
            aspect="auto",
            cmap=cmap,
            norm=norm,
            interpolation="bilinear",
            interpolation_stage="data",
            zorder=0,
        )
        self._lines = ax1.contour(X, Y, Z, levels=levels, colors="k", linewidths=0.3, alpha=0.4)
        m = [
            p for p in s.minima if s.xlim[0] <= p[0] <= s.xlim[1] and s.ylim[0] <= p[1] <= s.ylim[1]
        ]
        self._minima.set_data([p[0] for p in m], [p[1] for p in m])
        ax1.set_xlim(*s.xlim)
        ax1.set_ylim(*s.ylim)
        self._sheet = plot_surface3d(ax2, s, n=min(n, 40), title="")
        ax2.set_title(s.name, y=1.0)
        self._zlim = ax2.get_zlim()
        self.blitter.invalidate()

    def draw_run(self, s: Surface, summary: RunSummary) -> None:
        """The moving part for one run: the path on both plots, the title, the loss curve."""
        ax1, ax3 = self.ax1, self.ax3
        p = summary.path
        show = self.ready
        with np.errstate(all="ignore"):
            q = _cut(p, s.xlim, s.ylim)
            self.path.set_data(q[:, 0], q[:, 1])
            ok0 = len(p) and np.isfinite(p[0]).all()
            self.start.set_data(p[:1, 0] if ok0 else [], p[:1, 1] if ok0 else [])
            okT = len(p) > 1 and np.isfinite(q[-1]).all()
            self.end.set_data(q[-1:, 0] if okT else [], q[-1:, 1] if okT else [])
            r = _cut(p, s.xlim, s.ylim, margin=0.0)
            z = np.full(len(r), np.nan)
            if show:
                z = np.asarray(s.f(np.nan_to_num(r)), dtype=float).reshape(-1)
            z[~np.isfinite(r).all(axis=1)] = np.nan
            z[(z < self._zlim[0]) | (z > self._zlim[1])] = np.nan
            self.path3d.set_data_3d(r[:, 0], r[:, 1], z)
        for a in (self.path, self.start, self.end, self.path3d):
            a.set_visible(show)
        ax1.set_title(
            f"{s.name}: GD DIVERGES" if summary.diverged else s.name,
            color="#D55E00" if summary.diverged else "black",
            y=1.0,
        )
        losses = np.asarray(summary.losses, dtype=float)
        finite = losses[np.isfinite(losses)]
        self.loss.set_data(np.arange(len(losses)), losses)
        self.loss.set_visible(bool(finite.size))
        log = bool(finite.size and finite.min() > 0 and finite.max() / finite.min() > 100)
        if ax3.get_yscale() != ("log" if log else "linear"):
            ax3.set_yscale("log" if log else "linear")
        if finite.size:
            ax3.relim()
            ax3.autoscale_view()
        else:
            ax3.set_xlim(0, 1)
            ax3.set_ylim(0, 1)
        self.blitter.update()


class LossSurfaceExplorer:
    """The explorer widget. `gradient_descent(grad, w0, lr, steps)` must return the path
    (steps + 1, 2); `extra` adds surfaces to the menu ({label: Surface}, e.g. made with
    :func:`coursekit.surfaces.from_functions`)."""

    def __init__(
        self,
        gradient_descent: Callable[..., Any],
        extra: Mapping[str, Surface] | None = None,
        *,
        surface: str = "quadratic bowl (κ slider)",
        kappa: float = 10.0,
        lr: float | None = None,
        steps: int = 60,
        start: tuple[float, float] | None = None,
        grid: int = 120,
    ) -> None:
        import ipywidgets as W

        self.gradient_descent = gradient_descent
        self.surfaces: dict[str, Surface | str] = {**MENU, **dict(extra or {})}
        self.grid = grid
        self.summary: RunSummary | None = None
        self._quiet = True
        self._drawn_key: tuple | None = None

        self.menu = W.Dropdown(options=list(self.surfaces), value=surface, description="surface")
        self.kappa = W.FloatLogSlider(
            value=kappa, base=10, min=0, max=2, step=0.05, description="κ"
        )
        self.lr = W.FloatLogSlider(
            value=0.1, base=10, min=-4, max=1, step=0.01, description="lr", readout_format=".3g"
        )
        self.steps = W.IntSlider(value=steps, min=1, max=300, description="steps")
        self.x0 = W.FloatSlider(description="start w₁", step=0.01)
        self.y0 = W.FloatSlider(description="start w₂", step=0.01)
        for slider in (self.kappa, self.lr, self.steps, self.x0, self.y0):
            slider.continuous_update = False  # one run per release of the handle, not per pixel
        self.status = W.HTML()
        self.status.add_class("coursekit-explorer-status")
        self.fig, self.view = live_figure(figsize=(11, 3.7), dpi=80)  # 880 px: the notebook width
        self.picture = ExplorerView(self.fig, live=self.view is not None)
        self._set_surface_controls(start, lr)
        controls = W.VBox([self.menu, self.kappa, self.lr, self.steps, self.x0, self.y0])
        parts = [W.HBox([controls, self.status])]
        if self.view is not None:
            parts.append(self.view)
        self.widget = W.VBox(parts)
        self.widget.add_class("coursekit-explorer")

        self.menu.observe(self._on_surface, names="value")
        for w in (self.kappa, self.lr, self.steps, self.x0, self.y0):
            w.observe(self._on_change, names="value")
        self._quiet = False
        self.update()

    # --- state ------------------------------------------------------------------------------

    def current_surface(self) -> Surface:
        s = self.surfaces[self.menu.value]
        if s == "quadratic":
            return quadratic(float(self.kappa.value), QUAD_ANGLE)
        return s if isinstance(s, Surface) else SURFACES[s]

    def _set_surface_controls(self, start: tuple[float, float] | None, lr: float | None) -> None:
        s = self.current_surface()
        start = tuple(start or s.start)
        for slider, lim, v in ((self.x0, s.xlim, start[0]), (self.y0, s.ylim, start[1])):
            lo, hi = float(lim[0]), float(lim[1])
            slider.min, slider.max = -1e9, 1e9  # widen first so min/max never cross
            slider.min, slider.max = lo, hi
            slider.step = (hi - lo) / 200
            slider.value = float(np.clip(v, lo, hi))
        key = self.surfaces[self.menu.value]
        self.lr.value = float(
            lr if lr is not None else DEFAULT_LR.get(key, 0.1) if isinstance(key, str) else 0.5
        )
        self.kappa.disabled = key != "quadratic"

    def set(self, **values: Any) -> LossSurfaceExplorer:
        """Move controls from code: surface= (menu label or built-in name), kappa=, lr=,
        steps=, start=(w1, w2). Redraws once. Returns self."""
        self._quiet = True
        try:
            if "surface" in values:
                name = values.pop("surface")
                label = next((k for k, v in self.surfaces.items() if v == name), name)
                if label not in self.surfaces:
                    raise KeyError(
                        f"unknown surface {name!r}; choose from {', '.join(self.surfaces)}"
                    )
                self.menu.value = label
                self._set_surface_controls(values.get("start"), values.get("lr"))
            if "kappa" in values:
                self.kappa.value = float(values.pop("kappa"))
            if "lr" in values:
                self.lr.value = float(values.pop("lr"))
            if "steps" in values:
                self.steps.value = int(values.pop("steps"))
            if "start" in values:
                self.x0.value, self.y0.value = (float(v) for v in values.pop("start"))
            if values:
                raise TypeError(f"unknown control(s): {', '.join(values)}")
        finally:
            self._quiet = False
        self.update()
        return self

    # --- drawing ----------------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Run the notebook's gradient descent with the current controls."""
        s = self.current_surface()
        w0 = np.array([self.x0.value, self.y0.value], dtype=float)
        try:
            with np.errstate(all="ignore"):
                path = self.gradient_descent(
                    s.grad, w0.copy(), float(self.lr.value), int(self.steps.value)
                )
            path = np.asarray(path, dtype=float)
            if path.ndim != 2 or path.shape[1] != 2:
                raise ValueError(
                    f"gradient_descent returned shape {path.shape}, expected (steps + 1, 2)"
                )
        except NotImplementedError:
            return self._failed(s, w0, "Write gradient_descent (its exercise) to see GD run here.")
        except Exception as exc:  # the student's code: say what broke
            return self._failed(s, w0, f"gradient_descent raised {type(exc).__name__}: {exc}")
        try:
            return summarize_run(s, path)
        except NotImplementedError as exc:
            return self._failed(s, w0, f"this surface is not ready: {exc}")

    def _failed(self, s: Surface, w0: np.ndarray, message: str) -> RunSummary:
        return RunSummary(w0[None], np.full(1, np.nan), None, w0, None, False, error=message)

    def update(self) -> None:
        if self._quiet:
            return
        self.summary = self.run()
        self.status.value = status_html(self.summary, float(self.lr.value))
        self._draw(self.summary)

    def _draw(self, summary: RunSummary) -> None:
        """Redraw the run (path, loss curve, title: blitted live); the surface itself (level
        lines, 3-D sheet) only when the surface or κ changed."""
        s = self.current_surface()
        key = (self.menu.value, float(self.kappa.value))
        if key != self._drawn_key:
            builtin = s.name in {v.name for v in SURFACES.values()} or "quadratic" in s.name
            self.picture.draw_surface(s, n=self.grid if builtin else min(self.grid, 60))
            self._drawn_key = key
        self.picture.draw_run(s, summary)

    def _on_surface(self, change: dict) -> None:
        if self._quiet:
            return
        self._quiet = True
        try:
            self._set_surface_controls(None, None)
        finally:
            self._quiet = False
        self.update()

    def _on_change(self, change: dict) -> None:
        self.update()

    # --- showing ----------------------------------------------------------------------------

    def status_text(self) -> str:
        """The status line as plain text (tags removed)."""
        import re

        return html.unescape(re.sub(r"<[^>]+>", " ", self.status.value)).replace("  ", " ").strip()

    def show(self) -> None:
        """The live widget in JupyterLab; headless, the current picture and status as text."""
        from IPython.display import display

        if is_headless() or self.view is None:
            display(self.fig)
            print(self.status_text())
            return
        display(self.widget)
