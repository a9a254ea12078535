"""The widgets of notebooks 06 and 07, used as a person uses them in JupyterLab: the backprop
stepper (06) and the attack explorer (07). Each interaction asserts a visible change."""

from __future__ import annotations

import re

import pytest

BACKPROP = "06_backprop_by_hand"
ATTACK = "07_what_cnns_see"


def _status(widget, css: str):
    return widget.locator(f".{css}").first


def _click_until(page, button, status, until: str, limit: int = 40) -> str:
    text = status.inner_text()
    for _ in range(limit):
        if until in text:
            return text
        button.click()
        text = page.wait_text_change(status, text, f"after clicking {until!r}")
    raise AssertionError(f"{page.label}: {until!r} never appeared; last status {text!r}")


@pytest.mark.notebook(BACKPROP)
def test_backprop_stepper_forward_backward_reset_and_the_red_node(notebook_run):
    page = notebook_run.page
    stepper = page.widget("coursekit-backprop")
    stepper.wait_for(state="visible")
    stepper.scroll_into_view_if_needed()
    where = f"{page.label}, widget coursekit-backprop"
    fwd = stepper.locator("button.coursekit-backprop-forward")
    bwd = stepper.locator("button.coursekit-backprop-backward")
    rst = stepper.locator("button.coursekit-backprop-reset")
    status = _status(stepper, "coursekit-backprop-status")
    canvas = page.canvas(stepper)
    rst.click()
    page.page.wait_for_function(
        "el => el.innerText.includes('press Forward')", arg=status.element_handle(), timeout=30_000
    )
    assert bwd.is_disabled(), f"{where}: Backward is enabled before any forward step"
    img = page.canvas_data(canvas)
    before = status.inner_text()  # read before the click: a quick kernel answers within it
    fwd.click()
    text = page.wait_text_change(status, before, "Forward")
    assert re.search(r"forward 1/\d+: x1 = 2", text), f"{where}: {text!r}"
    page.wait_canvas_change(canvas, img, "Forward lights the first node")
    text = _click_until(page, fwd, status, "now press Backward")
    assert fwd.is_disabled() and not bwd.is_disabled(), f"{where}: after the forward pass {text!r}"
    page.screenshot(f"{BACKPROP}/stepper_forward_done", stepper)
    bwd.click()
    text = page.wait_text_change(status, text, "Backward")
    assert "backward 1/" in text and "the root" in text, f"{where}: {text!r}"
    bwd.click()
    text = page.wait_text_change(status, text, "Backward again")
    assert "backward 2/" in text and "sends" in text, f"{where}: {text!r}"
    page.screenshot(f"{BACKPROP}/stepper_backward", stepper)
    rst.click()
    page.wait_text_change(status, text, "Reset")
    assert "press Forward" in status.inner_text()
    # the stepper driven by a wrong engine (cell_stepper_red) draws a red node; the right one never
    steppers = page.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .coursekit-backprop")
    assert steppers.count() >= 3, f"{where}: expected the three steppers of section 1"
    red = steppers.nth(2)
    red.scroll_into_view_if_needed()
    r_fwd, r_bwd = (
        red.locator("button.coursekit-backprop-forward"),
        red.locator("button.coursekit-backprop-backward"),
    )
    r_status = _status(red, "coursekit-backprop-status")
    _click_until(page, r_fwd, r_status, "now press Backward")
    _click_until(page, r_bwd, r_status, "backward 2/")
    import time

    deadline = time.monotonic() + 30  # the last frame may still be on its way: wait for red
    while not page.red_boxes(page.canvas(red)) and time.monotonic() < deadline:
        page.page.wait_for_function("() => true", polling=200)
    assert page.red_boxes(page.canvas(red)), f"{where}: the wrong engine shows no red node"
    page.screenshot(f"{BACKPROP}/stepper_red", red)
    assert not page.console_errors, "\n".join(page.console_errors)


@pytest.mark.notebook(ATTACK)
def test_attack_explorer_eps_target_and_drawing(notebook_run):
    page = notebook_run.page
    ex = page.widget("coursekit-attack")
    ex.wait_for(state="visible")
    ex.scroll_into_view_if_needed()
    where = f"{page.label}, widget coursekit-attack"
    status = _status(ex, "coursekit-attack-status")
    figure = ex.locator(".coursekit-attack-figure canvas").first
    page.set_slider(ex, "ε", "0")
    page.page.wait_for_function(
        "el => el.innerText.includes('ε = 0.000')", arg=status.element_handle(), timeout=30_000
    )
    text = status.inner_text()
    assert "largest pixel change 0.000" in text, f"{where}: {text!r}"
    img = page.canvas_data(figure)
    page.set_slider(ex, "ε", "0.3")
    text = page.wait_text_change(status, text, "ε 0 → 0.3")
    assert "ε = 0.300" in text, f"{where}: {text!r}"
    page.wait_canvas_change(figure, img, "ε 0 → 0.3")
    page.screenshot(f"{ATTACK}/attack_eps", ex)
    ex.locator(".coursekit-attack-target select").select_option(label="→ 3")
    text = page.wait_text_change(status, text, "target → 3")
    assert "pushed to 3" in text, f"{where}: {text!r}"
    # draw a stroke on the 28×28 canvas: the source becomes the drawing
    pad = ex.locator(".coursekit-attack-canvas canvas").first
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.3
    page.page.mouse.move(x0, y0)
    page.page.mouse.down()
    for k in range(1, 12):
        page.page.mouse.move(x0, y0 + k * box["height"] * 0.05)
    page.page.mouse.up()
    page.page.wait_for_function(
        "el => el.innerText.startsWith('your drawing')", arg=status.element_handle(), timeout=30_000
    )
    page.screenshot(f"{ATTACK}/attack_drawing", ex)
    assert not page.console_errors, "\n".join(page.console_errors)
