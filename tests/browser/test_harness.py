"""The harness itself, on a tiny notebook of its own: JupyterLab starts, a notebook runs, an
ipywidget and an ipympl canvas render as widgets and react, errors are found and located.
Runs even before any course notebook exists."""

from __future__ import annotations

import nbformat
import pytest

CELLS = [
    "import numpy as np\nimport ipywidgets as widgets\nfrom IPython.display import display\n"
    "from coursekit.interactive import live_figure",
    "fig, view = live_figure(figsize=(3, 2))\nax = fig.add_subplot()\nline, = ax.plot([0, 1], [0, 0])\n"
    "ax.set_ylim(-1, 11)\nslider = widgets.IntSlider(value=0, min=0, max=10, description='height')\n"
    "def _update(change):\n    line.set_ydata([0, change['new']])\n    fig.canvas.draw_idle()\n"
    "slider.observe(_update, names='value')\nbox = widgets.VBox([slider, view])\n"
    "box.add_class('coursekit-harness')\ndisplay(box)",
    "from coursekit.checks import check_close\ncheck_close(np.zeros(3), np.ones(3), name='demo')",
    "print('never reached')",
]


@pytest.fixture(scope="module")
def harness_path(jupyter_lab):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = jupyter_lab.root / "_harness" / "harness.ipynb"
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return "_harness/harness.ipynb"


def test_harness_runs_renders_and_reports(lab, harness_path):
    page = lab.open(harness_path, "harness notebook")
    page.run_all(timeout=120)
    cells = page.cells()
    errors = page.error_outputs(cells)
    assert len(errors) == 1 and "cell 2" in errors[0] and "CheckFailed" in errors[0], errors
    assert cells[3]["execution_count"] is None, "Run All went on after an error"
    assert page.widget_problems() == []
    box = page.widget("coursekit-harness")
    box.wait_for()
    canvas = page.canvas(box)
    canvas.wait_for()
    before = page.canvas_data(canvas)
    # Drag the slider's handle to its right end: the kernel redraws the line.
    handle = box.locator(".noUi-handle").first
    track = box.locator(".noUi-target").first
    tb = track.bounding_box()
    handle.hover()
    page.page.mouse.down()
    page.page.mouse.move(tb["x"] + tb["width"] + 5, tb["y"] + tb["height"] / 2, steps=5)
    page.page.mouse.up()
    box.locator(".widget-readout", has_text="10").wait_for()
    after = page.wait_canvas_change(canvas, before, "dragging the slider")
    # Typing an exact value into the readout works too.
    page.set_slider(box, "height", 3)
    box.locator(".widget-readout", has_text="3").wait_for()
    page.wait_canvas_change(canvas, after, "typing 3 into the slider's readout")
    assert page.console_errors == [], page.console_errors
