"""How long the loss-surface explorer (notebook 01) takes to answer a control.

Two kinds of update, each timed end to end (run GD, status line, redraw, and a full Agg render
of the figure, which is what ipympl sends to the browser):

* moving lr / the start point / steps: GD runs again and only the path and the loss curve are
  redrawn (the level lines and the 3-D sheet are kept);
* picking another surface (or moving κ): the level lines and the 3-D sheet are drawn anew.

Headless (Agg), one thread; the figure is what the widget shows (880 × 296 px). Medians of
`--repeat` runs. A control should answer in well under a second for the widget to feel live.

    .venv/bin/python bench/bench_explorer.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("COURSEKIT_HEADLESS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from coursekit.explorer import MENU, LossSurfaceExplorer


def gradient_descent(grad, w0, lr, steps):  # the notebook's exercise
    w = np.array(w0, dtype=float)
    path = [w.copy()]
    for _ in range(steps):
        w = w - lr * np.asarray(grad(w))
        path.append(w.copy())
    return np.array(path)


def timed(ex: LossSurfaceExplorer, **controls: object) -> float:
    t0 = time.perf_counter()
    ex.set(**controls)
    ex.fig.canvas.draw()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    ex = LossSurfaceExplorer(gradient_descent)
    ex.fig.canvas.draw()
    lr_times, surface_times = [], []
    for i in range(args.repeat):
        lr_times.append(timed(ex, lr=0.15 + 0.01 * (i % 2)))
    for _ in range(args.repeat):
        for label in list(MENU)[1:] + list(MENU)[:1]:
            surface_times.append(timed(ex, surface=label))
    print(
        f"lr / start / steps change (path only): median {statistics.median(lr_times) * 1e3:6.0f} ms"
    )
    print(
        f"surface / κ change (full redraw):      median {statistics.median(surface_times) * 1e3:6.0f} ms"
        f"  (max {max(surface_times) * 1e3:.0f} ms over {len(MENU)} surfaces)"
    )


if __name__ == "__main__":
    main()
