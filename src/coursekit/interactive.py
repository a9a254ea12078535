"""Is a person looking? Widgets are live in JupyterLab and static pictures when headless.

A notebook is *headless* when it is executed without a front end: by nbgrader or coursekit
while grading (``NBGRADER_EXECUTION`` is set), by the test suite or ``coursekit check``
(``COURSEKIT_HEADLESS=1``), or outside IPython altogether. Widgets then draw one static
final frame with matplotlib and never wait for input.
"""

from __future__ import annotations

import os
import types
from typing import Any

__all__ = [
    "is_headless",
    "grading_mode",
    "quick_mode",
    "show",
    "live_figure",
    "fast_png_frames",
    "send_full_frame",
    "push_frame",
    "Blitter",
]


def grading_mode() -> bool:
    """True while an autograder runs the notebook (nbgrader or coursekit)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def quick_mode() -> bool:
    """True while grading, or when COURSEKIT_QUICK=1: heavy cells (training, timing races) run on
    a small budget. Unlike grading, a quick run keeps widgets live (the browser tests use it)."""
    return grading_mode() or os.environ.get("COURSEKIT_QUICK", "") not in ("", "0")


def is_headless() -> bool:
    """True when no front end will render widgets or animate them."""
    if grading_mode() or os.environ.get("COURSEKIT_HEADLESS", "") not in ("", "0"):
        return True
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return True
    ip = get_ipython()
    return ip is None or type(ip).__name__ != "ZMQInteractiveShell"


def show(widget: Any, static: Any = None) -> None:
    """Display `widget` live, or call `static()` (which draws a picture) when headless."""
    from IPython.display import display

    if is_headless():
        if static is not None:
            static()
        return
    display(widget)


def live_figure(figsize: tuple[float, float] = (6.4, 4.8), **kwargs: Any) -> tuple[Any, Any]:
    """A matplotlib Figure for a widget: backed by an ipympl canvas (a widget that redraws in
    place, no flicker) when a front end is live, by a plain Agg canvas when headless.

    Returns (fig, view): display `view` in a widget layout; after changing artists call
    ``fig.canvas.draw_idle()``. Headless, `view` is None and the caller shows the figure with
    ``IPython.display.display(fig)`` once at the end.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, **kwargs)
    if is_headless():
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
        return fig, None
    from ipympl.backend_nbagg import Canvas, FigureManager

    canvas = Canvas(fig)
    FigureManager(canvas, 0)
    canvas.header_visible = False
    canvas.footer_visible = False
    canvas.toolbar_visible = False
    canvas.resizable = False
    return fig, canvas


# --- ipympl's canvas: the internals coursekit relies on, in one place -------------------------
#
# ipympl's Canvas is matplotlib's WebAgg canvas plus a comm. Its frames are PNGs of what changed
# since the last frame (get_diff_image, driven by the private flags _png_is_old / _force_full /
# _last_buff). Two helpers below touch those flags; both check that they exist (and that ipympl
# is a version they were tested with) and otherwise leave the canvas as it is: slower frames,
# never a broken widget. pyproject.toml bounds ipympl to the tested range.

IPYMPL_TESTED = ((0, 9), (0, 11))  # [lowest, highest) (major, minor) versions checked
_INTERNALS = ("_png_is_old", "_force_full", "_last_buff", "set_image_mode", "get_renderer")


def _ipympl_ok(canvas: Any) -> bool:
    try:
        import ipympl

        version = tuple(int(p) for p in ipympl.__version__.split(".")[:2])
    except (ImportError, ValueError):
        return False
    lo, hi = IPYMPL_TESTED
    return lo <= version < hi and all(hasattr(canvas, a) for a in _INTERNALS)


def fast_png_frames(canvas: Any) -> bool:
    """Encode the canvas's frames with a fast PNG compression level (zlib level 1): a frame is a
    full-size image, transparent except where pixels changed, so it encodes several times faster
    and is barely larger. Returns whether it was installed."""
    if not _ipympl_ok(canvas):
        return False
    canvas.get_diff_image = types.MethodType(_fast_diff_image, canvas)
    return True


def send_full_frame(canvas: Any) -> None:
    """Make the next frame a whole image, not a diff against the previous one (for widgets that
    redraw everything: a diff applied to another frame than the one it was computed against —
    quick slider moves — leaves a garbled picture)."""
    if _ipympl_ok(canvas):
        canvas._force_full = True


def push_frame(canvas: Any) -> None:
    """Draw the figure now and send the picture to the browser from the kernel's side, without
    waiting for the browser to ask for it. A cell that is still running (a training loop) can't
    answer the browser's requests — ``draw_idle()`` alone would show nothing until it ends."""
    if not _ipympl_ok(canvas) or getattr(canvas, "manager", None) is None:
        canvas.draw_idle()
        return
    canvas._force_full = True  # a whole picture: the browser may have missed the last one
    canvas.draw()
    canvas.manager.refresh_all()


def _fast_diff_image(canvas: Any) -> bytes | None:
    """matplotlib's WebAgg ``get_diff_image`` with zlib level 1."""
    from io import BytesIO

    import numpy as np
    from PIL import Image

    if not canvas._png_is_old:
        return None
    pixels = np.asarray(canvas.get_renderer().buffer_rgba())
    buff = pixels.view(np.uint32).squeeze(2)
    if (
        canvas._force_full
        or buff.shape != canvas._last_buff.shape
        or (pixels[:, :, 3] != 255).any()
    ):
        canvas.set_image_mode("full")
        output = buff
    else:
        canvas.set_image_mode("diff")
        output = np.where(buff != canvas._last_buff, buff, 0)
    canvas._last_buff = buff.copy()
    canvas._force_full = False
    canvas._png_is_old = False
    data = output.view(dtype=np.uint8).reshape((*output.shape, 4))
    with BytesIO() as png:
        Image.fromarray(data).save(png, format="png", compress_level=1)
        return png.getvalue()


# --- blitting: a frame of only what moved ------------------------------------------------------


class Blitter:
    """Redraw a widget's moving artists over a cached picture of the rest of its figure.

    The moving artists (``add``) are marked animated: a full draw of the figure leaves them out,
    and right after it (the canvas' ``draw_event``: first show, resize, new static content) the
    picture is kept (``copy_from_bbox``) and the moving artists painted over it. :meth:`update`
    then restores the kept picture, draws the moving artists and blits: a frame costs what they
    cost, not what the figure costs. Whole Axes may be moving artists (a loss curve whose axis
    limits change). Call :meth:`invalidate` after changing a static artist: the next update is
    a full draw.

    Headless (``live=False``, an Agg canvas) nothing is animated and :meth:`update` does nothing:
    the figure is drawn once when it is shown. ``enabled = False`` turns blitting off (every
    update asks for a full draw): the benches' baseline.
    """

    def __init__(self, canvas: Any, *, live: bool = True) -> None:
        self.canvas = canvas
        self.live = bool(live) and hasattr(canvas, "copy_from_bbox")
        self.artists: list[Any] = []
        self._bg: Any = None
        self._enabled = self.live
        if self.live:
            canvas.mpl_connect("draw_event", self._on_draw)

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = bool(value) and self.live
        self._bg = None
        for a in self.artists:
            a.set_animated(self._enabled)

    def add(self, *artists: Any) -> None:
        """Artists drawn on every update (in this order, after the cached picture)."""
        for a in artists:
            a.set_animated(self._enabled)
            self.artists.append(a)

    def remove(self, *artists: Any) -> None:
        for a in artists:
            if a in self.artists:
                self.artists.remove(a)

    def invalidate(self) -> None:
        """The static picture changed: the next update draws the whole figure."""
        self._bg = None

    def _on_draw(self, event: Any) -> None:
        if not self._enabled or event.canvas.is_saving():  # savefig draws the moving ones too
            return
        self._bg = event.canvas.copy_from_bbox(event.canvas.figure.bbox)
        self._paint()

    def _paint(self) -> None:
        fig = self.canvas.figure
        for a in self.artists:
            if a.get_visible() and a.get_figure() is not None:
                fig.draw_artist(a)

    def update(self) -> None:
        """Show the moving artists' new state: a blit over the kept picture, or (none kept yet,
        or blitting off) a request for a full draw."""
        if not self.live:
            return
        if self._enabled and self._bg is not None:
            self.canvas.restore_region(self._bg)
            self._paint()
            self.canvas.blit(self.canvas.figure.bbox)
        else:
            self.canvas.draw_idle()
