"""Is a person looking? Widgets are live in JupyterLab and static pictures when headless.

A notebook is *headless* when it is executed without a front end: by nbgrader or coursekit
while grading (``NBGRADER_EXECUTION`` is set), by the test suite or ``coursekit check``
(``COURSEKIT_HEADLESS=1``), or outside IPython altogether. Widgets then draw one static
final frame with matplotlib and never wait for input.
"""

from __future__ import annotations

import os

__all__ = ["is_headless", "grading_mode", "quick_mode", "show", "live_figure"]


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


def show(widget, static=None) -> None:  # noqa: ANN001
    """Display `widget` live, or call `static()` (which draws a picture) when headless."""
    from IPython.display import display

    if is_headless():
        if static is not None:
            static()
        return
    display(widget)


def live_figure(figsize: tuple[float, float] = (6.4, 4.8), **kwargs):  # noqa: ANN201
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
