"""The course's widgets, used as a person uses them, each interaction asserting a visible change
(read from the DOM or from the canvas pixels). Each test runs on its solution notebook after
Run All (shared with test_notebooks.py); screenshots go to artifacts/browser/<notebook>/."""

from __future__ import annotations

import pytest

STEPPER = "04_convolution_by_hand"


def _position_max(page, widget) -> int:
    handle = page.control(widget, "slider", "position").locator(".noUi-handle").first
    return int(float(handle.get_attribute("aria-valuemax")))


@pytest.mark.notebook(STEPPER)
def test_stepper_position_stride_padding(notebook_run):
    page = notebook_run.page
    stepper = page.widget("coursekit-stepper")
    stepper.wait_for(state="visible")
    stepper.scroll_into_view_if_needed()
    canvas = page.canvas(stepper)
    where = f"{page.label}, widget coursekit-stepper"
    page.set_slider(stepper, "stride", 1)
    page.set_slider(stepper, "padding", 0)
    page.set_slider(stepper, "position", 0)
    page.wait_idle(30)
    page.page.wait_for_function("c => c.width > 0", arg=canvas.element_handle(), timeout=10_000)
    assert _position_max(page, stepper) == 8, (
        f"{where}: 5×5 input, 3×3 kernel should give 9 positions"
    )
    img = page.canvas_data(canvas)
    start = page.red_boxes(canvas)
    assert len(start) == 2, f"{where}: expected a highlighted window and output cell, found {start}"
    win0, out0 = start
    page.screenshot(f"{STEPPER}/stepper_position0", stepper)

    # position 4 = output[1, 1]: the window and the output cell move one cell right and down
    page.set_slider(stepper, "position", 4)
    img = page.wait_canvas_change(canvas, img, "position slider 0 → 4")
    win1, out1 = page.red_boxes(canvas)
    assert win1["x0"] > win0["x0"] + win0["w"] / 6 and win1["y0"] > win0["y0"] + win0["h"] / 6, (
        f"{where}: the highlighted input window did not move right and down ({win0} → {win1})"
    )
    assert out1["x0"] > out0["x0"] + out0["w"] / 2 and out1["y0"] > out0["y0"] + out0["h"] / 2, (
        f"{where}: the highlighted output cell did not move to [1, 1] ({out0} → {out1})"
    )
    page.screenshot(f"{STEPPER}/stepper_position4", stepper)

    # stride 2: a 2×2 output (4 positions), so each output cell is drawn larger
    page.set_slider(stepper, "stride", 2)
    page.page.wait_for_function(
        "h => parseFloat(h.getAttribute('aria-valuemax')) === 3",
        arg=page.control(stepper, "slider", "position")
        .locator(".noUi-handle")
        .first.element_handle(),
        timeout=30_000,
    )
    img = page.wait_canvas_change(canvas, img, "stride 1 → 2")
    _, out2 = page.red_boxes(canvas)
    assert out2["w"] > 1.3 * out1["w"], (
        f"{where}: stride 2 should draw a 2×2 output grid ({out1} → {out2})"
    )

    # padding 1, stride 1: a 5×5 output (25 positions), each cell smaller
    page.set_slider(stepper, "stride", 1)
    page.set_slider(stepper, "padding", 1)
    page.page.wait_for_function(
        "h => parseFloat(h.getAttribute('aria-valuemax')) === 24",
        arg=page.control(stepper, "slider", "position")
        .locator(".noUi-handle")
        .first.element_handle(),
        timeout=30_000,
    )
    page.wait_idle(30)
    img = page.wait_canvas_change(canvas, img, "padding 0 → 1")
    _, out3 = page.red_boxes(canvas)
    assert out3["w"] < 0.8 * out1["w"], (
        f"{where}: padding 1 should draw a 5×5 output grid ({out1} → {out3})"
    )
    page.screenshot(f"{STEPPER}/stepper_padding1", stepper)

    # play: the position advances by itself
    page.set_slider(stepper, "padding", 0)
    page.set_slider(stepper, "position", 0)
    page.wait_idle(30)
    readout = page.control(stepper, "slider", "position").locator(".widget-readout")
    stepper.locator(".widget-play button").first.click()
    page.wait_text_change(readout, "0", "pressing play")
    stepper.locator(".widget-play button").nth(2).click()  # stop
    assert not page.console_errors, f"{where}: browser console errors:\n" + "\n".join(
        page.console_errors
    )
