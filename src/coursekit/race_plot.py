"""The picture of an optimizer race (:class:`coursekit.race.Race`): paths on the contour plot,
loss against the step. The contour plot is rendered once into a background image; live, a frame
only updates the moving artists and blits them over the cached static picture."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .race import Race

__all__ = ["RacePlot"]

Array = np.ndarray


class RacePlot:
    """The picture of a race: the contour plot with the paths (left), the loss against the
    step (right). Live (an ipympl canvas) the moving artists are blitted over a cached static
    picture; headless it is a plain Agg figure."""

    def __init__(
        self,
        race: Race,
        *,
        live: bool,
        grid: int = 160,
        figsize: tuple[float, float] = (10.0, 4.2),
    ) -> None:
        from .interactive import fast_png_frames, live_figure

        self.race, self.live, self.grid = race, live, int(grid)
        if live:
            self.fig, self.view = live_figure(figsize)
        else:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            self.fig, self.view = Figure(figsize=figsize), None
            FigureCanvasAgg(self.fig)
        self.ax, self.ax_loss = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
        self.fig.subplots_adjust(left=0.06, right=0.98, bottom=0.12, top=0.9, wspace=0.22)
        self.artists: dict[str, tuple] = {}
        self._bg: Any = None
        self.draw_static()
        if self.view is not None:
            fast_png_frames(self.fig.canvas)
            self.fig.canvas.mpl_connect("draw_event", self._on_draw)

    def background(self) -> tuple[Array, tuple[float, float, float, float]]:
        """The contour plot rendered once into an RGBA image (drawn under the paths)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from .plots import surface_grid

        s = self.race.surface
        X, Y, Z = surface_grid(s, self.grid)
        if s.log_levels:
            Z = np.log10(Z - Z.min() + 1e-3)
        lo, hi = np.percentile(Z, [0.5, 99.5])
        levels = np.linspace(lo, hi, 18)
        fig = Figure(figsize=(4.8, 4.0), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.contourf(X, Y, np.clip(Z, lo, hi), levels=levels, cmap="viridis", alpha=0.55)
        ax.contour(X, Y, np.clip(Z, lo, hi), levels=levels, colors="k", linewidths=0.4, alpha=0.5)
        ax.set_xlim(*s.xlim)
        ax.set_ylim(*s.ylim)
        ax.axis("off")
        fig.canvas.draw()
        img = np.asarray(fig.canvas.buffer_rgba()).copy()
        return img, (*s.xlim, *s.ylim)

    def _on_draw(self, _event: Any) -> None:
        """After a full draw (first show, resize, new surface): keep the static picture as the
        background for blitting, then paint the moving artists on top of it."""
        self._bg = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        self._paint_animated()

    def _paint_animated(self) -> None:
        for trio in self.artists.values():
            for a in trio:
                if a.get_visible():
                    a.axes.draw_artist(a)

    def draw_static(self) -> None:
        """(Re)build the static part and the artists: on creation and for a new surface."""
        race, ax, axl = self.race, self.ax, self.ax_loss
        ax.clear()
        axl.clear()
        self._bg = None
        s = race.surface
        img, extent = self.background()
        ax.imshow(
            img, extent=extent, origin="upper", interpolation="nearest", aspect="auto", zorder=0
        )
        for m in s.minima:
            ax.plot(*m, marker="*", color="gold", markeredgecolor="k", markersize=12, zorder=3)
        ax.set_xlim(*s.xlim)
        ax.set_ylim(*s.ylim)
        ax.set_title(f"{s.name}: click to move the start" if self.live else s.name, fontsize=10)
        (self._start_artist,) = ax.plot(
            *race.start, "o", color="white", markeredgecolor="k", markersize=7, zorder=4
        )
        fstar = race.f_star
        axl.set_xlabel("step")
        axl.set_ylabel("f(w) − f*" if fstar is not None else "f(w)")
        axl.set_xlim(0, race.max_steps)
        if fstar is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axl.set_yscale("log")
            f0 = max(r.losses[0] for r in race.racers) - fstar
            axl.set_ylim(race.tol / 10, max(10 * f0, 10 * race.tol))
            axl.axhline(race.tol, color="0.5", lw=0.8, ls=":")
        else:
            f0 = race.racers[0].losses[0]
            axl.set_ylim(f0 - 2 * (abs(f0) + 1), f0 + 0.5 * (abs(f0) + 1))
        axl.set_title("loss against step", fontsize=10)
        self.artists = {}
        for r in race.racers:
            ls = "--" if r.mine else "-"
            (path,) = ax.plot([], [], ls, color=r.color, lw=1.6, label=r.name, zorder=2)
            (head,) = ax.plot([], [], "o", color=r.color, markersize=5, zorder=3)
            (loss,) = axl.plot([], [], ls, color=r.color, lw=1.4, label=r.name)
            self.artists[r.name] = (path, head, loss)
            if self.live:  # drawn by blitting, on top of the cached static picture
                for a in self.artists[r.name]:
                    a.set_animated(True)
        handles = [self.artists[r.name][2] for r in race.racers]
        axl.legend(handles, [r.name for r in race.racers], fontsize=8, loc="upper right", ncol=2)
        self.update_artists()

    def update_artists(self) -> None:
        """Push the racers' paths into the artists (no drawing)."""
        race = self.race
        fstar = race.f_star
        for r in race.racers:
            path, head, loss = self.artists[r.name]
            on = r.name in race.active
            for a in (path, head, loss):
                a.set_visible(on)
            if not on:
                continue
            P = np.asarray(r.path)
            path.set_data(P[:, 0], P[:, 1])
            head.set_data(P[-1:, 0], P[-1:, 1])
            L = np.asarray(r.losses)
            if fstar is not None:
                L = np.maximum(L - fstar, race.tol / 20)
            loss.set_data(np.arange(len(L)), L)
        self._start_artist.set_data([race.start[0]], [race.start[1]])

    def redraw(self) -> None:
        """Show the current state: blit the moving artists over the cached background (live),
        or ask for a full redraw when there is no background yet."""
        self.update_artists()
        canvas = self.fig.canvas
        if self._bg is not None and hasattr(canvas, "restore_region"):
            canvas.restore_region(self._bg)
            self._paint_animated()
            canvas.blit(self.fig.bbox)
        else:
            canvas.draw_idle()

    def final_frame(self) -> Any:
        """The figure with the leaderboard as its title (headless: the one picture shown)."""
        self.update_artists()
        rows = [f"{n}: {v}" for n, v in self.race.leaderboard()]
        lines = ["  ·  ".join(rows[i : i + 3]) for i in range(0, len(rows), 3)]
        self.fig.suptitle("\n".join(lines), fontsize=8)
        self.fig.subplots_adjust(top=0.86 - 0.03 * len(lines))
        return self.fig
