"""The plain training plumbing of notebook 05 (LeNet-5 on MNIST): data, batches, a progress
bar, a live plot, a device menu and the pictures that explain a trained network.

The notebook's student writes the interesting parts (the model, the loss, one training epoch,
the evaluation); this module only carries them along::

    >>> x, y = to_tensors(images, labels, device)                 # (N, 1, 28, 28) float, (N,)
    >>> for idx in permutation_batches(len(x), 128, seed=0):      # one epoch, shuffled
    ...     xb, yb = x[idx], y[idx]
    >>> history = fit(model, train_one_epoch, evaluate, (x, y), (x_test, y_test), epochs=3,
    ...               optimizer=opt, scheduler=sched, batch_size=128)

Everything works the same on ``cpu``, ``cuda`` and ``mps``: tensors are moved once, batches are
index slices of tensors already on the device, and nothing waits for the GPU inside the loop
(timings call :func:`sync` first). Nothing here holds the answer to an exercise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .devices import DEVICE_CHOICES, available_devices, pick_device
from .interactive import live_figure, push_frame

__all__ = [
    "History",
    "LivePlot",
    "learning_curves",
    "plot_learning_curves",
    "TrainingProgress",
    "confusion_matrix",
    "dataset_menu",
    "device_menu",
    "feature_maps",
    "fit",
    "permutation_batches",
    "plot_confusion",
    "predict",
    "show_digits",
    "show_feature_maps",
    "show_filters",
    "show_misclassified",
    "sync",
    "to_tensors",
]


# --- data on the device -----------------------------------------------------------------------


def to_tensors(
    images: Any,
    labels: Any,
    device: torch.device | str = "cpu",
    *,
    mean: float | None = None,
    std: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, H, W) uint8 in 0..255 and labels (N,) as tensors on `device`.

    Returns x float32 (N, 1, H, W) scaled to [0, 1] and, when `mean`/`std` are given,
    standardised as (x - mean) / std; and y int64 (N,). The whole set is moved once: batches
    are then index slices of tensors that already live on the device.
    """
    x = (
        images
        if isinstance(images, torch.Tensor)
        else torch.from_numpy(np.array(images, copy=True))
    )
    y = (
        labels
        if isinstance(labels, torch.Tensor)
        else torch.from_numpy(np.array(labels, copy=True))
    )
    y = y.long()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    x = x.to(device=device, dtype=torch.float32).div_(255.0)
    if mean is not None or std is not None:
        x = (x - (mean or 0.0)) / (std or 1.0)
    return x.contiguous(), y.to(device)


def permutation_batches(
    n: int,
    batch_size: int,
    seed: int | None = None,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Iterator[torch.Tensor]:
    """The index batches of one epoch: a random permutation of range(n) cut into consecutive
    slices of `batch_size` (the last one may be smaller).

    The permutation is ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))``
    (or `generator` when given; no seed and no generator: torch's global generator), drawn on
    the CPU so that the order is the same on every device, then moved to `device` once.
    Yields int64 tensors of shape (batch,).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if generator is None and seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(int(n), generator=generator)
    if device is not None:
        perm = perm.to(device)
    for start in range(0, int(n), int(batch_size)):
        yield perm[start : start + batch_size]


def sync(device: torch.device | str) -> None:
    """Wait until the device has finished its queued work (for honest timings)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """The predicted class (argmax of the logits) of every image, int64 (N,), on images' device."""
    was_training = model.training
    model.eval()
    out = [
        model(images[i : i + batch_size]).argmax(dim=1) for i in range(0, len(images), batch_size)
    ]
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=images.device)


# --- progress and history ---------------------------------------------------------------------


@dataclass
class History:
    """What fit() measured, one entry per epoch."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)  # cumulative, training only
    images_per_s: list[float] = field(default_factory=list)
    device: str = "cpu"
    eval_name: str = "test"  # the set evaluated after every epoch (its losses are in test_loss)

    def summary(self) -> str:
        if not self.epoch:
            return "nothing trained yet"
        return (
            f"{self.epoch[-1]} epoch{'s' if self.epoch[-1] != 1 else ''} on {self.device}: {self.eval_name} accuracy {100 * self.test_acc[-1]:.2f} % "
            f"after {self.train_seconds[-1]:.1f} s of training "
            f"({self.images_per_s[-1]:,.0f} images/s in the last epoch)"
        )


class TrainingProgress:
    """One progress bar for the whole run (tqdm.auto: a widget in JupyterLab, text elsewhere),
    advanced by images seen; after each epoch it shows loss, accuracy and images/s."""

    def __init__(
        self,
        epochs: int,
        images_per_epoch: int,
        *,
        desc: str = "training",
        disable: bool = False,
        eval_name: str = "test",
    ):
        from tqdm.auto import tqdm

        self.eval_name = eval_name

        self.bar = tqdm(
            total=int(epochs) * int(images_per_epoch),
            desc=desc,
            unit="img",
            unit_scale=True,
            disable=disable,
            mininterval=0.5,
            leave=True,
        )

    def advance(self, n: int) -> None:
        self.bar.update(int(n))

    def epoch_done(self, epoch: int, loss: float, acc: float, images_per_s: float) -> None:
        self.bar.set_postfix_str(
            f"epoch {epoch}: loss {loss:.4f}, {self.eval_name} acc {100 * acc:.2f} %, {images_per_s:,.0f} img/s",
            refresh=True,
        )

    def close(self) -> None:
        self.bar.close()


class LivePlot:
    """Loss (left) and test accuracy (right) per epoch, redrawn in place while training runs
    (an ipympl canvas); headless, call :meth:`show` once at the end for a static picture.
    `eval_name` names the evaluated set ("test", "validation")."""

    def __init__(self, epochs: int, *, title: str = "", eval_name: str = "test"):
        self.fig, self.view = live_figure(figsize=(8.5, 3.0))
        self.ax_loss, self.ax_acc = self.fig.subplots(1, 2)
        self.fig.subplots_adjust(wspace=0.3, bottom=0.18)
        if title:
            self.fig.suptitle(title)
        (self.train_line,) = self.ax_loss.plot([], [], "o-", label="training loss")
        (self.test_line,) = self.ax_loss.plot([], [], "s-", label=f"{eval_name} loss")
        (self.acc_line,) = self.ax_acc.plot([], [], "o-", color="C2")
        # A log axis needs positive limits before any data arrives (a live canvas draws at once).
        self.ax_loss.set(
            xlabel="epoch",
            ylabel="cross-entropy",
            xlim=(0.5, max(epochs, 1) + 0.5),
            ylim=(0.01, 3.0),
        )
        self.ax_loss.set_yscale("log")
        self.ax_loss.legend(loc="upper right", fontsize=8)
        self.ax_acc.set(
            xlabel="epoch", ylabel=f"{eval_name} accuracy (%)", xlim=(0.5, max(epochs, 1) + 0.5)
        )
        self.ax_acc.axhline(99.0, color="0.6", ls="--", lw=1)
        self.ax_acc.text(0.6, 99.02, "99 %", color="0.4", fontsize=8, va="bottom")
        self.acc_text = self.ax_acc.text(
            0.98, 0.04, "", transform=self.ax_acc.transAxes, ha="right", fontsize=9
        )
        if self.view is not None:
            from IPython.display import display

            display(self.view)
            push_frame(self.fig.canvas)  # the empty axes at once, before the first epoch

    def update(self, h: History) -> None:
        self.train_line.set_data(h.epoch, h.train_loss)
        self.test_line.set_data(h.epoch, h.test_loss)
        acc = [100 * a for a in h.test_acc]
        self.acc_line.set_data(h.epoch, acc)
        losses = [v for v in h.train_loss + h.test_loss if v > 0 and math.isfinite(v)]
        if losses:
            self.ax_loss.set_ylim(min(losses) / 1.5, max(losses) * 1.5)
        if acc:
            self.ax_acc.set_ylim(min(min(acc) - 0.5, 98.0), 100.0)
            self.acc_text.set_text(f"{acc[-1]:.2f} %")
        if self.view is not None:
            push_frame(self.fig.canvas)  # the training cell is still running: push, don't wait

    def show(self) -> None:
        """Headless: display the final frame once (live, the canvas is already on screen)."""
        if self.view is None:
            _display_figure(self.fig)


def _display_figure(fig: Any) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: nothing to show
        return
    if get_ipython() is not None:
        display(fig)


def fit(
    model: torch.nn.Module,
    train_one_epoch: Callable[..., Any],
    evaluate: Callable[..., Any],
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any = None,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = True,
    plot: bool = True,
    title: str = "",
    eval_name: str = "test",
) -> History:
    """Train for `epochs` with the notebook's own functions, evaluating after every epoch.

    train_one_epoch(model, x, y, optimizer, batch_size=, seed=, scheduler=, on_batch=) → mean
    training loss; evaluate(model, x, y) → (mean loss, accuracy in [0, 1]) on `test`, the set
    named `eval_name` in the plot and the summary (a validation set: "validation"). Epoch e
    uses seed ``seed + e`` so a run is reproducible. The training time excludes the evaluation;
    the GPU is synchronised before every clock reading. Returns a :class:`History`.
    """
    x, y = train
    x_test, y_test = test
    device = x.device
    h = History(device=str(device), eval_name=eval_name)
    bar = TrainingProgress(epochs, len(x), disable=not progress, eval_name=eval_name)
    live = LivePlot(epochs, title=title, eval_name=eval_name) if plot else None
    elapsed = 0.0
    try:
        for epoch in range(1, epochs + 1):
            sync(device)
            t0 = time.perf_counter()
            loss = train_one_epoch(
                model,
                x,
                y,
                optimizer,
                batch_size=batch_size,
                seed=seed + epoch,
                scheduler=scheduler,
                on_batch=bar.advance,
            )
            loss = float(loss)
            sync(device)
            seconds = time.perf_counter() - t0
            elapsed += seconds
            test_loss, test_acc = evaluate(model, x_test, y_test)
            h.epoch.append(epoch)
            h.train_loss.append(loss)
            h.test_loss.append(float(test_loss))
            h.test_acc.append(float(test_acc))
            h.train_seconds.append(elapsed)
            h.images_per_s.append(len(x) / max(seconds, 1e-9))
            bar.epoch_done(epoch, float(test_loss), float(test_acc), h.images_per_s[-1])
            if live is not None:
                live.update(h)
    finally:
        bar.close()
    if live is not None:
        live.show()
    return h


def learning_curves(
    model: torch.nn.Module,
    train_one_epoch: Callable[..., Any],
    evaluate: Callable[..., Any],
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Train for `epochs` with the notebook's functions and, after every epoch, evaluate the
    model on its own training set and on the validation set, both with `evaluate` (evaluation
    mode: no dropout, the weights as they are). Returns {"train_loss", "train_acc", "val_loss",
    "val_acc"}: one value per epoch each. Epoch e uses seed ``seed + e``."""
    curves: dict[str, list[float]] = {
        k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc")
    }
    for epoch in range(1, epochs + 1):
        train_one_epoch(model, *train, optimizer, batch_size=batch_size, seed=seed + epoch)
        for part, data in (("train", train), ("val", val)):
            loss, acc = evaluate(model, *data)
            curves[f"{part}_loss"].append(float(loss))
            curves[f"{part}_acc"].append(float(acc))
    return curves


def plot_learning_curves(runs: Mapping[str, Mapping[str, Sequence[float]]], *, title: str = ""):
    """Loss (log scale, left) and error (right) per epoch for each run of
    :func:`learning_curves`: the training set dashed, the validation set solid, one colour per
    run. Returns the figure."""
    fig = _figure((9.5, 3.2))
    ax_loss, ax_err = fig.subplots(1, 2)
    for i, (name, c) in enumerate(runs.items()):
        epochs = range(1, len(c["val_loss"]) + 1)
        color = f"C{i}"
        ax_loss.plot(epochs, c["train_loss"], "--", color=color, label=f"{name}: training")
        ax_loss.plot(epochs, c["val_loss"], "-", color=color, label=f"{name}: validation")
        ax_err.plot(epochs, [100 * (1 - a) for a in c["train_acc"]], "--", color=color)
        ax_err.plot(epochs, [100 * (1 - a) for a in c["val_acc"]], "-", color=color)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log")
    ax_err.set(xlabel="epoch", ylabel="error (%)", yscale="log")
    ax_loss.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# --- menus ------------------------------------------------------------------------------------


def device_menu(value: str = "auto") -> Any:
    """A dropdown of devices (auto / cpu / cuda / mps) that says which exist on this machine.

    Its `.value` is the choice string, ready for ``coursekit.devices.pick_device(menu.value)``.
    CSS class ``coursekit-device``. Headless, the widget is built but nothing is displayed.
    """
    import ipywidgets as widgets

    have = available_devices()
    labels = []
    for choice in DEVICE_CHOICES:
        if choice == "auto":
            label = f"auto (→ {have[0]})"
        elif choice in have:
            label = choice
        else:
            label = f"{choice} (not on this machine)"
        labels.append((label, choice))
    menu = widgets.Dropdown(
        options=labels, value=value if value in DEVICE_CHOICES else "auto", description="device"
    )
    menu.add_class("coursekit-device")
    return menu


def dataset_menu(value: str = "mnist") -> Any:
    """A dropdown: MNIST or Fashion-MNIST (same format, same loader). CSS class
    ``coursekit-dataset``; `.value` is "mnist" or "fashion" for coursekit.data.load_mnist."""
    import ipywidgets as widgets

    menu = widgets.Dropdown(
        options=[("MNIST digits", "mnist"), ("Fashion-MNIST", "fashion")],
        value=value if value in ("mnist", "fashion") else "mnist",
        description="data set",
    )
    menu.add_class("coursekit-dataset")
    return menu


def chosen_device(menu_or_value: Any) -> torch.device:
    """The device a menu (or a plain string) asks for: pick_device(value); an unavailable
    device falls back to the CPU with one sentence."""
    value = getattr(menu_or_value, "value", menu_or_value)
    return pick_device(str(value))


__all__.append("chosen_device")


# --- pictures ---------------------------------------------------------------------------------

FASHION_CLASSES = (
    "T-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "boot",
)


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _figure(figsize: tuple[float, float]):
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize)


def show_digits(
    images: Any,
    labels: Any = None,
    *,
    predictions: Any = None,
    n: int = 32,
    cols: int = 16,
    title: str = "",
    class_names: Sequence[str] | None = None,
):
    """A grid of the first `n` images ((N, H, W) or (N, 1, H, W)); the label above each,
    in red "label→prediction" when a prediction is given and wrong. Returns the figure."""
    imgs = _as_numpy(images)[:n]
    if imgs.ndim == 4:
        imgs = imgs[:, 0]
    lab = None if labels is None else _as_numpy(labels)[:n]
    pred = None if predictions is None else _as_numpy(predictions)[:n]

    def name(k: Any) -> str:
        return class_names[int(k)] if class_names else str(int(k))

    rows = max(1, math.ceil(len(imgs) / cols))
    fig = _figure((cols * 0.62, rows * 0.78 + (0.3 if title else 0)))
    for i, img in enumerate(imgs):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(img, cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        if lab is not None and pred is not None:
            wrong = int(lab[i]) != int(pred[i])
            ax.set_title(
                f"{name(lab[i])}→{name(pred[i])}" if wrong else name(lab[i]),
                fontsize=7,
                color="C3" if wrong else "k",
            )
        elif lab is not None:
            ax.set_title(name(lab[i]), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.2)
    return fig


def confusion_matrix(predictions: Any, labels: Any, num_classes: int = 10) -> np.ndarray:
    """counts[i, j] = how many images of class i were predicted as class j (int64 (K, K))."""
    p = _as_numpy(predictions).astype(np.int64).ravel()
    t = _as_numpy(labels).astype(np.int64).ravel()
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def plot_confusion(
    counts: np.ndarray, *, title: str = "", class_names: Sequence[str] | None = None
):
    """The confusion matrix on a log colour scale, with the off-diagonal counts written in."""
    from matplotlib.colors import LogNorm

    counts = np.asarray(counts)
    k = counts.shape[0]
    fig = _figure((5.2, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(counts + 1, cmap="Blues", norm=LogNorm())
    for i in range(k):
        for j in range(k):
            if counts[i, j] and (i != j or k <= 10):
                ax.text(
                    j,
                    i,
                    str(counts[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if i == j else ("C3" if counts[i, j] >= 5 else "k"),
                )
    names = list(class_names) if class_names else [str(i) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=90 if class_names else 0, fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="count + 1")
    fig.tight_layout()
    return fig


def show_misclassified(images: Any, labels: Any, predictions: Any, *, n: int = 32, **kwargs: Any):
    """The first `n` images whose prediction is wrong, titled "true→predicted"."""
    lab = _as_numpy(labels)
    pred = _as_numpy(predictions)
    wrong = np.flatnonzero(lab != pred)[:n]
    imgs = _as_numpy(images)[wrong]
    kwargs.setdefault("title", f"{int((lab != pred).sum())} misclassified; the first {len(wrong)}")
    return show_digits(imgs, lab[wrong], predictions=pred[wrong], n=n, **kwargs)


def show_filters(weight: Any, *, title: str = "conv1 filters"):
    """The kernels of a convolution layer (out, in, kh, kw), input channel 0, each on its own
    symmetric colour scale (red positive, blue negative)."""
    w = _as_numpy(weight)
    if w.ndim == 4:
        w = w[:, 0]
    k = len(w)
    fig = _figure((1.3 * k, 1.6))
    for i in range(k):
        ax = fig.add_subplot(1, k, i + 1)
        lim = float(np.abs(w[i]).max()) or 1.0
        ax.imshow(w[i], cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"#{i}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@torch.no_grad()
def feature_maps(
    model: torch.nn.Module, image: torch.Tensor, names: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """The output of each named child module of `model` for one image (1, H, W) or (1, 1, H, W),
    recorded with forward hooks: {name: tensor (C, H, W) or (features,)} on the CPU, in the order
    the modules ran. `names` keeps only those children."""
    x = image if image.ndim == 4 else image.unsqueeze(0)
    out: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in model.named_children():
        if names is None or name in names:
            handles.append(
                module.register_forward_hook(
                    lambda _m, _i, o, name=name: out.__setitem__(name, o.detach()[0].cpu())
                )
            )
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was_training)
        for hnd in handles:
            hnd.remove()
    return out


def show_feature_maps(maps: Mapping[str, torch.Tensor], *, max_channels: int = 16):
    """One row per layer: the channels of 3-D maps as images; 1-D outputs as a bar strip."""
    rows = list(maps.items())
    fig = _figure((12, 1.05 * len(rows) + 0.3))
    for r, (name, m) in enumerate(rows):
        a = _as_numpy(m)
        if a.ndim == 3:
            c = min(len(a), max_channels)
            for j in range(c):
                ax = fig.add_subplot(len(rows), max_channels + 1, r * (max_channels + 1) + j + 2)
                ax.imshow(a[j], cmap="viridis")
                ax.set_xticks([])
                ax.set_yticks([])
            label = f"{name}\n{tuple(a.shape)}"
        else:
            ax = fig.add_subplot(
                len(rows),
                max_channels + 1,
                (r * (max_channels + 1) + 2, (r + 1) * (max_channels + 1)),
            )
            ax.imshow(a.reshape(1, -1), aspect="auto", cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            label = f"{name}\n{tuple(a.shape)}"
        lab = fig.add_subplot(len(rows), max_channels + 1, r * (max_channels + 1) + 1)
        lab.axis("off")
        lab.text(1.0, 0.5, label, ha="right", va="center", fontsize=8, transform=lab.transAxes)
    fig.tight_layout(pad=0.3)
    return fig
