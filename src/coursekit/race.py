"""The optimizer race (notebook 03): optimizers side by side on a 2-D surface, live.

    >>> r = race("rosenbrock")                       # torch.optim's six, in a widget
    >>> r = race("bowl", mine={"my Adam": Adam})     # the student's own class enters the race

Three parts, as in ``explorer`` and ``gradflow``:

- :class:`Race` — the race itself, no drawing: racers (``torch.optim`` references behind the
  ``step(w, g) -> new w`` contract of :mod:`coursekit.optim`, and the student's classes), the
  shared noise, steps to tolerance, divergence, the leaderboard;
- :class:`RacePlot` — its picture: the contour plot rendered once into a background image
  (``plots.surface_grid``), the paths and loss curves as artists that a frame only updates and
  blits, so a frame costs a few milliseconds (``bench/bench_race.py`` measures it);
- :class:`RaceWidget` — the controls live in JupyterLab (CSS class ``coursekit-race``): surface
  picker, optimizer check boxes, sliders (learning rate, momentum β / β₁, β₂ / α, noise σ),
  play / pause (an ``ipywidgets.Play``), step and reset buttons, a leaderboard; clicking the
  contour plot moves the start point.

Headless (tests, grading) :func:`race` runs to the end at once and displays one static final
frame: it never animates and never waits. The trajectory helpers that notebook 03's test cells
import live in :mod:`coursekit.optim`; they are re-exported here for notebooks already released.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .optim import (
    StudentOptimizer,
    TorchStepper,
    first_divergence,
    report_divergence,
    student_path,
    torch_path,
)
from .race_plot import RacePlot
from .surfaces import SURFACES, Surface, get_surface

__all__ = [  # and, for notebooks already released, the names coursekit.optim holds
    "REFERENCE",
    "Racer",
    "Race",
    "RacePlot",
    "RaceWidget",
    "race",
    # re-exported from coursekit.optim
    "TorchStepper",
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

# name: (torch.optim class, extra hyper-parameters, which sliders it reads)
REFERENCE: dict[str, tuple[str, dict, tuple[str, ...]]] = {
    "SGD": ("SGD", {}, ("lr",)),
    "Momentum": ("SGD", {}, ("lr", "momentum")),
    "Nesterov": ("SGD", {"nesterov": True}, ("lr", "momentum")),
    "AdaGrad": ("Adagrad", {}, ("lr", "eps")),
    "RMSProp": ("RMSprop", {}, ("lr", "alpha", "eps")),
    "Adam": ("Adam", {}, ("lr", "betas", "eps")),
}


def _slider_kwargs(
    accepts: Sequence[str], lr: tuple[float, float], beta: float, beta2: float
) -> dict:
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
    """The state of a race, with no drawing. Build and show one with :func:`race`.

    After a (headless) run: ``results()`` → a list of dicts (name, steps to tolerance or None,
    diverged step or None, final loss), ``leaderboard()`` → (name, verdict) rows, best first.
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
    ) -> None:
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
        self.surface_name = ""
        self.set_surface(surface, start=start)
        if lr is not None:
            self.lr = float(lr)
        if lr_adaptive is not None:
            self.lr_adaptive = float(lr_adaptive)
        if beta is not None:
            self.beta = float(beta)
        self.beta2, self.noise = float(beta2), float(noise)
        self.max_steps = int(steps)
        self.steps_per_frame = max(1, int(steps_per_frame))
        self.tol = float(tol)
        self.seed = int(seed)
        self.t = 0
        self.reset()

    def __repr__(self) -> str:
        board = "; ".join(f"{n}: {v}" for n, v in self.leaderboard())
        return f"<Race on {self.surface.name}, step {self.t}/{self.max_steps} — {board}>"

    def set_surface(self, surface: str | Surface, start: tuple[float, float] | None = None) -> None:
        """Race on another surface, from its start point (or `start`), with its default learning
        rates and momentum (the values at which the reference racers show the track's lesson)."""
        self.surface_name = surface if isinstance(surface, str) else surface.name
        self.surface = get_surface(surface) if isinstance(surface, str) else surface
        self.start = tuple(start) if start is not None else tuple(self.surface.start)
        d = _defaults(self.surface_name)
        self.lr, self.lr_adaptive, self.beta = d["lr"], d["lr_adaptive"], d["beta"]
        mins = self.surface.minima
        self.f_star = (
            float(min(self.surface.f(np.array(m, dtype=float)) for m in mins)) if mins else None
        )

    def reset(self) -> None:
        """Back to the start point with fresh optimizers (the current hyper-parameters)."""
        self.t = 0
        self._rng = np.random.default_rng(self.seed)
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
            except Exception as exc:  # a broken student class must not stop the race
                r.opt = None
                r.error = f"{type(exc).__name__}: {exc}"

    def _done(self, f: float) -> bool:
        return self.f_star is not None and f - self.f_star < self.tol

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
                except Exception as exc:  # a student class that raises: reported on the board
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
        return [
            {
                "name": r.name,
                "reached": r.reached,
                "diverged": r.diverged,
                "loss": r.losses[-1],
                "error": r.error,
                "steps": len(r.losses) - 1,
            }
            for r in self.racers
            if r.name in self.active
        ]

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

    def color(self, name: str) -> str:
        return next(r.color for r in self.racers if r.name == name)


def _log_slider(value: float, description: str, css: str, tooltip: str) -> Any:
    import ipywidgets as widgets

    s = widgets.FloatLogSlider(
        value=value,
        base=10,
        min=-4,
        max=0.5,
        step=0.05,
        description=description,
        readout_format=".2g",
        continuous_update=False,
        tooltip=tooltip,
        style={"description_width": "initial"},
    )
    s.add_class(css)
    return s


def _slider(
    value: float, lo: float, hi: float, step: float, description: str, css: str, fmt: str = ".2f"
) -> Any:
    import ipywidgets as widgets

    s = widgets.FloatSlider(
        value=value,
        min=lo,
        max=hi,
        step=step,
        description=description,
        readout_format=fmt,
        continuous_update=False,
        style={"description_width": "initial"},
    )
    s.add_class(css)
    return s


class RaceWidget:
    """The race live in JupyterLab: a :class:`Race`, its :class:`RacePlot` and the controls.

    The model's state is read through the widget too (``t``, ``finished``, ``results()``,
    ``leaderboard()``), so a notebook can inspect what it sees.
    """

    def __init__(
        self,
        race: Race,
        *,
        live: bool | None = None,
        grid: int = 160,
        figsize: tuple[float, float] = (10.0, 4.2),
    ) -> None:
        from .interactive import is_headless

        self.race = race
        self.live = (not is_headless()) if live is None else bool(live)
        self.grid, self.figsize = grid, figsize
        self.plot: RacePlot | None = None
        self.widget: Any = None
        self._board_cache = ""
        self._quiet = False

    def __repr__(self) -> str:
        return repr(self.race)

    # the model, seen through the widget
    t = property(lambda self: self.race.t)
    finished = property(lambda self: self.race.finished)
    fig = property(lambda self: self.plot.fig if self.plot else None)
    view = property(lambda self: self.plot.view if self.plot else None)

    def results(self) -> list[dict]:
        return self.race.results()

    def leaderboard(self) -> list[tuple[str, str]]:
        return self.race.leaderboard()

    # --- frames --------------------------------------------------------------------------------

    def frame(self) -> None:
        """One animation frame: advance, update the artists and the board, blit."""
        self.race.advance(self.race.steps_per_frame)
        self.redraw()

    def redraw(self) -> None:
        self._update_board()
        if self.plot is not None:
            self.plot.redraw()

    def restart(self) -> None:
        """Back to the start (fresh optimizers) and show it."""
        if self.widget is not None and self.play.playing:
            self.play.playing = False
        self.race.reset()
        if self.widget is not None:
            with self.play.hold_trait_notifications():
                self._quiet = True
                self.play.value = 0
                self._quiet = False
        self.redraw()

    # --- the board -----------------------------------------------------------------------------

    def board_html(self) -> str:
        race = self.race
        rows = "".join(
            f"<tr><td style='color:{race.color(n)};padding-right:1em'><b>{n}</b></td><td>{v}</td></tr>"
            for n, v in race.leaderboard()
        )
        return (
            f"<div><b>Leaderboard</b> (step {race.t}/{race.max_steps}, "
            f"tolerance f − f* &lt; {race.tol:g})<table>{rows}</table></div>"
        )

    def _update_board(self) -> None:
        if self.widget is None:
            return
        html = self.board_html()
        if html != self._board_cache:  # only send what changed
            self._board_cache = html
            self.board.value = html

    # --- the controls --------------------------------------------------------------------------

    def build(self) -> Any:
        """The ipywidgets layout (CSS class ``coursekit-race``)."""
        import ipywidgets as W

        race = self.race
        _warm_up()
        self.plot = RacePlot(race, live=True, grid=self.grid, figsize=self.figsize)
        self.plot.fig.canvas.mpl_connect("button_press_event", self._on_click)
        self.surface_pick = W.Dropdown(
            options=list(SURFACES),
            value=race.surface_name if race.surface_name in SURFACES else None,
            description="surface",
        )
        self.surface_pick.add_class("coursekit-race-surface")
        self.checks = {}
        for r in race.racers:
            c = W.Checkbox(
                value=r.name in race.active,
                description=r.name,
                indent=False,
                layout=W.Layout(width="auto"),
            )
            c.add_class("coursekit-race-optimizer")
            c.observe(self._on_check(r.name), "value")
            self.checks[r.name] = c
        self.lr_slider = _log_slider(
            race.lr,
            "learning rate",
            "coursekit-race-lr",
            "SGD, Momentum, Nesterov: w -= lr * (a gradient sum)",
        )
        self.lr_adaptive_slider = _log_slider(
            race.lr_adaptive,
            "lr (adaptive methods)",
            "coursekit-race-lr-adaptive",
            "AdaGrad, RMSProp, Adam: about the length of a step",
        )
        self.beta_slider = _slider(
            race.beta, 0.0, 0.99, 0.01, "β (momentum, Adam's β₁)", "coursekit-race-beta"
        )
        self.beta2_slider = _slider(
            race.beta2, 0.5, 0.999, 0.001, "β₂ (Adam) / α (RMSProp)", "coursekit-race-beta2", ".3f"
        )
        self.noise_slider = _slider(
            race.noise, 0.0, 5.0, 0.1, "gradient noise σ", "coursekit-race-noise", ".1f"
        )
        for s in self.sliders:
            s.observe(self._on_slider, "value")
        self.surface_pick.observe(self._on_surface, "value")
        # the Play widget is the clock (one tick = one frame); the race itself says when it is over
        self.play = W.Play(
            value=0, min=0, max=10**9, step=1, interval=60, description="play", show_repeat=False
        )
        self.play.add_class("coursekit-race-play")
        self.play.observe(self._on_play, "value")
        self.step_button = W.Button(description="step", tooltip="one frame")
        self.step_button.add_class("coursekit-race-step")
        self.step_button.on_click(lambda _b: self.frame())
        self.reset_button = W.Button(description="reset", tooltip="back to the start")
        self.reset_button.add_class("coursekit-race-reset")
        self.reset_button.on_click(lambda _b: self.restart())
        self.board = W.HTML(value="", description="")
        self.board.add_class("coursekit-race-leaderboard")
        wide = W.Layout(flex_flow="row wrap")
        controls = W.VBox(
            [
                W.HBox([self.surface_pick, *self.checks.values()], layout=wide),
                W.HBox([self.lr_slider, self.lr_adaptive_slider, self.noise_slider], layout=wide),
                W.HBox([self.beta_slider, self.beta2_slider], layout=wide),
                W.HBox([self.play, self.step_button, self.reset_button]),
            ]
        )
        self.widget = W.VBox([controls, self.plot.view, self.board])
        self.widget.add_class("coursekit-race")
        self._update_board()
        return self.widget

    @property
    def sliders(self) -> tuple:
        return (
            self.lr_slider,
            self.lr_adaptive_slider,
            self.beta_slider,
            self.beta2_slider,
            self.noise_slider,
        )

    def _on_click(self, event: Any) -> None:
        if self.plot is None or event.inaxes is not self.plot.ax or event.xdata is None:
            return
        self.race.start = (float(event.xdata), float(event.ydata))
        self.restart()

    def _on_check(self, name: str) -> Callable:
        def handler(change: dict) -> None:
            if change["new"]:
                self.race.active.add(name)
            else:
                self.race.active.discard(name)
            self.restart()

        return handler

    def _on_slider(self, _change: dict) -> None:
        if self._quiet:
            return
        race = self.race
        race.lr = float(self.lr_slider.value)
        race.lr_adaptive = float(self.lr_adaptive_slider.value)
        race.beta = float(self.beta_slider.value)
        race.beta2 = float(self.beta2_slider.value)
        race.noise = float(self.noise_slider.value)
        self.restart()

    def _on_surface(self, change: dict) -> None:
        if change["new"] is None:
            return
        race = self.race
        race.set_surface(change["new"])
        self._quiet = True
        try:
            self.lr_slider.value = race.lr
            self.lr_adaptive_slider.value = race.lr_adaptive
            self.beta_slider.value = race.beta
        finally:
            self._quiet = False
        race.reset()
        self.plot.draw_static()
        self.restart()
        self.plot.fig.canvas.draw_idle()  # a full draw: new background

    def _on_play(self, change: dict) -> None:
        if self._quiet or change["new"] == 0:
            return
        self.frame()
        if self.race.finished and self.play.playing:
            self.play.playing = False

    def show(self) -> RaceWidget:
        """Display the widget live, or one static final frame headless."""
        from IPython.display import display

        from .interactive import grading_mode

        if self.live:
            display(self.build())
        elif grading_mode():  # nobody looks: a short race, no picture
            self.race.max_steps = min(self.race.max_steps, 40)
            self.race.run()
            print(f"(race on {self.race.surface.name} not drawn while grading)")
        else:
            self.race.run()
            self.plot = RacePlot(self.race, live=False, grid=self.grid, figsize=self.figsize)
            display(self.plot.final_frame())
        return self


@functools.cache
def _warm_up() -> None:
    """torch.optim's first step imports a lot (about 2 s): pay it once, before the first frame."""
    for name in REFERENCE:
        Racer.reference(name, "k").make((0.1, 0.1), 0.9, 0.99).step(np.zeros(2), np.ones(2))


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
    surface: str | Surface = "bowl",
    *,
    mine: Mapping[str, Callable] | None = None,
    live: bool | None = None,
    grid: int = 160,
    figsize: tuple[float, float] = (10.0, 4.2),
    **options: Any,
) -> RaceWidget:
    """The optimizer race on `surface` (a name from coursekit.surfaces.SURFACES), shown.

    mine: {"label": OptimizerClass} — the student's classes (constructor takes some of lr=,
        momentum=, betas=, alpha=; ``step(w, g) -> new w``) race next to torch.optim's.
    options (see :class:`Race`): optimizers (which reference racers start ticked), lr (SGD,
        Momentum, Nesterov), lr_adaptive (AdaGrad, RMSProp, Adam: a class taking eps=), beta
        (momentum and Adam's β₁), beta2 (RMSProp's α and Adam's β₂), noise (σ of Gaussian noise
        added to every gradient), start, steps (the race length), steps_per_frame, tol, seed.
    live: force the live widget (True) or the static picture (False); default: live when a
        front end is there.
    Live it displays the widget; headless it runs to the end and shows one static frame.
    Returns the RaceWidget (``.race``, ``.results()``, ``.leaderboard()``).
    """
    return RaceWidget(
        Race(surface, mine=mine, **options), live=live, grid=grid, figsize=figsize
    ).show()
