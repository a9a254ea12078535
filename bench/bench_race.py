"""Kernel time per animation frame of the optimizer race (notebook 03), six optimizers.

What a frame costs the kernel in JupyterLab: advancing the six racers (torch.optim steps),
updating the artists, rendering with Agg and encoding the PNG that ipympl sends to the browser.
The browser is not needed: the ipympl canvas is built as in a live notebook and its image
messages go nowhere. Three ways to draw a frame are timed:

* naive     — what a straightforward widget does: clear the axes, contourf + plot everything
              again, full draw, matplotlib's stock PNG encoder (the baseline);
* full      — coursekit.race's figure (contours pre-rendered to an image) redrawn in full, as a
              ``draw_idle()`` round trip would, stock PNG encoder;
* coursekit — coursekit.race as shipped: blit the moving artists over the cached background,
              fast PNG encoding.

    .venv/bin/python bench/bench_race.py            # prints a table; budget: 50 ms per frame
    .venv/bin/python bench/bench_race.py --frames 30 --surfaces bowl
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

BUDGET_MS = 50.0
try:
    import ipympl  # noqa: F401

    CANVAS = "ipympl"
except ImportError:  # e.g. a bare machine: the same canvas code through matplotlib's WebAgg core
    CANVAS = "webagg"


def _webagg_live_figure(figsize=(6.4, 4.8), **kwargs):
    """live_figure() without ipympl: matplotlib's WebAgg canvas, the class ipympl's Canvas is
    built on (same draw, blit and PNG code; ipympl adds only the comm that sends the bytes)."""
    from matplotlib.backends.backend_webagg_core import FigureCanvasWebAggCore, FigureManagerWebAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, **kwargs)
    canvas = FigureCanvasWebAggCore(fig)
    manager = FigureManagerWebAgg(canvas, 0)

    class _Socket:  # the browser
        def send_json(self, content):
            pass

        def send_binary(self, data):
            pass

    manager.web_sockets.add(_Socket())
    return fig, canvas


def _live_race(surface: str):
    import coursekit.interactive as interactive
    from coursekit.race import Race, RacePlot, RaceWidget

    interactive.is_headless = lambda: False  # build the widget as in JupyterLab
    race = RaceWidget(Race(surface, steps=10**9, steps_per_frame=2), live=True)
    if CANVAS == "ipympl":
        race.build()
        canvas = race.fig.canvas
        canvas.syncing_data_url = False  # a front end is connected: frames are diffs, no data URL
        canvas.send_binary = lambda data: None  # the comm to the browser
    else:
        interactive.live_figure = _webagg_live_figure
        race.plot = RacePlot(race.race, live=True)
        canvas = race.fig.canvas
    canvas.draw()  # the browser's first draw request: caches the background
    return race


def _time(fn, frames: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(frames):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def bench_surface(surface: str, frames: int) -> dict[str, list[float]]:
    from matplotlib.backends.backend_webagg_core import FigureCanvasWebAggCore

    from coursekit.plots import surface_grid
    from coursekit.surfaces import get_surface

    results: dict[str, list[float]] = {}

    # coursekit.race as shipped
    race = _live_race(surface)
    results["coursekit"] = _time(race.frame, frames)

    # the same figure, redrawn in full each frame, stock PNG
    race = _live_race(surface)
    canvas = race.fig.canvas
    canvas.get_diff_image = lambda: FigureCanvasWebAggCore.get_diff_image(canvas)
    for cid in list(
        canvas.callbacks.callbacks.get("draw_event", {})
    ):  # no blitting: draw everything
        canvas.mpl_disconnect(cid)
    for trio in race.plot.artists.values():
        for a in trio:
            a.set_animated(False)

    def full() -> None:
        race.race.advance(race.race.steps_per_frame)
        race.plot.update_artists()
        race._update_board()
        canvas.draw()

    results["full"] = _time(full, frames)

    # naive: clear and re-plot everything on every frame
    race = _live_race(surface)
    canvas = race.fig.canvas
    canvas.get_diff_image = lambda: FigureCanvasWebAggCore.get_diff_image(canvas)
    for cid in list(canvas.callbacks.callbacks.get("draw_event", {})):  # no blitting
        canvas.mpl_disconnect(cid)
    for trio in race.plot.artists.values():
        for a in trio:
            a.set_animated(False)
    s = get_surface(surface)
    X, Y, Z = surface_grid(s, race.grid)
    if s.log_levels:
        Z = np.log10(Z - Z.min() + 1e-3)

    def naive() -> None:
        race.race.advance(race.race.steps_per_frame)
        ax, axl = race.plot.ax, race.plot.ax_loss
        ax.clear()
        axl.clear()
        ax.contourf(X, Y, Z, levels=18, cmap="viridis", alpha=0.55)
        ax.contour(X, Y, Z, levels=18, colors="k", linewidths=0.4, alpha=0.5)
        for r in race.race.racers:
            P = np.asarray(r.path)
            ax.plot(P[:, 0], P[:, 1], color=r.color, lw=1.6)
            ax.plot(P[-1:, 0], P[-1:, 1], "o", color=r.color)
            loss = np.maximum(np.asarray(r.losses) - (race.race.f_star or 0.0), 1e-6)
            axl.semilogy(loss, color=r.color, label=r.name)
        axl.legend(fontsize=8)
        race._update_board()
        canvas.draw()

    results["naive"] = _time(naive, max(10, frames // 3))
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--surfaces", nargs="*", default=["bowl", "rosenbrock"])
    args = p.parse_args(argv)
    import warnings

    import torch

    warnings.simplefilter("ignore")

    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, {os.cpu_count()} cpu(s), "
        f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"canvas: {CANVAS}; kernel ms per frame, six optimizers, 2 steps each per frame (median / p90), budget {BUDGET_MS:g} ms"
    )
    worst = 0.0
    for surface in args.surfaces:
        res = bench_surface(surface, args.frames)
        med = {k: statistics.median(v) for k, v in res.items()}
        p90 = {k: float(np.percentile(v, 90)) for k, v in res.items()}
        print(
            f"  {surface:12s} "
            + "  ".join(
                f"{k}: {med[k]:6.1f} / {p90[k]:6.1f}" for k in ("coursekit", "full", "naive")
            )
        )
        print(
            f"  {'':12s} speed-up of coursekit: ×{med['full'] / med['coursekit']:.1f} vs full redraw, "
            f"×{med['naive'] / med['coursekit']:.1f} vs naive"
        )
        worst = max(worst, med["coursekit"])
    verdict = "within" if worst <= BUDGET_MS else "OVER"
    print(f"worst median frame {worst:.1f} ms: {verdict} the {BUDGET_MS:g} ms budget")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
