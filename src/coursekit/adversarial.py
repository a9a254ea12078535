"""The attack explorer of notebook 07 (what a CNN sees, and how to fool it), and its pictures.

The explorer runs *your* attack and *your* saliency map (the notebook's exercises) on a trained
network, so the library holds no answer::

    ex = AttackExplorer(model, fgsm, saliency, test_images, test_labels,
                        fgsm_targeted=fgsm_targeted)
    ex.show()                             # a live widget in JupyterLab; a static picture headless
    ex.set(digit=7, eps=0.15, target=3)   # move the controls from code (tests do this)

Pick a test digit with the slider (or switch the source to *draw* and draw one with the mouse on
the 28×28 canvas), move ε, and see the adversarial image, the perturbation (magnified so that ±ε
is full colour), the saliency map and the ten class probabilities, updating live. The *target*
menu switches from the untargeted attack (climb the loss of the true class) to a targeted one
(descend the loss of the chosen class).

Three parts, each replaceable: :class:`AttackModel` computes an :class:`AttackResult` (no
drawing), :class:`AttackView` draws one on a matplotlib figure (artists made once, then only
their data change), :class:`AttackExplorer` wires controls to both. CSS classes for the browser
tests: ``coursekit-attack`` (the whole widget), ``coursekit-attack-source`` (test digit / draw),
``coursekit-attack-digit`` (slider), ``coursekit-attack-eps`` (slider), ``coursekit-attack-target``
(menu), ``coursekit-attack-clear`` (button), ``coursekit-attack-status`` (the line of text),
``coursekit-attack-canvas`` (the drawing canvas), ``coursekit-attack-figure`` (the five panels).

The module also holds the notebook's other pictures (receptive-field windows on a digit, class
"dreams", accuracy against ε, attacks, saliency maps); none of them computes an exercise.
Images are (28, 28) or (1, 28, 28) pixels in [0, 1] (white paper 0, black ink 1), drawn with
``gray_r``.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .interactive import is_headless, live_figure

__all__ = [
    "ATTACK_CSS_CLASS",
    "AttackExplorer",
    "AttackModel",
    "AttackResult",
    "AttackView",
    "plot_accuracy_vs_eps",
    "plot_accuracy_vs_params",
    "show_attack_explorer",
    "show_attacks",
    "show_dreams",
    "show_receptive_fields",
    "show_saliency",
]

ATTACK_CSS_CLASS = "coursekit-attack"
UNTARGETED = -1  # the target menu's value for "no target"


def _image(x: Any) -> np.ndarray:
    """Any image-like (tensor or array, (28, 28), (1, 28, 28) or (1, 1, 28, 28)) as a 2-D array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    a = np.asarray(x, dtype=np.float32)
    while a.ndim > 2:
        a = a[0]
    return a


# --- the model: one attack, no drawing --------------------------------------------------------


@dataclass
class AttackResult:
    """What one attack on one image gave. Arrays are (28, 28); probabilities (10,)."""

    clean: np.ndarray
    adversarial: np.ndarray
    saliency: np.ndarray  # the signed gradient of the class score, on the adversarial image
    probs: np.ndarray  # softmax of the adversarial image's logits
    clean_probs: np.ndarray
    label: int | None  # the true label (None for a drawing)
    eps: float
    target: int | None = None  # None: untargeted
    saliency_class: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def perturbation(self) -> np.ndarray:
        return self.adversarial - self.clean

    @property
    def pred(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def clean_pred(self) -> int:
        return int(np.argmax(self.clean_probs))

    @property
    def fooled(self) -> bool:
        """Untargeted: the prediction moved off the true class (the clean prediction for a
        drawing). Targeted: the prediction is the target."""
        if self.error:
            return False
        if self.target is not None:
            return self.pred == self.target
        reference = self.label if self.label is not None else self.clean_pred
        return self.pred != reference


class AttackModel:
    """Runs the notebook's attack and saliency map on one image at a time.

    model: a classifier, logits (B, 10) for images (B, 1, 28, 28) in [lo, hi].
    fgsm(model, x, y, eps) → x_adv; fgsm_targeted(model, x, target, eps) → x_adv (optional);
    saliency(model, x, cls) → ∂score/∂x, like x. images: (N, 28, 28) uint8 0..255 or float in
    [0, 1] (or (N, 1, 28, 28)); labels: (N,) or None.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        fgsm: Callable[..., Any],
        saliency: Callable[..., Any],
        images: Any,
        labels: Any = None,
        *,
        fgsm_targeted: Callable[..., Any] | None = None,
    ) -> None:
        self.model, self.fgsm, self.saliency, self.fgsm_targeted = (
            model,
            fgsm,
            saliency,
            fgsm_targeted,
        )
        x = (
            images
            if isinstance(images, torch.Tensor)
            else torch.from_numpy(np.array(images, copy=True))
        )
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        x = x.float()
        if x.ndim == 3:
            x = x.unsqueeze(1)
        self.images = x.cpu()
        self.labels = None if labels is None else np.asarray(labels).astype(np.int64).ravel()

    def __len__(self) -> int:
        return len(self.images)

    @property
    def device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except (StopIteration, AttributeError):
            return torch.device("cpu")

    def label(self, index: int) -> int | None:
        return None if self.labels is None else int(self.labels[int(index)])

    def attack(
        self, image: Any, label: int | None, eps: float, target: int | None = None
    ) -> AttackResult:
        """Attack one image ((28, 28) in [0, 1], or a tensor (1, 1, 28, 28)) with step `eps`.

        Untargeted: fgsm with the true label (the clean prediction when `label` is None).
        Targeted (`target` a class): fgsm_targeted towards it. The saliency map is that of the
        true class (untargeted) or of the target, on the adversarial image. The student's
        errors come back in ``AttackResult.error``, never as an exception.
        """
        t0 = time.perf_counter()
        dev = self.device
        x = torch.as_tensor(_image(image)).view(1, 1, 28, 28).to(dev)
        clean = _image(x)
        with torch.no_grad():
            clean_probs = torch.softmax(self.model(x).float(), dim=1)[0].cpu().numpy()
        ref = int(np.argmax(clean_probs)) if label is None else int(label)
        result = AttackResult(
            clean=clean,
            adversarial=clean.copy(),
            saliency=np.zeros_like(clean),
            probs=clean_probs,
            clean_probs=clean_probs,
            label=label,
            eps=float(eps),
            target=target,
            saliency_class=ref if target is None else int(target),
        )
        step = "fgsm"
        try:
            if target is None:
                x_adv = self.fgsm(self.model, x, torch.tensor([ref], device=dev), float(eps))
            else:
                if self.fgsm_targeted is None:
                    raise RuntimeError("no targeted attack was given to the explorer")
                step = "fgsm_targeted"
                x_adv = self.fgsm_targeted(
                    self.model, x, torch.tensor([int(target)], device=dev), float(eps)
                )
            x_adv = torch.as_tensor(x_adv).detach().to(dev).view(1, 1, 28, 28).float()
            with torch.no_grad():
                result.probs = torch.softmax(self.model(x_adv).float(), dim=1)[0].cpu().numpy()
            result.adversarial = _image(x_adv)
            step = "saliency"
            result.saliency = _image(self.saliency(self.model, x_adv, result.saliency_class))
        except NotImplementedError:
            result.error = f"write `{step}` (its exercise) to see it here"
        except Exception as exc:
            result.error = f"`{step}` raised {type(exc).__name__}: {exc}"
        result.seconds = time.perf_counter() - t0
        return result


# --- the view: draws an AttackResult, artists made once -----------------------------------------


def _no_axis(ax: Any) -> None:
    """No ticks, and the axes' tick machinery not drawn at all (it is most of a render's time)."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.xaxis.set_visible(False)
    ax.yaxis.set_visible(False)


def _gray(ax: Any, title: str = "") -> Any:
    im = ax.imshow(np.zeros((28, 28)), cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
    _no_axis(ax)
    ax.set_title(title, fontsize=8)
    return im


class AttackView:
    """Five panels on `fig`: the image, the adversarial image, the perturbation, the saliency
    map and the ten probabilities. :meth:`update` only changes data, colours and titles."""

    def __init__(self, fig: Any) -> None:
        self.fig = fig
        grid = fig.add_gridspec(1, 6, width_ratios=[1, 1, 1, 1, 0.1, 1.9], wspace=0.25)
        self.ax_clean = fig.add_subplot(grid[0, 0])
        self.ax_adv = fig.add_subplot(grid[0, 1])
        self.ax_pert = fig.add_subplot(grid[0, 2])
        self.ax_sal = fig.add_subplot(grid[0, 3])
        self.ax_bar = fig.add_subplot(grid[0, 5])
        self.im_clean = _gray(self.ax_clean, "image")
        self.im_adv = _gray(self.ax_adv, "adversarial")
        self.im_pert = self.ax_pert.imshow(
            np.zeros((28, 28)), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest"
        )
        self.im_sal = self.ax_sal.imshow(
            np.zeros((28, 28)), cmap="hot", vmin=0, vmax=1, interpolation="nearest"
        )
        for ax in (self.ax_pert, self.ax_sal):
            _no_axis(ax)
        self.bars = self.ax_bar.bar(range(10), np.zeros(10), color="0.6")
        (self.clean_marks,) = self.ax_bar.plot(
            range(10), np.zeros(10), "_", color="k", ms=14, mew=2, label="before the attack"
        )
        self.ax_bar.set(ylim=(0, 1.05), xticks=range(10), xlim=(-0.6, 9.6))
        self.ax_bar.tick_params(labelsize=8)
        self.ax_bar.set_ylabel("probability", fontsize=8)
        self.ax_bar.legend(loc="upper right", fontsize=7, frameon=False)
        self.message = fig.text(0.5, 0.5, "", ha="center", va="center", fontsize=11, color="C3")
        fig.subplots_adjust(left=0.01, right=0.99, top=0.78, bottom=0.1)

    def update(self, r: AttackResult) -> None:
        self.im_clean.set_data(r.clean)
        self.im_adv.set_data(r.adversarial)
        lim = max(r.eps, float(np.abs(r.perturbation).max()), 1e-6)
        self.im_pert.set_data(r.perturbation / lim)
        sal = np.abs(r.saliency)
        self.im_sal.set_data(sal / (float(sal.max()) or 1.0))
        label = "your drawing" if r.label is None else f"test digit, label {r.label}"
        self.ax_clean.set_title(
            f"{label}\npredicted {r.clean_pred} ({r.clean_probs[r.clean_pred]:.0%})", fontsize=8
        )
        self.ax_adv.set_title(
            f"adversarial, ε = {r.eps:.3f}\npredicted {r.pred} ({r.probs[r.pred]:.0%})",
            fontsize=8,
            color="C3" if r.fooled else "k",
        )
        self.ax_pert.set_title(
            "perturbation\n" + (f"magnified ×{1 / lim:.0f}" if lim < 0.5 else "±ε"), fontsize=8
        )
        self.ax_sal.set_title(f"|saliency|\nof class {r.saliency_class}", fontsize=8)
        for k, bar in enumerate(self.bars):
            bar.set_height(float(r.probs[k]))
            if r.target is not None and k == r.target:
                bar.set_color("C1")
            elif k == r.pred:
                bar.set_color("C3" if r.fooled else "C2")
            else:
                bar.set_color("0.6")
        self.clean_marks.set_ydata(r.clean_probs)
        kind = "untargeted" if r.target is None else f"targeted → {r.target}"
        self.ax_bar.set_title(f"class probabilities ({kind})", fontsize=8)
        self.message.set_text(r.error)


def status_text(r: AttackResult) -> str:
    """One line saying what the attack did (plain text)."""
    if r.error:
        return r.error
    linf = float(np.abs(r.perturbation).max())
    if r.target is not None:
        what = (
            f"pushed to {r.target}: {'reached' if r.fooled else 'not reached'} "
            f"(p = {r.probs[r.target]:.1%})"
        )
    else:
        ref = r.label if r.label is not None else r.clean_pred
        what = f"{'fooled' if r.fooled else 'not fooled'}: p({ref}) {r.clean_probs[ref]:.1%} → {r.probs[ref]:.1%}"
    source = "your drawing" if r.label is None else f"label {r.label}"
    return (
        f"{source}, ε = {r.eps:.3f}, largest pixel change {linf:.3f}; predicted {r.clean_pred} → "
        f"{r.pred}; {what}; computed in {1000 * r.seconds:.0f} ms"
    )


# --- the widget ---------------------------------------------------------------------------------


class AttackExplorer:
    """The live explorer: source (test digit / drawing), digit slider, ε slider, target menu,
    a drawing canvas, the five-panel figure and a status line. See the module docstring."""

    def __init__(
        self,
        model: torch.nn.Module,
        fgsm: Callable[..., Any],
        saliency: Callable[..., Any],
        images: Any,
        labels: Any = None,
        *,
        fgsm_targeted: Callable[..., Any] | None = None,
        digit: int = 0,
        eps: float = 0.1,
        max_eps: float = 0.5,
    ) -> None:
        import ipywidgets as W

        self.state = AttackModel(model, fgsm, saliency, images, labels, fgsm_targeted=fgsm_targeted)
        self.result: AttackResult | None = None
        self.drawing = np.zeros((28, 28), dtype=np.float32)
        self._lock = threading.RLock()
        self._quiet = True
        self._pressed = False

        self.source = W.ToggleButtons(options=["test digit", "draw"], value="test digit")
        self.digit = W.IntSlider(
            value=int(digit), min=0, max=len(self.state) - 1, description="digit"
        )
        self.eps = W.FloatSlider(
            value=float(eps),
            min=0.0,
            max=float(max_eps),
            step=0.005,
            description="ε",
            readout_format=".3f",
        )
        targets = [("untargeted", UNTARGETED)] + [(f"→ {k}", k) for k in range(10)]
        self.target = W.Dropdown(
            options=targets,
            value=UNTARGETED,
            description="target",
            disabled=fgsm_targeted is None,
        )
        self.clear = W.Button(description="clear drawing")
        self.status = W.HTML()
        for name, w in (
            ("source", self.source),
            ("digit", self.digit),
            ("eps", self.eps),
            ("target", self.target),
            ("clear", self.clear),
            ("status", self.status),
        ):
            w.add_class(f"{ATTACK_CSS_CLASS}-{name}")

        self.fig, self.view_widget = live_figure(figsize=(10.5, 2.7), dpi=80)
        self.view = AttackView(self.fig)
        self.draw_fig, self.draw_widget = live_figure(figsize=(2.3, 2.3), dpi=80)
        self.draw_ax = self.draw_fig.add_axes((0.02, 0.02, 0.96, 0.86))
        self.draw_im = _gray(self.draw_ax)
        self.draw_ax.set_title("draw here (source: draw)", fontsize=8)
        for canvas_widget in (self.view_widget, self.draw_widget):
            if canvas_widget is not None:
                self._lock_renders(canvas_widget)
        if self.view_widget is not None:
            self.view_widget.add_class(f"{ATTACK_CSS_CLASS}-figure")
        if self.draw_widget is not None:
            self.draw_widget.add_class(f"{ATTACK_CSS_CLASS}-canvas")
            self.draw_widget.capture_scroll = False
            c = self.draw_fig.canvas
            c.mpl_connect("button_press_event", self._on_press)
            c.mpl_connect("motion_notify_event", self._on_move)
            c.mpl_connect("button_release_event", self._on_release)

        controls = W.VBox([self.source, self.digit, self.eps, self.target, self.clear])
        top = [controls] + ([self.draw_widget] if self.draw_widget is not None else [])
        parts = [W.HBox(top)]
        if self.view_widget is not None:
            parts.append(self.view_widget)
        parts.append(self.status)
        self.widget = W.VBox(parts)
        self.widget.add_class(ATTACK_CSS_CLASS)

        for w in (self.source, self.digit, self.eps, self.target):
            w.observe(self._on_change, names="value")
        self.clear.on_click(self._on_clear)
        self._quiet = False
        self.update()

    # --- state ------------------------------------------------------------------------------

    def current_image(self) -> tuple[np.ndarray, int | None]:
        """The image being attacked and its label (None for a drawing)."""
        if self.source.value == "draw":
            return _centred(self.drawing), None
        i = int(self.digit.value)
        return _image(self.state.images[i]), self.state.label(i)

    def set(self, **values: Any) -> AttackExplorer:
        """Move controls from code: digit=, eps=, target= (a class, or None for untargeted),
        source= ("test digit" / "draw"), drawing= (a (28, 28) array in [0, 1]; also selects
        the drawing). Redraws once. Returns self."""
        self._quiet = True
        try:
            if "drawing" in values:
                self.drawing = np.clip(_image(values.pop("drawing")), 0, 1).astype(np.float32)
                self.draw_im.set_data(self.drawing)
                self.source.value = "draw"
            if "source" in values:
                self.source.value = values.pop("source")
            if "digit" in values:
                self.digit.value = int(values.pop("digit"))
            if "eps" in values:
                self.eps.value = float(values.pop("eps"))
            if "target" in values:
                t = values.pop("target")
                self.target.value = UNTARGETED if t is None else int(t)
            if values:
                raise TypeError(f"unknown control(s): {', '.join(values)}")
        finally:
            self._quiet = False
        self.update()
        return self

    def update(self) -> AttackResult:
        """Attack the current image with the current controls and redraw the figure."""
        image, label = self.current_image()
        t = None if self.target.value == UNTARGETED else int(self.target.value)
        with self._lock:
            self.result = self.state.attack(image, label, float(self.eps.value), t)
            self.view.update(self.result)
        self.digit.disabled = self.source.value == "draw"
        self.status.value = f"<span>{html.escape(status_text(self.result))}</span>"
        if self.view_widget is not None:
            self.fig.canvas.draw_idle()
        return self.result

    def status_line(self) -> str:
        return status_text(self.result) if self.result is not None else ""

    # --- events -----------------------------------------------------------------------------

    def _on_change(self, change: dict) -> None:
        if not self._quiet:
            self.update()

    def _on_clear(self, _button: Any = None) -> None:
        self.drawing[:] = 0.0
        self._redraw_drawing()
        if self.source.value == "draw":
            self.update()

    def paint(self, row: float, col: float, radius: float = 1.3) -> None:
        """Add ink around (row, col) of the drawing: a soft round brush, as MNIST's strokes."""
        rr, cc = np.mgrid[0:28, 0:28]
        ink = np.exp(-((rr - row) ** 2 + (cc - col) ** 2) / (2 * radius**2))
        np.maximum(self.drawing, np.clip(1.6 * ink, 0, 1), out=self.drawing)

    def _on_press(self, event: Any) -> None:
        if event.inaxes is self.draw_ax and event.xdata is not None:
            self._pressed = True
            self.paint(event.ydata, event.xdata)
            self._redraw_drawing()

    def _on_move(self, event: Any) -> None:
        if self._pressed and event.inaxes is self.draw_ax and event.xdata is not None:
            self.paint(event.ydata, event.xdata)
            self._redraw_drawing()

    def _on_release(self, event: Any) -> None:
        if self._pressed:
            self._pressed = False
            if self.source.value != "draw":
                self.source.value = "draw"  # observers call update()
            else:
                self.update()

    def _redraw_drawing(self) -> None:
        with self._lock:
            self.draw_im.set_data(self.drawing)
        if self.draw_widget is not None:
            self.draw_fig.canvas.draw_idle()

    def _lock_renders(self, canvas: Any) -> None:
        """Live, ipympl renders from another thread: renders and updates share a lock, and
        every frame is sent whole (a diff applied to another frame garbles it)."""
        render = canvas.draw

        def locked_render(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                if hasattr(canvas, "_force_full"):
                    canvas._force_full = True
                return render(*args, **kwargs)

        canvas.draw = locked_render

    # --- showing ----------------------------------------------------------------------------

    def show(self) -> None:
        """The live widget in JupyterLab; headless, the current picture and the status line."""
        from IPython.display import display

        if is_headless() or self.view_widget is None:
            display(self.fig)
            print(self.status_line())
            return
        display(self.widget)


def _centred(drawing: np.ndarray) -> np.ndarray:
    """A drawing moved so that its centre of mass is in the middle, as MNIST's digits are."""
    total = float(drawing.sum())
    if total <= 0:
        return drawing.copy()
    rr, cc = np.mgrid[0:28, 0:28]
    dy = int(round(13.5 - float((rr * drawing).sum()) / total))
    dx = int(round(13.5 - float((cc * drawing).sum()) / total))
    out = np.zeros_like(drawing)
    src = drawing[max(0, -dy) : 28 - max(0, dy), max(0, -dx) : 28 - max(0, dx)]
    out[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out


def show_attack_explorer(
    model: torch.nn.Module,
    fgsm: Callable[..., Any],
    saliency: Callable[..., Any],
    images: Any,
    labels: Any = None,
    **kwargs: Any,
) -> AttackExplorer:
    """Build the explorer (arguments as :class:`AttackExplorer`), show it and return it."""
    ex = AttackExplorer(model, fgsm, saliency, images, labels, **kwargs)
    ex.show()
    return ex


# --- the notebook's other pictures ----------------------------------------------------------------


def _figure(figsize: tuple[float, float]) -> Any:
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize)


def _bare(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def show_receptive_fields(
    image: Any,
    gradients: Sequence[Any],
    windows: Sequence[tuple[int, int, int] | None],
    titles: Sequence[str],
) -> Any:
    """One panel per layer: the digit, in red where one unit's gradient (measured) is non-zero,
    and the predicted window as a square outline.

    image: (28, 28); gradients: one (28, 28) array per layer (|∂unit/∂input|, any scale);
    windows: (top, left, size) of the predicted window in input pixels, or None; titles: one
    per panel. Returns the figure.
    """
    from matplotlib.patches import Rectangle

    img = _image(image)
    n = len(gradients)
    fig = _figure((2.3 * n, 2.6))
    for k in range(n):
        ax = fig.add_subplot(1, n, k + 1)
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=1)
        g = np.abs(_image(gradients[k]))
        mask = np.ma.masked_where(g <= 0, g / (g.max() or 1.0))
        ax.imshow(mask, cmap="autumn_r", alpha=0.55, vmin=0, vmax=1)
        if windows[k] is not None:
            top, left, size = windows[k]
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), size, size, fill=False, ec="C0", lw=2))
        ax.set_xlim(-0.5, 27.5)
        ax.set_ylim(27.5, -0.5)
        _bare(ax)
        ax.set_title(titles[k], fontsize=9)
    fig.tight_layout()
    return fig


def show_dreams(rows: Mapping[str, Sequence[Any]], *, titles: Sequence[str] | None = None) -> Any:
    """Class-model visualisations: one row per setting ({row label: ten images}), each image on
    its own grey scale (they are not in [0, 1]). `titles` go above the first row. Returns the
    figure."""
    labels = list(rows)
    cols = max(len(v) for v in rows.values())
    fig = _figure((1.25 * cols + 1.2, 1.4 * len(labels) + 0.3))
    for r, name in enumerate(labels):
        for c, im in enumerate(rows[name]):
            ax = fig.add_subplot(len(labels), cols, r * cols + c + 1)
            a = _image(im)
            ax.imshow(a, cmap="gray_r", vmin=float(a.min()), vmax=float(a.max()) or 1.0)
            _bare(ax)
            if r == 0 and titles is not None:
                ax.set_title(titles[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.tight_layout(pad=0.4)
    return fig


def plot_accuracy_vs_eps(
    eps: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    xlabel: str = "ε (largest change of a pixel, pixels in [0, 1])",
) -> Any:
    """Test accuracy (fractions in [0, 1]) against ε, one line per curve. Returns the figure."""
    fig = _figure((6.0, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    for name, acc in curves.items():
        ax.plot(list(eps), [100 * float(a) for a in acc], "o-", ms=4, label=name)
    ax.set(xlabel=xlabel, ylabel="accuracy (%)", ylim=(0, 102))
    ax.axhline(10, color="0.6", ls=":", lw=1)
    ax.text(float(max(eps)), 11, "chance", color="0.5", fontsize=8, ha="right")
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_params(
    names: Sequence[str], params: Sequence[int], accuracy: Sequence[float], *, title: str = ""
) -> Any:
    """Accuracy (fractions) against the number of parameters, one labelled point per model."""
    fig = _figure((5.5, 3.2))
    ax = fig.add_subplot(1, 1, 1)
    for k, (name, n, a) in enumerate(zip(names, params, accuracy)):
        ax.plot([n], [100 * a], "o", ms=8, color=f"C{k}")
        ax.annotate(name, (n, 100 * a), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set(xlabel="parameters", ylabel="test accuracy (%)")
    ax.grid(alpha=0.3)
    lo, hi = min(params), max(params)
    pad = 0.15 * (hi - lo or hi)
    ax.set_xlim(lo - pad, hi + 2 * pad)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_attacks(
    clean: Any,
    adversarial: Any,
    labels: Sequence[int],
    predictions: Sequence[int],
    *,
    captions: Sequence[str] | None = None,
    title: str = "",
) -> Any:
    """Three rows for n digits: the clean image, the adversarial one (title "label→prediction",
    red when fooled), the perturbation (each on its own symmetric scale). Returns the figure."""
    xs = [_image(c) for c in clean]
    xa = [_image(a) for a in adversarial]
    n = len(xs)
    fig = _figure((1.3 * n + 0.8, 4.3))
    for k in range(n):
        d = xa[k] - xs[k]
        lim = float(np.abs(d).max()) or 1.0
        for r, (img, kw) in enumerate(
            (
                (xs[k], {"cmap": "gray_r", "vmin": 0, "vmax": 1}),
                (xa[k], {"cmap": "gray_r", "vmin": 0, "vmax": 1}),
                (d, {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim}),
            )
        ):
            ax = fig.add_subplot(3, n, r * n + k + 1)
            ax.imshow(img, interpolation="nearest", **kw)
            _bare(ax)
            if r == 0:
                ax.set_title(captions[k] if captions else f"label {labels[k]}", fontsize=8)
            if r == 1:
                wrong = int(predictions[k]) != int(labels[k])
                ax.set_title(
                    f"{labels[k]}→{predictions[k]}", fontsize=8, color="C3" if wrong else "k"
                )
            if k == 0:
                ax.set_ylabel(("clean", "adversarial", "perturbation")[r], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.93 if title else 1))
    return fig


def show_saliency(images: Any, gradients: Any, labels: Sequence[int], *, title: str = "") -> Any:
    """Three rows for n digits: the digit, the signed gradient (red: more ink raises the score,
    blue: lowers it) and its magnitude. Returns the figure."""
    xs = [_image(x) for x in images]
    gs = [_image(g) for g in gradients]
    n = len(xs)
    fig = _figure((1.3 * n + 0.8, 4.3))
    for k in range(n):
        lim = float(np.abs(gs[k]).max()) or 1.0
        panels = (
            (xs[k], {"cmap": "gray_r", "vmin": 0, "vmax": 1}),
            (gs[k], {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim}),
            (np.abs(gs[k]), {"cmap": "hot", "vmin": 0, "vmax": lim}),
        )
        for r, (img, kw) in enumerate(panels):
            ax = fig.add_subplot(3, n, r * n + k + 1)
            ax.imshow(img, interpolation="nearest", **kw)
            _bare(ax)
            if r == 0:
                ax.set_title(f"class {labels[k]}", fontsize=8)
            if k == 0:
                ax.set_ylabel(("digit", "∂score/∂x", "|∂score/∂x|")[r], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.93 if title else 1))
    return fig
