"""How long the loss-surface explorer (notebook 01) takes to answer a control.

Built as in JupyterLab (an ipympl canvas; a stand-in answers its draw requests as the browser
does, see ``widgetbench.py``), each control change is timed end to end in the kernel: GD runs
again, the status line, and the frame the change causes — rendered with Agg and encoded as the
PNG that ipympl sends:

* lr / start / steps: only the moving artists (the paths, the title, the loss axes) are drawn,
  blitted over the kept picture of the level lines and the 3-D sheet;
* κ / another surface: the picture really changes, so the whole figure is drawn anew.

Baseline, interleaved in the same run: the same widget redrawing its whole figure on every
change, with matplotlib's stock PNG encoder (what it did before it blitted). Headless figure
size as the widget (880 × 296 px). Medians of `--repeat` changes per control.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_explorer.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
from widgetbench import Browser, Row, full_redraw, live, machine, print_rows, time_changes


def gradient_descent(grad, w0, lr, steps):  # the notebook's exercise
    w = np.array(w0, dtype=float)
    path = [w.copy()]
    for _ in range(steps):
        w = w - lr * np.asarray(grad(w))
        path.append(w.copy())
    return np.array(path)


def _explorer(baseline: bool):
    from coursekit.explorer import LossSurfaceExplorer

    ex = LossSurfaceExplorer(gradient_descent)
    if baseline:
        full_redraw(ex.fig.canvas, getattr(getattr(ex, "picture", None), "blitter", None))
    return ex, Browser(ex.fig.canvas)


def rows(repeat: int = 9) -> list[Row]:
    """One row per kind of control change."""
    from coursekit.explorer import MENU

    live()
    ex, b = _explorer(False)
    base, bb = _explorer(True)
    surfaces = list(MENU)[1:] + list(MENU)[:1]
    changes = {
        "lr slider": lambda e, i: setattr(e.lr, "value", 0.15 + 0.01 * (i % 2)),
        "start w₁ slider": lambda e, i: setattr(e.x0, "value", 1.0 + 0.1 * (i % 3)),
        "steps slider": lambda e, i: setattr(e.steps, "value", 60 + 10 * (i % 2)),
        "κ slider (new surface)": lambda e, i: setattr(e.kappa, "value", (10.0, 20.0)[i % 2]),
        "surface menu (new surface)": lambda e, i: setattr(
            e.menu, "value", surfaces[i % len(surfaces)]
        ),
    }
    out = []
    for name, change in changes.items():
        if name.startswith("surface"):  # every surface once, then again: the worst shows
            n = max(repeat, len(surfaces))
        else:
            for e in (ex, base):
                e.set(surface="quadratic", kappa=10.0, lr=0.15, start=(1.5, 1.0), steps=60)
                e.fig.canvas.draw()
            b.settle(), bb.settle()
            n = repeat
        t, tb, cpu = time_changes(
            lambda i, c=change: c(ex, i),
            [b],
            n,
            baseline=lambda i, c=change: c(base, i),
            baseline_browsers=[bb],
        )
        out.append(Row("loss-surface explorer (01)", name, t, tb, cpu=cpu))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    print(machine())
    print_rows(
        rows(args.repeat),
        "loss-surface explorer (01): kernel ms per control change, median "
        "(baseline: the whole figure redrawn, stock PNG)",
    )


if __name__ == "__main__":
    main()
