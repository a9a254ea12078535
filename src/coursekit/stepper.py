"""The convolution stepper: slide a kernel over a small input, one output cell at a time.

Notebook 04 shows it in one line::

    show_conv_stepper()                          # the Kalogerakis 5x5 example, 3x3 kernel
    show_conv_stepper(x, k, stride=2, padding=1)

Live (JupyterLab), three sliders — ``position`` (which output cell), ``stride`` and ``padding``
— and a play button move the window; the left panel is the (zero-padded) input with the current
window highlighted, the right panel is the output with the cells computed so far filled in, and
the line underneath writes out the current dot product. The widget carries the CSS class
``coursekit-stepper``. Headless (tests, grading) it draws one static picture instead.

Convention: the layer's cross-correlation (the kernel is *not* flipped), as in PyTorch's
``Conv2d``. This module shows one window's dot product at a time; it is a picture, not an
exercise answer, and the notebook's checks refuse answers that call into it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .interactive import fast_png_frames, is_headless, live_figure, send_full_frame

__all__ = ["ConvStepper", "show_conv_stepper", "STEPPER_CSS_CLASS"]

STEPPER_CSS_CLASS = "coursekit-stepper"

# Kalogerakis, "Intelligent Visual Computing: ConvNets": 5x5 input, 3x3 kernel → [[12,12,17],...].
DEFAULT_X = np.array(
    [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
    dtype=float,
)
DEFAULT_K = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], dtype=float)


def _fmt(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.2g}"


def _highlight(ax: Any, col: float, row: float, width: float, height: float) -> Any:
    """The red box over the window (input) or the cell (output) of the current position."""
    from matplotlib.patches import Rectangle

    box = Rectangle(
        (col - 0.5, row - 0.5),
        width,
        height,
        fill=True,
        alpha=0.18,
        facecolor="tab:red",
        edgecolor="tab:red",
        lw=2.5,
    )
    ax.add_patch(box)
    return box


@dataclass
class _Geometry:
    """Sizes for one (stride, padding) setting; PyTorch's floor for strides that don't divide."""

    h: int
    w: int
    kh: int
    kw: int
    stride: int
    padding: int

    @property
    def out_h(self) -> int:
        return max((self.h + 2 * self.padding - self.kh) // self.stride + 1, 0)

    @property
    def out_w(self) -> int:
        return max((self.w + 2 * self.padding - self.kw) // self.stride + 1, 0)

    @property
    def n_positions(self) -> int:
        return self.out_h * self.out_w


class ConvStepper:
    """The stepper's state and drawing. `x` (H, W) and `kernel` (KH, KW) are 2-D arrays."""

    def __init__(
        self,
        x: np.ndarray | None = None,
        kernel: np.ndarray | None = None,
        *,
        stride: int = 1,
        padding: int = 0,
        max_stride: int = 3,
        max_padding: int = 2,
    ) -> None:
        self.x = np.asarray(DEFAULT_X if x is None else x, dtype=float)
        self.kernel = np.asarray(DEFAULT_K if kernel is None else kernel, dtype=float)
        if self.x.ndim != 2 or self.kernel.ndim != 2:
            raise ValueError("the stepper takes a 2-D input (H, W) and a 2-D kernel (KH, KW)")
        self.stride = int(stride)
        self.padding = int(padding)
        self.max_stride = max(int(max_stride), self.stride)
        self.max_padding = max(int(max_padding), self.padding)
        self.position = 0
        self.fig = None
        self._built: tuple | None = None  # what the picture was drawn for (geometry, x, kernel)
        self.widget = None
        # Live, ipympl may render the figure from another thread while draw() rebuilds it (a
        # half-drawn frame reaches the browser): draw() and the canvas' renders share a lock.
        self._lock = threading.RLock()

    # --- geometry -----------------------------------------------------------------------
    @property
    def geometry(self) -> _Geometry:
        return _Geometry(*self.x.shape, *self.kernel.shape, self.stride, self.padding)

    def padded(self) -> np.ndarray:
        p = self.padding
        return np.pad(self.x, ((p, p), (p, p)))

    def window(self, position: int) -> tuple[int, int, int, int]:
        """(output row, output col, top row, left col in the padded input) of a position."""
        g = self.geometry
        i, j = divmod(int(position), max(g.out_w, 1))
        return i, j, i * g.stride, j * g.stride

    def _cell(self, position: int) -> tuple[float, str]:
        """One output value and its dot product written out."""
        _, _, top, left = self.window(position)
        kh, kw = self.kernel.shape
        patch = self.padded()[top : top + kh, left : left + kw]
        terms = [f"{_fmt(a)}·{_fmt(b)}" for a, b in zip(patch.ravel(), self.kernel.ravel())]
        value = float(np.dot(patch.ravel(), self.kernel.ravel()))
        return value, " + ".join(terms) + f" = {_fmt(value)}"

    # --- drawing --------------------------------------------------------------------------
    def draw(self, position: int | None = None):  # a matplotlib Figure
        """Draw the state at `position` (clipped to the valid range) and return the figure."""
        with self._lock:
            return self._draw(position)

    def _draw(self, position: int | None):
        g = self.geometry
        if position is not None:
            self.position = int(position)
        self.position = min(max(self.position, 0), max(g.n_positions - 1, 0))
        if self.fig is not None and self._built == (g, self.x.tobytes(), self.kernel.tobytes()):
            self._show_position()  # same picture, another position: move what moves
        else:
            self._build()
        send_full_frame(self.fig.canvas)  # the whole canvas is sent on each change: no diffs
        self.fig.canvas.draw_idle()
        return self.fig

    def _build(self) -> None:
        """Draw everything for the current geometry (a new figure the first time)."""
        g = self.geometry
        if self.fig is None:
            self.fig, self._view = live_figure(figsize=(9.0, 4.6))
            self._axes = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1.0]})
            if self._view is not None:
                fast_png_frames(self.fig.canvas)  # zlib level 1: the frame encodes several × faster
                render = self.fig.canvas.draw

                def locked_render(*args, **kwargs):
                    with self._lock:
                        return render(*args, **kwargs)

                self.fig.canvas.draw = locked_render
        ax_in, ax_out = self._axes
        ax_in.clear()  # redraw in the same axes (the figure and its canvas stay put)
        ax_out.clear()
        xp = self.padded()
        ph, pw = xp.shape
        p = self.padding
        kh, kw = self.kernel.shape

        # input, padding shaded; the values drawn once per geometry
        shade = np.zeros_like(xp)
        if p:
            shade[:p, :] = shade[-p:, :] = shade[:, :p] = shade[:, -p:] = 1
        ax_in.imshow(shade, cmap="Greys", vmin=0, vmax=4, extent=(-0.5, pw - 0.5, ph - 0.5, -0.5))
        self._in_texts = {
            (r, c): ax_in.text(
                c,
                r,
                _fmt(xp[r, c]),
                ha="center",
                va="center",
                fontsize=10,
                color="black" if (p <= r < ph - p and p <= c < pw - p) else "0.45",
            )
            for r in range(ph)
            for c in range(pw)
        }
        ax_in.set_xlim(-0.5, pw - 0.5)
        ax_in.set_ylim(ph - 0.5, -0.5)
        ax_in.set_title(
            f"input {self.x.shape[0]}×{self.x.shape[1]}, padding {p} (grey)", fontsize=10
        )
        oh, ow = max(g.out_h, 1), max(g.out_w, 1)
        ax_out.imshow(
            np.zeros((oh, ow)),
            cmap="Greys",
            vmin=0,
            vmax=1,
            extent=(-0.5, ow - 0.5, oh - 0.5, -0.5),
        )
        ax_out.set_xlim(-0.5, ow - 0.5)
        ax_out.set_ylim(oh - 0.5, -0.5)
        ax_out.set_title(
            f"output {g.out_h}×{g.out_w} = ⌊({self.x.shape[0]} − {kh} + 2·{p}) / {self.stride}⌋ + 1",
            fontsize=10,
        )
        for ax, (rows, cols) in ((ax_in, (ph, pw)), (ax_out, (oh, ow))):
            ax.hlines(np.arange(rows + 1) - 0.5, -0.5, cols - 0.5, color="0.7", lw=0.8)
            ax.vlines(np.arange(cols + 1) - 0.5, -0.5, rows - 0.5, color="0.7", lw=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
        self._marks: list[Any] = []  # the window's kernel weights and the two red boxes
        self._out_texts: list[Any] = []  # the output cells filled so far, in order
        self._built = (g, self.x.tobytes(), self.kernel.tobytes())
        self._show_position()

    def _show_position(self) -> None:
        """Show the current position on the built picture: the window (bold values, the
        kernel's weights, a red box), the output filled up to it, the arithmetic on top."""
        g = self.geometry
        ax_in, ax_out = self._axes
        kh, kw = self.kernel.shape
        _, _, top, left = self.window(self.position)
        for mark in self._marks:
            mark.remove()
        self._marks = []
        for (r, c), t in self._in_texts.items():
            inside = g.n_positions > 0 and top <= r < top + kh and left <= c < left + kw
            t.set_fontweight("bold" if inside else "normal")
            if inside:
                self._marks.append(
                    ax_in.text(
                        c + 0.42,
                        r + 0.42,
                        f"×{_fmt(self.kernel[r - top, c - left])}",
                        ha="right",
                        va="bottom",
                        fontsize=7,
                        color="tab:red",
                    )
                )
        text = "the kernel does not fit: no output"
        if g.n_positions:
            self._marks.append(_highlight(ax_in, left, top, kw, kh))
            while len(self._out_texts) > self.position + 1:  # stepped back: empty those cells
                self._out_texts.pop().remove()
            for pos in range(len(self._out_texts), self.position + 1):
                r, c = divmod(pos, g.out_w)
                value, _ = self._cell(pos)
                self._out_texts.append(
                    ax_out.text(c, r, _fmt(value), ha="center", va="center", fontsize=11)
                )
            for pos, t in enumerate(self._out_texts):
                t.set_fontweight("bold" if pos == self.position else "normal")
            r, c = divmod(self.position, g.out_w)
            text = f"output[{r}, {c}] = " + self._cell(self.position)[1]
            self._marks.append(_highlight(ax_out, c, r, 1, 1))
        if len(text) > 110:
            text = text[:107] + "…"
        self.fig.suptitle(f"stride {self.stride}, position {self.position}: {text}", fontsize=9)

    # --- the live widget --------------------------------------------------------------------
    def build_widget(self):  # an ipywidgets.VBox
        """The live widget: sliders (position, stride, padding), a play button, the figure."""
        import ipywidgets as widgets

        self.draw(self.position)
        g = self.geometry
        style = {"description_width": "70px"}
        pos = widgets.IntSlider(
            value=self.position,
            min=0,
            max=max(g.n_positions - 1, 0),
            description="position",
            style=style,
            continuous_update=True,
        )
        stride = widgets.IntSlider(
            value=self.stride, min=1, max=self.max_stride, description="stride", style=style
        )
        padding = widgets.IntSlider(
            value=self.padding, min=0, max=self.max_padding, description="padding", style=style
        )
        play = widgets.Play(
            value=self.position,
            min=0,
            max=pos.max,
            interval=700,
            description="play",
            show_repeat=False,
        )
        widgets.jslink((play, "value"), (pos, "value"))
        for s in (pos, stride, padding):
            s.add_class(f"{STEPPER_CSS_CLASS}-{s.description}")

        def on_position(change):
            self.draw(change["new"])

        def on_geometry(change):
            self.stride, self.padding = stride.value, padding.value
            n = max(self.geometry.n_positions - 1, 0)
            pos.max = play.max = n
            if pos.value > n:
                pos.value = n  # triggers on_position
            self.draw(pos.value)

        pos.observe(on_position, names="value")
        stride.observe(on_geometry, names="value")
        padding.observe(on_geometry, names="value")
        box = widgets.VBox([widgets.HBox([play, pos]), widgets.HBox([stride, padding]), self._view])
        box.add_class(STEPPER_CSS_CLASS)
        self.widget = box
        self.controls = {"position": pos, "stride": stride, "padding": padding, "play": play}
        return box


def show_conv_stepper(
    x: np.ndarray | None = None,
    kernel: np.ndarray | None = None,
    *,
    stride: int = 1,
    padding: int = 0,
    position: int | None = None,
) -> None:
    """Show the stepper: live sliders in JupyterLab, one static picture when headless.

    x: (H, W) input (default: Kalogerakis's 5×5 example); kernel: (KH, KW) (default his 3×3).
    position: the output cell shown first (headless default: the middle one, so the picture
    shows a half-filled output). Returns nothing (use ConvStepper to keep a handle).
    """
    from IPython.display import display

    stepper = ConvStepper(x, kernel, stride=stride, padding=padding)
    n = stepper.geometry.n_positions
    if is_headless():
        fig = stepper.draw(n // 2 if position is None else position)
        display(fig)
        return
    stepper.position = 0 if position is None else int(position)
    display(stepper.build_widget())
