"""The optimizer race (notebook 03): optimizers side by side on a 2-D surface, live.

    >>> r = race("rosenbrock")                       # torch.optim's six, in a widget
    >>> r = race("bowl", mine={"my Adam": Adam})     # the student's own class enters the race

An optimizer here is anything with ``step(w, g, lr=None) -> new w`` on NumPy arrays (the
student's classes in notebook 03 follow that contract). The reference racers are
``torch.optim`` optimizers behind the same contract (:class:`TorchStepper`): this module holds
no optimizer update rule of its own, so it holds no exercise answer.

Live in JupyterLab the race is an ipywidgets layout (CSS class ``coursekit-race``): surface
picker, optimizer check boxes, sliders (learning rate, momentum β / β₁, β₂ / α, noise σ),
play / pause (an ``ipywidgets.Play``), step and reset buttons, an ipympl canvas with the
paths on the contour plot and the loss against the step, and a leaderboard (steps to reach the
tolerance, or "diverged"). Clicking the contour plot moves the start point. A frame advances
every racer a few steps and only updates artists; the contour plot is rendered once into a
background image, so a frame costs a few milliseconds of Python plus one cheap Agg draw
(``bench/bench_race.py`` measures it). Headless (tests, grading) the race runs to the end at
once and displays one static final frame: it never animates and never waits.

Helpers for notebook 03's test cells (they run in the grader's process):
:func:`torch_path` (the reference trajectory of a ``torch.optim`` optimizer),
:func:`student_path` (the trajectory of a student optimizer, called step by step with plain
arrays) and :func:`first_divergence` / :func:`report_divergence` (the first step at which two
trajectories part, and by how much).
"""

from __future__ import annotations

import inspect
import math
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .surfaces import SURFACES, Surface, get_surface

__all__ = [
    "TorchStepper",
    "REFERENCE",
    "Racer",
    "Race",
    "race",
    "torch_path",
    "student_path",
    "first_divergence",
    "report_divergence",
    "StudentOptimizer",
]

Array = np.ndarray

COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#000000",
    "#aec7e8",
)


# --- torch.optim behind the step(w, g) contract -------------------------------------------------


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


# name: (torch.optim class, extra hyper-parameters, which sliders it reads)
REFERENCE: dict[str, tuple[str, dict, tuple[str, ...]]] = {
    "SGD": ("SGD", {}, ("lr",)),
    "Momentum": ("SGD", {}, ("lr", "momentum")),
    "Nesterov": ("SGD", {"nesterov": True}, ("lr", "momentum")),
    "AdaGrad": ("Adagrad", {}, ("lr", "eps")),
    "RMSProp": ("RMSprop", {}, ("lr", "alpha", "eps")),
    "Adam": ("Adam", {}, ("lr", "betas", "eps")),
}


def _slider_kwargs(accepts: Sequence[str], lr: float, beta: float, beta2: float) -> dict:
    """The constructor's keywords from the sliders. ``lr`` is a pair (gradient methods,
    adaptive methods): a class whose constructor takes ``eps`` is adaptive (its lr is a step
    length, not a multiple of the gradient)."""
    kw: dict[str, Any] = {}
    if "lr" in accepts:
        kw["lr"] = lr[1] if "eps" in accepts else lr[0]
    if "momentum" in accepts:
        kw["momentum"] = beta
    if "betas" in accepts:
        kw["betas"] = (beta, beta2)
    if "alpha" in accepts:
        kw["alpha"] = beta2
    return kw


def _accepted(cls: Callable) -> tuple[str, ...]:
    """Which of the sliders' keywords a class's constructor takes."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return ("lr",)
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return ("lr",)
    return tuple(k for k in ("lr", "momentum", "betas", "alpha", "eps") if k in params)


@dataclass
class Racer:
    """One lane of the race: a name and a factory ``make((lr, lr_adaptive), beta, beta2)``."""

    name: str
    make: Callable[[tuple[float, float], float, float], Any]
    color: str = "#000000"
    mine: bool = False  # the student's own implementation (drawn dashed)
    # state of the current run
    opt: Any = None
    path: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    reached: int | None = None
    diverged: int | None = None
    error: str = ""

    @classmethod
    def reference(cls, name: str, color: str) -> Racer:
        torch_cls, extra, sliders = REFERENCE[name]

        def make(lr: tuple[float, float], beta: float, beta2: float) -> TorchStepper:
            return TorchStepper(torch_cls, **extra, **_slider_kwargs(sliders, lr, beta, beta2))

        return cls(name, make, color)

    @classmethod
    def student(cls, name: str, opt_cls: Callable, color: str) -> Racer:
        accepts = _accepted(opt_cls)

        def make(lr: tuple[float, float], beta: float, beta2: float) -> Any:
            return opt_cls(**_slider_kwargs(accepts, lr, beta, beta2))

        return cls(name, make, color, mine=True)


class Race:
    """The state of a race and, live, its widget. Build it with :func:`race`.

    Plain attributes a notebook can read after a (headless) run: ``results()`` → a list of
    dicts (name, steps to tolerance or None, diverged step or None, final loss).
    """

    def __init__(
        self,
        surface: str | Surface = "bowl",
        *,
        optimizers: Sequence[str] | None = None,
        mine: Mapping[str, Callable] | None = None,
        lr: float | None = None,
        lr_adaptive: float | None = None,
        beta: float | None = None,
        beta2: float = 0.99,
        noise: float = 0.0,
        start: tuple[float, float] | None = None,
        steps: int = 300,
        steps_per_frame: int = 2,
        tol: float = 1e-3,
        seed: int = 0,
        grid: int = 160,
        figsize: tuple[float, float] = (10.0, 4.2),
        live: bool | None = None,
    ) -> None:
        from .interactive import is_headless

        self.surface_name = surface if isinstance(surface, str) else surface.name
        self.surface = get_surface(surface) if isinstance(surface, str) else surface
        names = list(REFERENCE) if optimizers is None else list(optimizers)
        unknown = [n for n in names if n not in REFERENCE]
        if unknown:
            raise ValueError(f"unknown optimizers {unknown}; choose from {', '.join(REFERENCE)}")
        self.racers: list[Racer] = []
        for i, n in enumerate(REFERENCE):
            self.racers.append(Racer.reference(n, COLORS[i % len(COLORS)]))
        for j, (n, c) in enumerate((mine or {}).items()):
            self.racers.append(Racer.student(n, c, COLORS[(len(REFERENCE) + j) % len(COLORS)]))
        self.active = {r.name for r in self.racers if r.name in names or r.mine}
        d = _defaults(self.surface_name)
        self.lr = float(lr) if lr is not None else d["lr"]
        self.lr_adaptive = float(lr_adaptive) if lr_adaptive is not None else d["lr_adaptive"]
        self.beta = float(beta) if beta is not None else d["beta"]
        self.beta2, self.noise = float(beta2), float(noise)
        self.start = tuple(start) if start is not None else tuple(self.surface.start)
        self.max_steps = int(steps)
        self.steps_per_frame = max(1, int(steps_per_frame))
        self.tol = float(tol)
        self.seed = int(seed)
        self.grid = int(grid)
        self.figsize = figsize
        self.live = (not is_headless()) if live is None else bool(live)
        self.t = 0
        self.fig: Any = None
        self.view: Any = None
        self.widget: Any = None
        self._artists: dict[str, tuple] = {}
        self._board_cache = ""
        self.reset()

    def __repr__(self) -> str:
        board = "; ".join(f"{n}: {v}" for n, v in self.leaderboard())
        return f"<Race on {self.surface.name}, step {self.t}/{self.max_steps} — {board}>"

    # --- the race itself (no drawing) ---------------------------------------------------------

    @property
    def f_star(self) -> float | None:
        mins = self.surface.minima
        if not mins:
            return None
        return float(min(self.surface.f(np.array(m, dtype=float)) for m in mins))

    def reset(self) -> None:
        """Back to the start point with fresh optimizers (the sliders' current values)."""
        self.t = 0
        self._rng = np.random.default_rng(self.seed)
        self._fstar = self.f_star
        w0 = np.array(self.start, dtype=np.float64)
        f0 = float(self.surface.f(w0))
        for r in self.racers:
            r.path = [w0.copy()]
            r.losses = [f0]
            r.reached = 0 if self._done(f0) else None
            r.diverged = None
            r.error = ""
            try:
                r.opt = r.make((self.lr, self.lr_adaptive), self.beta, self.beta2)
            except Exception as exc:  # noqa: BLE001 - a broken student class must not stop the race
                r.opt = None
                r.error = f"{type(exc).__name__}: {exc}"

    def _done(self, f: float) -> bool:
        return self._fstar is not None and f - self._fstar < self.tol

    @property
    def finished(self) -> bool:
        if self.t >= self.max_steps:
            return True
        return all(
            r.diverged is not None or r.error or r.opt is None
            for r in self.racers
            if r.name in self.active
        )

    def advance(self, n: int = 1) -> None:
        """Every active racer takes `n` steps (same noise for everyone at a given step)."""
        s = self.surface
        for _ in range(n):
            if self.t >= self.max_steps:
                return
            self.t += 1
            noise = self._rng.standard_normal(2) * self.noise if self.noise > 0 else None
            for r in self.racers:
                if r.name not in self.active or r.opt is None or r.diverged is not None or r.error:
                    continue
                w = r.path[-1]
                g = s.grad(w)
                if noise is not None:
                    g = g + noise
                try:
                    new = np.asarray(r.opt.step(w.copy(), g), dtype=np.float64).reshape(2)
                except Exception as exc:  # noqa: BLE001
                    r.error = f"{type(exc).__name__}: {exc}"
                    continue
                f = float(s.f(new)) if np.all(np.isfinite(new)) else math.inf
                if not math.isfinite(f) or abs(f) > 1e12 or float(np.abs(new).max()) > 1e6:
                    r.diverged = self.t
                    continue
                r.path.append(new)
                r.losses.append(f)
                if r.reached is None and self._done(f):
                    r.reached = self.t

    def run(self) -> Race:
        """Run to the end (max steps, or every racer diverged)."""
        while not self.finished:
            self.advance(self.steps_per_frame)
        return self

    def results(self) -> list[dict]:
        """One dict per active racer: name, reached (steps to tolerance or None), diverged
        (the step or None), loss (the last finite loss), error (a student class that raised)."""
        out = []
        for r in self.racers:
            if r.name in self.active:
                out.append(
                    {
                        "name": r.name,
                        "reached": r.reached,
                        "diverged": r.diverged,
                        "loss": r.losses[-1],
                        "error": r.error,
                        "steps": len(r.losses) - 1,
                    }
                )
        return out

    def leaderboard(self) -> list[tuple[str, str]]:
        """(name, verdict) rows, best first: reached (fewest steps), running (lowest loss),
        diverged, broken."""
        rows = []
        for r in self.results():
            if r["error"]:
                rows.append(((3, 0.0), r["name"], f"error: {r['error'][:60]}"))
            elif r["diverged"] is not None:
                rows.append(((2, r["diverged"]), r["name"], f"diverged at step {r['diverged']}"))
            elif r["reached"] is not None:
                rows.append(((0, r["reached"]), r["name"], f"{r['reached']} steps"))
            else:
                rows.append(((1, r["loss"]), r["name"], f"not yet (loss {r['loss']:.3g})"))
        rows.sort(key=lambda x: x[0])
        return [(n, v) for _, n, v in rows]

    # --- drawing --------------------------------------------------------------------------------

    def _background(self) -> tuple[Array, tuple[float, float, float, float]]:
        """The contour plot rendered once into an RGBA image (drawn under the paths)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        s = self.surface
        x0, x1 = s.xlim
        y0, y1 = s.ylim
        xs = np.linspace(x0, x1, self.grid)
        ys = np.linspace(y0, y1, self.grid)
        X, Y = np.meshgrid(xs, ys)
        Z = np.asarray(s.f(np.stack([X, Y], -1)), dtype=float)
        if s.log_levels:
            Z = np.log10(Z - Z.min() + 1e-3)
        lo, hi = np.percentile(Z, [0.5, 99.5])
        levels = np.linspace(lo, hi, 18)
        w_px, h_px = 480, 400
        fig = Figure(figsize=(w_px / 100, h_px / 100), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.contourf(X, Y, np.clip(Z, lo, hi), levels=levels, cmap="viridis", alpha=0.55)
        ax.contour(X, Y, np.clip(Z, lo, hi), levels=levels, colors="k", linewidths=0.4, alpha=0.5)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.axis("off")
        fig.canvas.draw()
        img = np.asarray(fig.canvas.buffer_rgba()).copy()
        return img, (x0, x1, y0, y1)

    def build_figure(self) -> Any:
        """Create the figure (ipympl canvas live, Agg headless) and its artists."""
        from .interactive import live_figure

        if self.live:
            fig, view = live_figure(self.figsize)
        else:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            fig, view = Figure(figsize=self.figsize), None
            FigureCanvasAgg(fig)
        self.fig, self.view = fig, view
        self.ax, self.ax_loss = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
        fig.subplots_adjust(left=0.06, right=0.98, bottom=0.12, top=0.9, wspace=0.22)
        self._bg: Any = None
        self._draw_static()
        if view is not None:
            if hasattr(fig.canvas, "get_diff_image"):  # ipympl: cheaper PNG frames
                fig.canvas.get_diff_image = types.MethodType(_fast_diff_image, fig.canvas)
            fig.canvas.mpl_connect("button_press_event", self._on_click)
            fig.canvas.mpl_connect("draw_event", self._on_draw)
        return fig

    def _animated(self) -> list:
        return [a for trio in self._artists.values() for a in trio]

    def _on_draw(self, _event: Any) -> None:
        """After a full draw (first show, resize, new surface): keep the static picture as the
        background for blitting, then paint the moving artists on top of it."""
        canvas = self.fig.canvas
        self._bg = canvas.copy_from_bbox(self.fig.bbox)
        self._paint_animated()

    def _paint_animated(self) -> None:
        for r in self.racers:
            for a in self._artists[r.name]:
                if a.get_visible():
                    a.axes.draw_artist(a)

    def _draw_static(self) -> None:
        ax, axl = self.ax, self.ax_loss
        ax.clear()
        axl.clear()
        s = self.surface
        img, extent = self._background()
        ax.imshow(
            img, extent=extent, origin="upper", interpolation="nearest", aspect="auto", zorder=0
        )
        for m in s.minima:
            ax.plot(*m, marker="*", color="gold", markeredgecolor="k", markersize=12, zorder=3)
        ax.set_xlim(*s.xlim)
        ax.set_ylim(*s.ylim)
        ax.set_title(f"{s.name}: click to move the start" if self.live else s.name, fontsize=10)
        (self._start_artist,) = ax.plot(
            *self.start, "o", color="white", markeredgecolor="k", markersize=7, zorder=4
        )
        fstar = self._fstar
        axl.set_xlabel("step")
        axl.set_ylabel("f(w) − f*" if fstar is not None else "f(w)")
        axl.set_xlim(0, self.max_steps)
        if fstar is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axl.set_yscale("log")
            f0 = max(r.losses[0] for r in self.racers) - fstar
            axl.set_ylim(self.tol / 10, max(10 * f0, 10 * self.tol))
            axl.axhline(self.tol, color="0.5", lw=0.8, ls=":")
        else:
            f0 = self.racers[0].losses[0]
            axl.set_ylim(f0 - 2 * (abs(f0) + 1), f0 + 0.5 * (abs(f0) + 1))
        axl.set_title("loss against step", fontsize=10)
        self._artists = {}
        for r in self.racers:
            ls = "--" if r.mine else "-"
            (path,) = ax.plot([], [], ls, color=r.color, lw=1.6, label=r.name, zorder=2)
            (head,) = ax.plot([], [], "o", color=r.color, markersize=5, zorder=3)
            (loss,) = axl.plot([], [], ls, color=r.color, lw=1.4, label=r.name)
            self._artists[r.name] = (path, head, loss)
            if self.live:  # drawn by blitting, on top of the cached static picture
                for a in self._artists[r.name]:
                    a.set_animated(True)
        handles = [self._artists[r.name][2] for r in self.racers]
        self._legend = axl.legend(
            handles, [r.name for r in self.racers], fontsize=8, loc="upper right", ncol=2
        )
        self.update_artists()

    def update_artists(self) -> None:
        """Push the racers' paths into the artists (no drawing)."""
        fstar = self._fstar
        for r in self.racers:
            path, head, loss = self._artists[r.name]
            on = r.name in self.active
            path.set_visible(on)
            head.set_visible(on)
            loss.set_visible(on)
            if not on:
                continue
            P = np.asarray(r.path)
            path.set_data(P[:, 0], P[:, 1])
            head.set_data(P[-1:, 0], P[-1:, 1])
            L = np.asarray(r.losses)
            if fstar is not None:
                L = np.maximum(L - fstar, self.tol / 20)
            loss.set_data(np.arange(len(L)), L)
        self._start_artist.set_data([self.start[0]], [self.start[1]])

    def frame(self) -> None:
        """One animation frame: advance, update artists, ask the canvas to redraw."""
        self.advance(self.steps_per_frame)
        self.redraw()

    def redraw(self) -> None:
        """Show the current state: blit the moving artists over the cached background (live),
        or ask for a full redraw when there is no background yet."""
        self.update_artists()
        self._update_board()
        if self.fig is None:
            return
        canvas = self.fig.canvas
        if self._bg is not None and hasattr(canvas, "restore_region"):
            canvas.restore_region(self._bg)
            self._paint_animated()
            canvas.blit(self.fig.bbox)
        else:
            canvas.draw_idle()

    def draw_static(self) -> None:
        """Headless: run the race to the end and display one static final frame."""
        from IPython.display import display

        self.run()
        if self.fig is None:
            self.build_figure()
        self.update_artists()
        rows = [f"{n}: {v}" for n, v in self.leaderboard()]
        lines = ["  ·  ".join(rows[i : i + 3]) for i in range(0, len(rows), 3)]
        self.fig.suptitle("\n".join(lines), fontsize=8)
        self.fig.subplots_adjust(top=0.86 - 0.03 * len(lines))
        display(self.fig)

    def _on_click(self, event: Any) -> None:
        if event.inaxes is not self.ax or event.xdata is None:
            return
        self.start = (float(event.xdata), float(event.ydata))
        self._restart()

    # --- the widget -----------------------------------------------------------------------------

    def _board_html(self) -> str:
        rows = "".join(
            f"<tr><td style='color:{self._color(n)};padding-right:1em'><b>{n}</b></td><td>{v}</td></tr>"
            for n, v in self.leaderboard()
        )
        return (
            f"<div><b>Leaderboard</b> (step {self.t}/{self.max_steps}, "
            f"tolerance f − f* &lt; {self.tol:g})<table>{rows}</table></div>"
        )

    def _color(self, name: str) -> str:
        return next(r.color for r in self.racers if r.name == name)

    def _update_board(self) -> None:
        if self.widget is None:
            return
        html = self._board_html()
        if html != self._board_cache:  # only send what changed
            self._board_cache = html
            self.board.value = html

    def _restart(self) -> None:
        if self.widget is not None and self.play.playing:
            self.play.playing = False
        self.reset()
        if self.widget is not None:
            with self.play.hold_trait_notifications():
                self._ignore_play = True
                self.play.value = 0
                self._ignore_play = False
        self.redraw()

    def build_widget(self) -> Any:
        import ipywidgets as W

        _warm_up()
        self.build_figure()
        self.surface_pick = W.Dropdown(
            options=list(SURFACES),
            value=self.surface_name if self.surface_name in SURFACES else None,
            description="surface",
        )
        self.surface_pick.add_class("coursekit-race-surface")
        self.checks = {}
        for r in self.racers:
            c = W.Checkbox(
                value=r.name in self.active,
                description=r.name,
                indent=False,
                layout=W.Layout(width="auto"),
            )
            c.add_class("coursekit-race-optimizer")
            c.observe(self._on_check(r.name), "value")
            self.checks[r.name] = c
        self.lr_slider = W.FloatLogSlider(
            value=self.lr,
            base=10,
            min=-4,
            max=0.5,
            step=0.05,
            description="learning rate",
            readout_format=".2g",
            continuous_update=False,
            tooltip="SGD, Momentum, Nesterov: w -= lr * (a gradient sum)",
        )
        self.lr_slider.add_class("coursekit-race-lr")
        self.lr_adaptive_slider = W.FloatLogSlider(
            value=self.lr_adaptive,
            base=10,
            min=-4,
            max=0.5,
            step=0.05,
            description="lr (adaptive)",
            readout_format=".2g",
            continuous_update=False,
            tooltip="AdaGrad, RMSProp, Adam: about the length of a step",
        )
        self.lr_adaptive_slider.add_class("coursekit-race-lr-adaptive")
        self.beta_slider = W.FloatSlider(
            value=self.beta,
            min=0.0,
            max=0.99,
            step=0.01,
            description="β (mom., β₁)",
            continuous_update=False,
        )
        self.beta_slider.add_class("coursekit-race-beta")
        self.beta2_slider = W.FloatSlider(
            value=self.beta2,
            min=0.5,
            max=0.999,
            step=0.001,
            description="β₂ / α",
            readout_format=".3f",
            continuous_update=False,
        )
        self.beta2_slider.add_class("coursekit-race-beta2")
        self.noise_slider = W.FloatSlider(
            value=self.noise,
            min=0.0,
            max=5.0,
            step=0.1,
            description="noise σ",
            continuous_update=False,
        )
        self.noise_slider.add_class("coursekit-race-noise")
        for s in (
            self.lr_slider,
            self.lr_adaptive_slider,
            self.beta_slider,
            self.beta2_slider,
            self.noise_slider,
        ):
            s.observe(self._on_slider, "value")
        self.surface_pick.observe(self._on_surface, "value")
        # the Play widget is the clock (one tick = one frame); the race itself says when it is over
        self.play = W.Play(
            value=0, min=0, max=10**9, step=1, interval=60, description="play", show_repeat=False
        )
        self.play.add_class("coursekit-race-play")
        self.play.observe(self._on_play, "value")
        self._ignore_play = False
        self.step_button = W.Button(description="step", tooltip="one frame")
        self.step_button.add_class("coursekit-race-step")
        self.step_button.on_click(lambda _b: self.frame())
        self.reset_button = W.Button(description="reset", tooltip="back to the start")
        self.reset_button.add_class("coursekit-race-reset")
        self.reset_button.on_click(lambda _b: self._restart())
        self.board = W.HTML(value="", description="")
        self.board.add_class("coursekit-race-leaderboard")
        controls = W.VBox(
            [
                W.HBox(
                    [self.surface_pick, *self.checks.values()],
                    layout=W.Layout(flex_flow="row wrap"),
                ),
                W.HBox([self.lr_slider, self.lr_adaptive_slider, self.noise_slider]),
                W.HBox([self.beta_slider, self.beta2_slider]),
                W.HBox([self.play, self.step_button, self.reset_button]),
            ]
        )
        self.widget = W.VBox([controls, self.view, self.board])
        self.widget.add_class("coursekit-race")
        self._update_board()
        return self.widget

    def _on_check(self, name: str) -> Callable:
        def handler(change: dict) -> None:
            if change["new"]:
                self.active.add(name)
            else:
                self.active.discard(name)
            self._restart()

        return handler

    def _on_slider(self, _change: dict) -> None:
        if getattr(self, "_switching", False):
            return
        self.lr = float(self.lr_slider.value)
        self.lr_adaptive = float(self.lr_adaptive_slider.value)
        self.beta = float(self.beta_slider.value)
        self.beta2 = float(self.beta2_slider.value)
        self.noise = float(self.noise_slider.value)
        self._restart()

    def _on_surface(self, change: dict) -> None:
        if change["new"] is None:
            return
        self.surface_name = change["new"]
        self.surface = get_surface(self.surface_name)
        self.start = tuple(self.surface.start)
        d = _defaults(self.surface_name)
        self.lr, self.lr_adaptive, self.beta = d["lr"], d["lr_adaptive"], d["beta"]
        self._switching = True
        try:
            self.lr_slider.value = self.lr
            self.lr_adaptive_slider.value = self.lr_adaptive
            self.beta_slider.value = self.beta
        finally:
            self._switching = False
        self.reset()
        self._bg = None
        self._draw_static()
        self._restart()
        self.fig.canvas.draw_idle()  # a full draw: new background

    def _on_play(self, change: dict) -> None:
        if self._ignore_play or change["new"] == 0:
            return
        self.frame()
        if self.finished and self.play.playing:
            self.play.playing = False

    def show(self) -> Race:
        """Display the widget live, or one static final frame headless."""
        from IPython.display import display

        from .interactive import grading_mode

        if self.live:
            display(self.build_widget())
        elif grading_mode():  # nobody looks: a short race, no picture
            self.max_steps = min(self.max_steps, 40)
            self.run()
            print(f"(race on {self.surface.name} not drawn while grading)")
        else:
            self.draw_static()
        return self


_WARM = False


def _warm_up() -> None:
    """torch.optim's first step imports a lot (about 2 s): pay it before the first frame."""
    global _WARM
    if not _WARM:
        for name in REFERENCE:
            Racer.reference(name, "k").make((0.1, 0.1), 0.9, 0.99).step(np.zeros(2), np.ones(2))
        _WARM = True


def _fast_diff_image(canvas: Any) -> bytes | None:
    """matplotlib's WebAgg ``get_diff_image`` with a fast PNG compression level.

    A frame sends a full-size image that is transparent black except where pixels changed;
    zlib level 1 encodes it several times faster than the default level and the image is
    barely larger (it is mostly zeros)."""
    from io import BytesIO

    from PIL import Image

    if not canvas._png_is_old:
        return None
    renderer = canvas.get_renderer()
    pixels = np.asarray(renderer.buffer_rgba())
    buff = pixels.view(np.uint32).squeeze(2)
    if (
        canvas._force_full
        or buff.shape != canvas._last_buff.shape
        or (pixels[:, :, 3] != 255).any()
    ):
        canvas.set_image_mode("full")
        output = buff
    else:
        canvas.set_image_mode("diff")
        output = np.where(buff != canvas._last_buff, buff, 0)
    canvas._last_buff = buff.copy()
    canvas._force_full = False
    canvas._png_is_old = False
    data = output.view(dtype=np.uint8).reshape((*output.shape, 4))
    with BytesIO() as png:
        Image.fromarray(data).save(png, format="png", compress_level=1)
        return png.getvalue()


# per track: (lr of the gradient methods, lr of the adaptive methods, momentum β) at which the
# reference racers show the track's lesson
_DEFAULTS = {
    "bowl": (0.3, 0.3, 0.7),
    "quadratic": (0.12, 0.1, 0.7),
    "rosenbrock": (1e-3, 0.05, 0.9),
    "saddle": (0.05, 0.05, 0.9),
    "monkey": (0.02, 0.02, 0.9),
    "himmelblau": (0.005, 0.1, 0.9),
    "beale": (0.005, 0.05, 0.9),
    "pathological": (0.5, 0.1, 0.9),
    "steep": (0.2, 0.05, 0.9),
    "plateau": (1.0, 0.5, 0.9),
}


def _defaults(name: str) -> dict:
    lr, lr_a, beta = _DEFAULTS.get(name, (0.05, 0.05, 0.9))
    return {"lr": lr, "lr_adaptive": lr_a, "beta": beta}


def race(
    surface: str | Surface = "bowl", *, mine: Mapping[str, Callable] | None = None, **options: Any
) -> Race:
    """The optimizer race on `surface` (a name from coursekit.surfaces.SURFACES), shown.

    mine: {"label": OptimizerClass} — the student's classes (constructor takes some of lr=,
        momentum=, betas=, alpha=; ``step(w, g) -> new w``) race next to torch.optim's.
    options: optimizers (which reference racers start ticked), lr (SGD, Momentum, Nesterov),
        lr_adaptive (AdaGrad, RMSProp, Adam: a class taking eps=), beta (momentum and Adam's β₁),
        beta2 (RMSProp's α and Adam's β₂), noise (σ of Gaussian noise added to every gradient),
        start, steps (the race length), steps_per_frame, tol, seed, live (force live / static).
    Live it displays the widget; headless it runs to the end and shows one static frame.
    Returns the Race (``.results()``, ``.leaderboard()``).
    """
    return Race(surface, mine=mine, **options).show()


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


def StudentOptimizer(params: Any, make: Callable[[], Any]) -> Any:  # noqa: N802 - a class factory
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
        def step(self, closure: Any = None) -> Any:  # noqa: ANN401
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
