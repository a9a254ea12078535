"""How long one update of the gradient-flow explorer takes (notebook 02).

One update = coursekit.gradflow.gradient_flow at depth 50, width 128, batch 128 (forward,
backward, per-layer gradient norms and activation stds, in float64; the weights come from a
cache when only depth, activation or residual change, and are drawn again for a new
initialisation or width — both are timed). It is
compared, in the same run and interleaved, with a plain baseline: one forward + backward of the
same MLP written as an nn.Sequential of bias-free nn.Linear layers in float32 (weights built
once, outside the timing), and the same in float64. The widget's redraw (Agg, no front end) is
timed too (in place: new bar heights, then one Agg render).

Then the widget itself, built as in JupyterLab (an ipympl canvas; a stand-in answers its draw
requests as the browser does, see ``widgetbench.py``): each control change timed end to end in
the kernel — the forward and backward pass, the status line, the new picture rendered and
encoded as the PNG ipympl sends — against the same widget redrawing its whole figure on every
change with the stock PNG encoder (its drawing before it blitted). Budget: 100 ms a change.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_gradflow.py [--repeats 15] [--threads 1]

Medians over the repeats; the machine may be shared, so run it a couple of times.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch
import torch.nn.functional as F
from widgetbench import Browser, Row, full_redraw, live, machine, print_rows, time_changes

from coursekit import gradflow

DEPTH, WIDTH, BATCH = 50, 128, 128


def baseline_model(dtype: torch.dtype, activation: str = "relu") -> torch.nn.Module:
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}[activation]
    layers, d = [], 784
    for _ in range(DEPTH):
        layers += [torch.nn.Linear(d, WIDTH, bias=False), act()]
        d = WIDTH
    layers.append(torch.nn.Linear(d, 10, bias=False))
    model = torch.nn.Sequential(*layers).to(dtype)
    for m in model:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return model


def batch() -> tuple[torch.Tensor, torch.Tensor, str]:
    try:
        x, y = gradflow.mnist_batch(BATCH)
        return x, y, "MNIST"
    except Exception:  # no MNIST on this machine: random inputs time the same
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(BATCH, 784, generator=g), torch.randint(0, 10, (BATCH,), generator=g)
        return x, y, "random (no MNIST found)"


def rows(repeat: int = 9) -> list[Row]:
    """The live widget: one row per control, at depth 50 (the notebook's deep case)."""
    import matplotlib

    live()
    matplotlib.rcParams["figure.dpi"] = 90  # as notebook 02 sets it
    x, y, _ = batch()

    def explorer(baseline: bool):
        ex = gradflow.GradFlowExplorer(x, y, depth=DEPTH, width=WIDTH)
        ex.widget  # noqa: B018 - builds it
        if baseline:
            full_redraw(ex._fig.canvas, getattr(ex.panel, "blitter", None))
        return ex, Browser(ex._fig.canvas)

    ex, b = explorer(False)
    base, bb = explorer(True)
    acts = ("relu", "sigmoid", "tanh")
    changes = {
        "activation menu": ("activation", lambda i: acts[i % 3]),
        "initialisation menu": ("init", lambda i: ("He normal", "Glorot uniform")[i % 2]),
        "residual check box": ("residual", lambda i: bool(i % 2)),
        "width menu": ("width", lambda i: (128, 64)[i % 2]),
        "depth slider (new x axis)": ("depth", lambda i: (DEPTH, DEPTH - 10)[i % 2]),
    }
    out = []
    for name, (control, value) in changes.items():
        t, tb, cpu = time_changes(
            lambda i, c=control, v=value: setattr(ex.controls[c], "value", v(i)),
            [b],
            repeat,
            baseline=lambda i, c=control, v=value: setattr(base.controls[c], "value", v(i)),
            baseline_browsers=[bb],
        )
        out.append(Row("gradient-flow explorer (02)", name, t, tb, cpu=cpu))
        for e in (ex, base):  # back to the starting configuration
            e.controls[control].value = e.config[control] = value(0)
    return out


def time_once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    x, y, data = batch()

    models = {dt: baseline_model(dt) for dt in (torch.float32, torch.float64)}

    def baseline(dt: torch.dtype) -> None:
        model = models[dt]
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x.to(dt)), y).backward()

    def update_fresh() -> None:  # a new initialisation or width: the weights are drawn again
        gradflow._stream.cache_clear()
        update()

    def update() -> None:
        gradflow.gradient_flow(x, y, depth=DEPTH, width=WIDTH, activation="relu", init="He normal")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8, 5))  # the live widget's figure, on Agg: update in place, render
    panel = gradflow.FlowPanel(fig)
    panel.update(
        gradflow.gradient_flow(x, y, depth=DEPTH, width=WIDTH, activation="relu", init="He normal")
    )
    fig.tight_layout()
    flip = [0]

    def redraw() -> None:  # alternate two profiles, so every bar changes
        flip[0] ^= 1
        act, init = ("relu", "He normal") if flip[0] else ("sigmoid", "uniform ±1/√fan_in")
        panel.update(
            gradflow.gradient_flow(x, y, depth=DEPTH, width=WIDTH, activation=act, init=init)
        )
        fig.canvas.draw()

    cases = {
        "baseline fwd+bwd, nn.Linear float32": lambda: baseline(torch.float32),
        "baseline fwd+bwd, nn.Linear float64": lambda: baseline(torch.float64),
        "gradflow update (fwd+bwd+stats, float64)": update,
        "gradflow update, weights drawn again": update_fresh,
        "gradflow update + redraw in place (Agg render)": redraw,
    }
    for fn in cases.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.repeats):  # interleaved, so a busy moment hits every case alike
        for name, fn in cases.items():
            times[name].append(time_once(fn))

    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["baseline fwd+bwd, nn.Linear float32"]
    print(f"gradient-flow explorer, depth {DEPTH}, width {WIDTH}, batch {BATCH} ({data})")
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, {args.repeats} repeats, medians"
    )
    for name, m in med.items():
        lo, hi = min(times[name]), max(times[name])
        print(
            f"  {name:48s} {1000 * m:8.1f} ms   (min {1000 * lo:.1f}, max {1000 * hi:.1f})   x{m / base:5.2f} baseline"
        )
    plt.close(fig)
    print(machine())
    print_rows(
        rows(args.repeats),
        "gradient-flow explorer (02), live: kernel ms per control change, median "
        "(baseline: the whole figure redrawn, stock PNG)",
    )


if __name__ == "__main__":
    main()
