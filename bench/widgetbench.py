"""What the widget benches share: a widget built as in JupyterLab (an ipympl canvas, no
browser), a stand-in for the browser, and the time of one control change end to end.

One control change is timed from the moment the control's value changes (its observers run)
until the last frame it causes has been rendered with Agg and encoded as the PNG that ipympl
sends: when the widget asks for a redraw (``draw_idle``), the stand-in browser answers with a
draw at once, as JupyterLab does; when it blits, the blit sends the frame itself. So the time is
the kernel's whole work for the change, and nothing of the browser's.

Beside the wall time, the table gives the process's CPU time of a change: on a shared machine
the wall time grows with the load, the CPU time much less (on an idle core the two agree).

The baseline of each widget is timed in the same run, interleaved with it (a busy moment hits
both alike): the same widget redrawing its whole figure on every change (``full_redraw``), with
matplotlib's stock PNG encoder — what the widgets did before they blitted.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

BUDGET_MS = 100.0

__all__ = ["BUDGET_MS", "Browser", "Row", "full_redraw", "live", "print_rows", "time_changes"]


def live() -> None:
    """Build widgets as in JupyterLab: coursekit's ``is_headless()`` answers False."""
    import coursekit.interactive as interactive

    os.environ.pop("COURSEKIT_HEADLESS", None)
    interactive.is_headless = lambda: False


class Browser:
    """JupyterLab's side of one ipympl canvas: answers each draw request (``draw_idle``) with a
    draw, as the front end does, and receives the frames (their sizes in ``frames``)."""

    def __init__(self, canvas: Any) -> None:
        self.canvas = canvas
        self.frames: list[int] = []
        self.requested = False
        canvas.syncing_data_url = False  # a front end is connected: frames, no data URL
        canvas.send_binary = lambda data: self.frames.append(len(data))
        forward = canvas.send_json

        def send_json(content: dict) -> None:
            if content.get("type") == "draw":
                self.requested = True
            else:
                forward(content)

        canvas.send_json = send_json
        canvas.draw()  # the front end's first draw request

    def settle(self) -> None:
        """Answer the draw requests made since the last call (a draw may ask for another)."""
        for _ in range(5):
            if not self.requested:
                return
            self.requested = False
            self.canvas.draw()


def full_redraw(canvas: Any, *blitters: Any) -> None:
    """Make a widget redraw its whole figure on every change, with the stock PNG encoder: the
    baseline. `blitters`: the widget's blitters (``coursekit.interactive.Blitter``), switched
    off, so that every update asks for a full draw."""
    from matplotlib.backends.backend_webagg_core import FigureCanvasWebAggCore

    canvas.get_diff_image = lambda: FigureCanvasWebAggCore.get_diff_image(canvas)
    for b in blitters:
        if b is not None:
            b.enabled = False


@dataclass
class Row:
    """One line of a bench's table: a widget, a control, the times (s) of its changes."""

    widget: str
    control: str
    times: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    baseline_name: str = "full redraw"
    cpu: list[float] = field(default_factory=list)  # the process's CPU time of each change

    @property
    def ms(self) -> float:
        return 1000 * statistics.median(self.times)

    @property
    def cpu_ms(self) -> float | None:
        return 1000 * statistics.median(self.cpu) if self.cpu else None

    @property
    def baseline_ms(self) -> float | None:
        return 1000 * statistics.median(self.baseline) if self.baseline else None

    @property
    def ok(self) -> bool:
        return self.ms <= BUDGET_MS


def time_changes(
    change: Callable[[int], Any],
    browsers: Sequence[Browser],
    repeat: int,
    *,
    baseline: Callable[[int], Any] | None = None,
    baseline_browsers: Sequence[Browser] = (),
    warm: int = 1,
) -> tuple[list[float], list[float], list[float]]:
    """Time `repeat` control changes (``change(i)``, i = 0, 1, …) and, interleaved, as many of
    the baseline's. Returns (times, baseline times, CPU times of the changes) in seconds."""
    cpu: list[float] = []

    def once(fn: Callable[[int], Any], bs: Sequence[Browser], i: int) -> float:
        c0, t0 = time.process_time(), time.perf_counter()
        fn(i)
        for b in bs:
            b.settle()
        t = time.perf_counter() - t0
        cpu.append(time.process_time() - c0)
        return t

    for i in range(warm):
        once(change, browsers, i)
        if baseline is not None:
            once(baseline, baseline_browsers, i)
    times, base = [], []
    cpu.clear()
    for i in range(warm, warm + repeat):
        times.append(once(change, browsers, i))
        if baseline is not None:
            base.append(once(baseline, baseline_browsers, i))
            cpu.pop()  # the baseline's
    return times, base, cpu


def machine() -> str:
    import platform

    load = os.getloadavg()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min)"
    )


def print_rows(rows: Sequence[Row], title: str = "") -> None:
    """The table: kernel ms per control change (median, max, CPU), the baseline's, the ratio."""
    if title:
        print(title)
    print(
        f"  {'control':34s} {'ms':>7s} {'max':>7s} {'cpu ms':>7s} {'baseline':>9s} {'ratio':>6s}"
        f"  ≤ {BUDGET_MS:g} ms?"
    )
    for r in rows:
        b, c = r.baseline_ms, r.cpu_ms
        print(
            f"  {r.control:34s} {r.ms:7.1f} {1000 * max(r.times):7.1f} "
            + (f"{c:7.1f} " if c is not None else f"{'—':>7s} ")
            + (f"{b:9.1f} {b / r.ms:5.1f}×" if b is not None else f"{'—':>9s} {'':6s}")
            + f"  {'yes' if r.ok else 'NO'}"
        )
