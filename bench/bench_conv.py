"""Vectorised convolution (the notebook's conv2d_fast) vs torch.nn.functional.conv2d.

LeNet-sized layers, batch 128, float32, CPU: conv1 1→6 channels 5×5 on 28×28 (padding 2, as
LeNet-5 on MNIST) and conv2 6→16 channels 5×5 on 14×14. Both sides get the same number of
threads (default 1: fair, and stable on a shared machine). The calls are *interleaved* (ours,
torch, ours, torch...) so that load from other processes hits both alike; the figure is the
median of the per-pair ratios ours / torch, printed with the median times. Goal: within 2×.

    .venv/bin/python bench/bench_conv.py [--repeat 30] [--threads 1]

`solution`: the notebook's answer, read from the solution cell of
solutions/04_convolution_by_hand (the library never holds an exercise's answer): im2col along
the width only and one product per kernel row (MEC, Cho & Brand 2017). For comparison, two
one-big-product versions a student may write: `conv2d_im2col` (the classic im2col matrix built
with a loop over the KH·KW kernel offsets) and `conv2d_windows` (sliding_window_view +
transpose + reshape, the notebook's solution before this lowering).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial
from pathlib import Path

SOLUTION = (
    Path(__file__).resolve().parents[1]
    / "solutions"
    / "04_convolution_by_hand"
    / "04_convolution_by_hand.ipynb"
)


def notebook_solution():
    """conv2d_fast as the solution notebook defines it (its answer cell, run in a fresh namespace)."""
    import nbformat
    import numpy as np

    nb = nbformat.read(SOLUTION, as_version=4)
    cell = next(
        c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "answer_conv2d_fast"
    )
    ns: dict = {"np": np}
    exec(compile(cell.source, f"{SOLUTION.name}:answer_conv2d_fast", "exec"), ns)
    return ns["conv2d_fast"]


LAYERS = [  # name, (N, C, H, W), (F, C, KH, KW), padding
    ("conv1 1->6, 5x5, 28x28, pad 2", (128, 1, 28, 28), (6, 1, 5, 5), 2),
    ("conv2 6->16, 5x5, 14x14", (128, 6, 14, 14), (16, 6, 5, 5), 0),
]


def conv2d_im2col(x, w, b=None, stride=1, padding=0):
    """x (N, C, H, W), w (F, C, KH, KW), b (F,) → (N, F, Ho, Wo), cross-correlation, x's dtype."""
    import numpy as np

    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    p, s = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    ho, wo = (h + 2 * p - kh) // s + 1, (wd + 2 * p - kw) // s + 1
    xp = xp.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp): each offset's slice is one block copy
    cols = np.empty((c, kh, kw, n, ho, wo), dtype=x.dtype)
    for m in range(kh):
        for q in range(kw):
            cols[:, m, q] = xp[:, :, m : m + s * (ho - 1) + 1 : s, q : q + s * (wo - 1) + 1 : s]
    out = w.reshape(f, -1).astype(x.dtype, copy=False) @ cols.reshape(c * kh * kw, n * ho * wo)
    out = out.reshape(f, n, ho, wo).transpose(1, 0, 2, 3)
    if b is not None:
        out = out + b.astype(x.dtype, copy=False)[None, :, None, None]
    return np.ascontiguousarray(out)


def conv2d_windows(x, w, b=None, stride=1, padding=0):
    """The notebook's solution as written there: sliding_window_view, transpose, one matmul."""
    import numpy as np

    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    p, s = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    ho, wo = (h + 2 * p - kh) // s + 1, (wd + 2 * p - kw) // s + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::s, ::s][
        :, :, :ho, :wo
    ]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    out = cols @ w.reshape(f, -1).T
    if b is not None:
        out += b
    return np.ascontiguousarray(out.reshape(n, ho, wo, f).transpose(0, 3, 1, 2))


def interleaved(fns, repeat: int) -> list[list[float]]:
    """Seconds of each call, the functions called in turn `repeat` times (after a warm-up)."""
    for fn in fns:
        fn()
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="threads for torch AND numpy's BLAS")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy / torch load their thread pools

    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(
        f"torch {torch.__version__}, numpy {np.__version__}, {args.threads} thread(s) each, "
        f"float32, CPU ({os.cpu_count()} cores visible, load {os.getloadavg()[0]:.1f})"
    )
    print(
        f"{'layer':32s} {'ours ms':>8s} {'torch ms':>9s} {'ratio':>6s} "
        f"{'im2col ms':>9s} {'ratio':>6s} {'windows ms':>10s} {'ratio':>6s} {'max|diff|':>9s}"
    )
    solution = notebook_solution()
    ratios = []
    for name, xs, ws, pad in LAYERS:
        x = rng.normal(size=xs).astype(np.float32)
        w = rng.normal(size=ws).astype(np.float32)
        b = rng.normal(size=ws[0]).astype(np.float32)
        xt, wt, bt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
        with torch.no_grad():
            ref = F.conv2d(xt, wt, bt, padding=pad).numpy()
            diff = float(np.abs(solution(x, w, b, padding=pad) - ref).max())
            assert solution(x, w, b, padding=pad).dtype == np.float32
            for fn in (solution, conv2d_im2col):  # and with a stride, against torch
                got = fn(x, w, b, stride=2, padding=1)
                want = F.conv2d(xt, wt, bt, stride=2, padding=1).numpy()
                assert np.allclose(got, want, rtol=1e-4, atol=1e-3)
            assert np.allclose(solution(x, w, b, padding=pad), ref, rtol=1e-4, atol=1e-3)
            assert np.allclose(conv2d_im2col(x, w, b, padding=pad), ref, rtol=1e-4, atol=1e-3)
            assert np.allclose(conv2d_windows(x, w, b, padding=pad), ref, rtol=1e-4, atol=1e-3)
            t_ours, t_torch, t_col, t_win = interleaved(
                [
                    partial(solution, x, w, b, padding=pad),
                    partial(F.conv2d, xt, wt, bt, padding=pad),
                    partial(conv2d_im2col, x, w, b, padding=pad),
                    partial(conv2d_windows, x, w, b, padding=pad),
                ],
                args.repeat,
            )
        ratio = statistics.median(a / t for a, t in zip(t_ours, t_torch))
        ratio_col = statistics.median(a / t for a, t in zip(t_col, t_torch))
        ratio_win = statistics.median(a / t for a, t in zip(t_win, t_torch))
        ratios.append(ratio)
        med = lambda ts: statistics.median(ts) * 1e3  # noqa: E731
        print(
            f"{name:32s} {med(t_ours):8.2f} {med(t_torch):9.2f} {ratio:6.2f} "
            f"{med(t_col):9.2f} {ratio_col:6.2f} {med(t_win):10.2f} {ratio_win:6.2f} {diff:9.1e}"
        )
    worst = max(ratios)
    print(
        "ratio = median over interleaved pairs of (x / torch); ours = the notebook's solution; "
        "im2col, windows = one-big-product versions"
    )
    print(
        f"worst ours / torch ratio: {worst:.2f} (goal: within 2x) -> {'OK' if worst <= 2 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
