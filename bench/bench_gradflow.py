"""How long one update of the gradient-flow explorer takes (notebook 02).

One update = coursekit.gradflow.gradient_flow at depth 50, width 128, batch 128 (forward,
backward, per-layer gradient norms and activation stds, in float64; the weights come from a
cache when only depth, activation or residual change, and are drawn again for a new
initialisation or width — both are timed). It is
compared, in the same run and interleaved, with a plain baseline: one forward + backward of the
same MLP written as an nn.Sequential of bias-free nn.Linear layers in float32 (weights built
once, outside the timing), and the same in float64. The widget's redraw (Agg, no front end) is
timed too (in place, as the live widget does: new bar heights, then one Agg render). The issue's budget: one update under 0.5 s on 2 CPU cores.

    .venv/bin/python bench/bench_gradflow.py [--repeats 15] [--threads 1]

Medians over the repeats; the machine may be shared, so run it a couple of times.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F

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

    try:
        x, y = gradflow.mnist_batch(BATCH)
        data = "MNIST"
    except Exception:  # no MNIST on this machine: random inputs time the same
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(BATCH, 784, generator=g), torch.randint(0, 10, (BATCH,), generator=g)
        data = "random (no MNIST found)"

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
    ok = med["gradflow update + redraw in place (Agg render)"] < 0.5
    print(
        f"one update {'within' if ok else 'OVER'} the 0.5 s budget "
        f"({1000 * med['gradflow update (fwd+bwd+stats, float64)']:.0f} ms compute, "
        f"{1000 * med['gradflow update + redraw in place (Agg render)']:.0f} ms with the redraw)"
    )
    plt.close(fig)


if __name__ == "__main__":
    main()
