"""LeNet-5 on the full MNIST: notebook 05's recipe against the common way, time to 99 %.

    COURSEKIT_DATA=../shared/data .venv/bin/python bench/bench_lenet.py            # cpu, both runs
    .venv/bin/python bench/bench_lenet.py --device cuda --repeats 3 --no-baseline # the GPU recipe
    .venv/bin/python bench/bench_lenet.py --baseline-epochs 3                     # a shorter baseline
    .venv/bin/python bench/bench_lenet.py --no-baseline --repeats 3 --epochs 2 --lr 0.03 \
        --pct-start 0.15 --div-factor 10                  # the two-epoch edge (notebook 05's text)

*Notebook*: the solution notebook's own LeNet5, train_one_epoch and evaluate (its answer cells,
read from solutions/05_lenet_mnist), the whole data set as tensors on the device, batches by
indexing a per-epoch permutation, Adam with a one-cycle schedule, channels-last weights and
activations on a CPU (the notebook's recipe; ``--memory-format contiguous`` for the old layout).
*Common way*: the same LeNet-5 architecture, a per-sample ``Dataset`` (uint8 image → normalised
tensor in ``__getitem__``) and a ``DataLoader`` (batch 64, shuffled, no workers), SGD lr 0.01
momentum 0.9, no schedule, until 99.0 % or ``--baseline-epochs``.

Both are evaluated on the full 10,000-image test set after every epoch; "training time" counts
the epochs only (evaluation excluded), with the device synchronised before each clock reading.
Prints one table and the ratio of the times to 99 %. Never a timed test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from coursekit.data import MNIST_MEAN, MNIST_STD, load_mnist  # noqa: E402
from coursekit.devices import describe_device, pick_device  # noqa: E402
from coursekit.training import permutation_batches, sync, to_tensors  # noqa: E402

NOTEBOOK = ROOT / "solutions" / "05_lenet_mnist" / "05_lenet_mnist.ipynb"


def notebook_answers() -> dict:
    """LeNet5, train_one_epoch and evaluate as the solution notebook defines them (plain json:
    no Jupyter needed, so this also runs where only torch is installed)."""
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    ns: dict = {
        "torch": torch,
        "nn": nn,
        "F": F,
        "np": np,
        "math": math,
        "permutation_batches": permutation_batches,
    }
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if gid in ("answer_LeNet5", "answer_train_one_epoch", "answer_evaluate"):
            exec("".join(cell["source"]), ns)  # our own solution notebook
    return ns


class MnistDataset(torch.utils.data.Dataset):
    """The common way: one image at a time, converted and normalised in __getitem__."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = torch.from_numpy(np.array(self.images[i], dtype=np.float32)).div_(255.0)
        x = x.sub_(MNIST_MEAN).div_(MNIST_STD).unsqueeze(0)
        return x, int(self.labels[i])


def run_notebook_recipe(
    ns,
    device,
    train,
    test,
    *,
    epochs,
    batch,
    lr,
    seed,
    target,
    warmup,
    channels_last=False,
    pct_start=0.3,
    div_factor=25.0,
):
    x, y = train
    torch.manual_seed(seed)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = ns["LeNet5"]("modern").to(device, memory_format=fmt)
    if warmup:  # first-call costs (kernel loading, cuDNN autotune) are not training
        tmp = ns["LeNet5"]("modern").to(device, memory_format=fmt)
        ns["train_one_epoch"](
            tmp,
            x[: batch * 4],
            y[: batch * 4],
            torch.optim.Adam(tmp.parameters(), lr=1e-3),
            batch_size=batch,
        )
        ns["evaluate"](tmp, test[0], test[1])
        sync(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=lr,
        total_steps=epochs * math.ceil(len(x) / batch),
        pct_start=pct_start,
        div_factor=div_factor,
    )
    rows, elapsed, t99 = [], 0.0, None
    for epoch in range(1, epochs + 1):
        sync(device)
        t0 = time.perf_counter()
        loss = ns["train_one_epoch"](
            model, x, y, opt, batch_size=batch, seed=seed + epoch, scheduler=sched
        )
        sync(device)
        dt = time.perf_counter() - t0
        elapsed += dt
        _, acc = ns["evaluate"](model, test[0], test[1], batch_size=5000)
        rows.append(
            {"epoch": epoch, "loss": loss, "acc": acc, "train_s": elapsed, "img_s": len(x) / dt}
        )
        if t99 is None and acc >= target:
            t99 = elapsed
    return rows, t99


def run_common_way(ns, device, train_np, test, *, max_epochs, seed, target):
    torch.manual_seed(seed)
    model = ns["LeNet5"]("modern").to(device)
    loader = torch.utils.data.DataLoader(
        MnistDataset(*train_np),
        batch_size=64,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rows, elapsed, t99 = [], 0.0, None
    for epoch in range(1, max_epochs + 1):
        model.train()
        sync(device)
        t0 = time.perf_counter()
        total, n = 0.0, 0
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            n += len(yb)
        sync(device)
        dt = time.perf_counter() - t0
        elapsed += dt
        _, acc = ns["evaluate"](model, test[0], test[1], batch_size=5000)
        rows.append(
            {"epoch": epoch, "loss": total / n, "acc": acc, "train_s": elapsed, "img_s": n / dt}
        )
        print(f"  common way, epoch {epoch}: test {100 * acc:.2f} %, {elapsed:.1f} s", flush=True)
        if acc >= target:
            t99 = elapsed
            break
    return rows, t99


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps (default cpu)")
    ap.add_argument("--epochs", type=int, default=3, help="notebook recipe: epochs (default 3)")
    ap.add_argument(
        "--batch", type=int, help="notebook recipe: batch size (default 256 on cpu, 512 on a GPU)"
    )
    ap.add_argument(
        "--lr",
        type=float,
        help="peak learning rate of one-cycle Adam (default 0.01 on cpu, 0.02 on a GPU)",
    )
    ap.add_argument(
        "--repeats", type=int, default=1, help="runs of the notebook recipe (median reported)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--pct-start", type=float, default=0.3, help="one-cycle warm-up share (0.3: torch's)"
    )
    ap.add_argument(
        "--div-factor", type=float, default=25.0, help="one-cycle start = peak / this (25)"
    )
    ap.add_argument(
        "--memory-format",
        choices=("auto", "channels-last", "contiguous"),
        default="auto",
        help="the model's weights and activations (auto: channels-last on a CPU, as notebook 05)",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument(
        "--baseline-epochs", type=int, default=15, help="cap of the common way (default 15)"
    )
    ap.add_argument("--no-baseline", action="store_true", help="skip the common way")
    ap.add_argument("--target", type=float, default=0.99)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    gpu = device.type != "cpu"  # the notebook's recipe, per device
    args.batch = args.batch or (512 if gpu else 256)
    args.lr = args.lr or (0.02 if gpu else 0.01)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    channels_last = args.memory_format == "channels-last" or (
        args.memory_format == "auto" and not gpu
    )
    ns = notebook_answers()
    tr_img, tr_lab = load_mnist("train")
    te_img, te_lab = load_mnist("test")
    train = to_tensors(tr_img, tr_lab, device, mean=MNIST_MEAN, std=MNIST_STD)
    test = to_tensors(te_img, te_lab, device, mean=MNIST_MEAN, std=MNIST_STD)
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"device {describe_device(device)}; torch {torch.__version__}; {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load1:.1f} (a shared machine inflates CPU times)"
    )

    runs = []
    for r in range(args.repeats):
        rows, t99 = run_notebook_recipe(
            ns,
            device,
            train,
            test,
            epochs=args.epochs,
            batch=args.batch,
            lr=args.lr,
            seed=args.seed + 100 * r,
            target=args.target,
            warmup=True,
            channels_last=channels_last,
            pct_start=args.pct_start,
            div_factor=args.div_factor,
        )
        runs.append((rows, t99))
        last = rows[-1]
        print(
            f"notebook recipe run {r + 1}: "
            + "; ".join(
                f"ep {x['epoch']} {100 * x['acc']:.2f} % at {x['train_s']:.2f} s" for x in rows
            )
            + f" | {statistics.median(x['img_s'] for x in rows):,.0f} img/s"
            + f" | time to {100 * args.target:.0f} %: "
            + (f"{t99:.2f} s" if t99 else "not reached"),
            flush=True,
        )
        del last
    t99s = [t for _, t in runs if t is not None]
    med_t99 = statistics.median(t99s) if t99s else None
    med_total = statistics.median(rows[-1]["train_s"] for rows, _ in runs)
    med_acc = statistics.median(rows[-1]["acc"] for rows, _ in runs)
    med_ips = statistics.median(x["img_s"] for rows, _ in runs for x in rows)
    result = {
        "device": describe_device(device),
        "torch": torch.__version__,
        "load_average": load1,
        "recipe": {
            "epochs": args.epochs,
            "batch": args.batch,
            "peak_lr": args.lr,
            "repeats": args.repeats,
            "median_time_to_target_s": med_t99,
            "median_total_train_s": med_total,
            "median_final_acc": med_acc,
            "median_images_per_s": med_ips,
            "runs": [rows for rows, _ in runs],
        },
    }
    print(
        f"\nnotebook recipe ({args.epochs} epochs, batch {args.batch}, Adam one-cycle peak {args.lr}), "
        f"median of {args.repeats}: final test accuracy {100 * med_acc:.2f} % (error {100 * (1 - med_acc):.2f} %; "
        f"LeCun 1998: 0.95 %) after {med_total:.2f} s of training; {med_ips:,.0f} images/s; "
        f"time to {100 * args.target:.0f} %: " + (f"{med_t99:.2f} s" if med_t99 else "not reached")
    )

    if not args.no_baseline:
        print(
            f"\ncommon way (Dataset + DataLoader, batch 64, SGD 0.01 momentum 0.9), at most {args.baseline_epochs} epochs:"
        )
        rows, t99 = run_common_way(
            ns,
            device,
            (tr_img, tr_lab),
            test,
            max_epochs=args.baseline_epochs,
            seed=args.seed,
            target=args.target,
        )
        result["common_way"] = {
            "max_epochs": args.baseline_epochs,
            "time_to_target_s": t99,
            "rows": rows,
        }
        ips = statistics.median(x["img_s"] for x in rows)
        if t99 is not None and med_t99:
            print(
                f"common way: {100 * rows[-1]['acc']:.2f} % after {len(rows)} epochs, time to "
                f"{100 * args.target:.0f} %: {t99:.1f} s ({ips:,.0f} img/s) → the notebook recipe is "
                f"{t99 / med_t99:.1f}× faster to {100 * args.target:.0f} %"
            )
        else:
            print(
                f"common way: {100 * max(x['acc'] for x in rows):.2f} % best after {len(rows)} epochs "
                f"({rows[-1]['train_s']:.1f} s of training, {ips:,.0f} img/s): {100 * args.target:.0f} % "
                f"not reached"
                + (
                    f"; ≥ {rows[-1]['train_s'] / med_t99:.1f}× the notebook's time to it"
                    if med_t99
                    else ""
                )
            )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
