"""The course's widgets, used as a person uses them, each interaction asserting a visible change
(read from the DOM or from the canvas pixels). Each test runs on its solution notebook after
Run All (shared with test_notebooks.py); screenshots go to artifacts/browser/<notebook>/."""

from __future__ import annotations

import re

import pytest

EXPLORER = "01_loss_surfaces"
RACE = "03_optimizer_races"
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
    page.wait_canvas_change(canvas, img, "position slider 0 → 4")
    page.assert_canvas_in_sync(canvas, "coursekit-stepper after position 0 → 4")
    img = page.canvas_data(canvas)
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
    page.assert_canvas_in_sync(canvas, "coursekit-stepper after stride 1 → 2")
    img = page.canvas_data(canvas)
    _, out2 = page.red_boxes(canvas)
    assert out2["w"] > 1.3 * out1["w"], (
        f"{where}: stride 2 should draw a 2×2 output grid ({out1} → {out2})"
    )

    # padding 1, stride 1: a 5×5 output (25 positions), each cell smaller
    page.set_slider(stepper, "stride", 1)
    img = page.wait_canvas_change(canvas, img, "stride 2 → 1")
    page.assert_canvas_in_sync(canvas, "coursekit-stepper after stride 2 → 1")
    img = page.canvas_data(canvas)
    page.set_slider(stepper, "padding", 1)
    page.page.wait_for_function(
        "h => parseFloat(h.getAttribute('aria-valuemax')) === 24",
        arg=page.control(stepper, "slider", "position")
        .locator(".noUi-handle")
        .first.element_handle(),
        timeout=30_000,
    )
    page.wait_canvas_change(canvas, img, "padding 0 → 1")
    page.assert_canvas_in_sync(canvas, "coursekit-stepper after padding 0 → 1")
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
    stepper.locator(".widget-play button:visible").nth(1).click()  # stop
    assert not page.console_errors, f"{where}: browser console errors:\n" + "\n".join(
        page.console_errors
    )


@pytest.mark.notebook(EXPLORER)
def test_explorer_lr_past_the_bound_diverges(notebook_run):
    page = notebook_run.page
    explorer = page.widget("coursekit-explorer")
    explorer.wait_for(state="visible")
    explorer.scroll_into_view_if_needed()
    where = f"{page.label}, widget coursekit-explorer"
    status = explorer.locator(".coursekit-explorer-status")
    canvas = page.canvas(explorer)
    page.select(explorer, "surface", "quadratic bowl (κ slider)")
    page.wait_idle(30)
    text = status.inner_text()
    m = re.search(r"2/λ\s*max\s*=\s*([0-9]+(?:\.[0-9]+)?(?:e[-+]?\d+)?)", text)
    assert m, f"{where}: the status line does not state 2/λmax: {text!r}"
    bound = float(m.group(1))

    # just below the bound: stable
    page.set_slider(explorer, "lr", f"{0.9 * bound:.3g}")
    page.wait_idle(30)
    status.filter(has_text="stable").wait_for(timeout=30_000)
    text = status.inner_text()
    assert "DIVERGES" not in text, f"{where}: lr = 0.9·2/λmax: {text!r}"
    img = page.canvas_data(canvas)
    page.screenshot(f"{EXPLORER}/explorer_stable", explorer)

    # past the bound: the path diverges and the status line says so
    page.set_slider(explorer, "lr", f"{1.1 * bound:.3g}")
    status.filter(has_text="DIVERGES").wait_for(timeout=30_000)
    text = status.inner_text()
    assert re.search(r"lr = [0-9.]+ > 2/λ", text), (
        f"{where}: the status should say lr > 2/λmax: {text!r}"
    )
    page.wait_canvas_change(canvas, img, "lr past 2/λmax")
    page.assert_canvas_in_sync(canvas, "coursekit-explorer after lr past 2/λmax")
    page.screenshot(f"{EXPLORER}/explorer_diverges", explorer)
    assert not page.console_errors, f"{where}: browser console errors:\n" + "\n".join(
        page.console_errors
    )


STEP_AT_LEAST = (
    "([el, n]) => { const m = el.innerText.match(/step (\\d+)\\//); return !!m && +m[1] >= n; }"
)


def _step_of(board: str) -> int:
    m = re.search(r"step (\d+)/", board)
    assert m, f"the leaderboard shows no step counter: {board!r}"
    return int(m.group(1))


@pytest.mark.notebook(RACE)
def test_race_play_lr_click_leaderboard(notebook_run):
    page = notebook_run.page
    race = page.widget("coursekit-race")
    race.wait_for(state="visible")
    race.scroll_into_view_if_needed()
    where = f"{page.label}, widget coursekit-race"
    canvas = page.canvas(race)
    board = race.locator(".coursekit-race-leaderboard")
    play = race.locator(".coursekit-race-play button")

    def wait_step(n: int, timeout: float = 60) -> None:
        page.page.wait_for_function(
            STEP_AT_LEAST, arg=[board.element_handle(), n], timeout=timeout * 1000, polling=50
        )

    def reset() -> None:
        page.button(race, "reset").click()
        board.filter(has_text=re.compile(r"step 0/")).wait_for()
        page.wait_idle(30)

    reset()
    start_img = page.canvas_data(canvas)
    start_board = board.inner_text()

    # play: the paths grow, the leaderboard counts the steps
    play.first.click()
    wait_step(10)
    early = page.canvas_data(canvas)
    wait_step(40)
    later = page.canvas_data(canvas)
    play.nth(1).click()  # pause
    page.wait_idle(30)
    d_early = page.image_diff(start_img, early)["n"]
    d_later = page.image_diff(start_img, later)["n"]
    assert 0 < d_early < d_later, (
        f"{where}: play should draw growing paths (pixels changed: {d_early} at step ≥ 10, "
        f"{d_later} at step ≥ 40)"
    )
    assert board.inner_text() != start_board, (
        f"{where}: the leaderboard did not update while playing"
    )
    page.assert_canvas_in_sync(canvas, "coursekit-race after play / pause")
    page.screenshot(f"{RACE}/race_playing", race)

    # another learning rate: after the same number of steps, other paths
    def run_steps(n: int) -> str:
        reset()
        for k in range(1, n + 1):
            page.button(race, "step").click()
            wait_step(k * 1, timeout=30)
        page.wait_idle(30)
        return page.canvas_data(canvas)

    img_a = run_steps(5)
    lr_text = page.control(race, "slider", "learning rate").locator(".widget-readout").inner_text()
    new_lr = 0.02 if float(lr_text) > 0.05 else 0.2
    page.set_slider(race, "learning rate", new_lr)
    page.wait_idle(30)
    img_b = run_steps(5)
    changed = page.image_diff(img_a, img_b)
    assert changed["n"] > 50, (
        f"{where}: lr {lr_text} → {new_lr}: the paths did not change ({changed})"
    )

    # click the contour plot: the start point moves there, the race restarts
    reset()
    before = page.canvas_data(canvas)
    box = canvas.bounding_box()
    click = (0.18, 0.3)  # fractions of the figure: inside the contour axes (left panel)
    page.page.mouse.click(box["x"] + click[0] * box["width"], box["y"] + click[1] * box["height"])
    page.wait_canvas_change(canvas, before, "clicking the contour plot")
    page.wait_idle(30)
    moved = page.image_diff(before, page.canvas_data(canvas))
    cx, cy = click[0] * moved["width"], click[1] * moved["height"]
    assert (
        moved["x0"] - 12 <= cx <= moved["x1"] + 12 and moved["y0"] - 12 <= cy <= moved["y1"] + 12
    ), f"{where}: clicked at ({cx:.0f}, {cy:.0f}) px but the picture changed elsewhere ({moved})"
    assert _step_of(board.inner_text()) == 0, f"{where}: a new start point should restart the race"
    page.assert_canvas_in_sync(canvas, "coursekit-race after clicking the plot")

    # play to the end: the leaderboard ranks every ticked optimizer
    ticked = race.locator(".coursekit-race-optimizer input:checked").count()
    play.first.click()
    page.page.wait_for_function(
        "el => !/not yet/.test(el.innerText) || /step (\\d+)\\/\\1\\b/.test(el.innerText)",
        arg=board.element_handle(),
        timeout=120_000,
        polling=200,
    )
    play.nth(1).click()
    page.wait_idle(30)
    rows = [r for r in board.locator("tr").all_inner_texts() if r.strip()]
    assert len(rows) == ticked, f"{where}: {ticked} optimizers ticked, leaderboard rows: {rows}"
    page.screenshot(f"{RACE}/race_leaderboard", race)
    assert not page.console_errors, f"{where}: browser console errors:\n" + "\n".join(
        page.console_errors
    )


GRADFLOW = "02_vanishing_gradients"


def _ratio(status_text: str) -> float:
    m = re.search(r"gradient ratio\s*([0-9.]+e[-+]?\d+|nan|inf)", status_text)
    assert m, f"the status line shows no gradient ratio: {status_text!r}"
    return float(m.group(1))


@pytest.mark.notebook(GRADFLOW)
def test_gradflow_activation_and_init_change_the_bars(notebook_run):
    import math

    page = notebook_run.page
    flow = page.widget("coursekit-gradflow")
    flow.wait_for(state="visible")
    flow.scroll_into_view_if_needed()
    where = f"{page.label}, widget coursekit-gradflow"
    status = flow.locator(".coursekit-gradflow-status")
    canvas = page.canvas(flow)

    def choose(description: str, option: str) -> None:
        """Pick `option` in a menu; wait for the new status line and the new picture."""
        before, img = status.inner_text(), page.canvas_data(canvas)
        select = page.control(flow, "dropdown", description).locator("select")
        current = select.input_value()
        if select.select_option(label=option) == [current]:
            return  # already chosen: nothing changes
        page.wait_text_change(status, before, f"{description} → {option}", timeout=60)
        page.wait_canvas_change(canvas, img, f"{description} → {option}", timeout=60)
        page.wait_idle(60)

    # the notebook's starting point: sigmoid, uniform ±1/√fan_in — gradients vanish
    choose("activation", "sigmoid")
    choose("initialisation", "uniform ±1/√fan_in")
    collapsing = _ratio(status.inner_text())
    page.assert_canvas_in_sync(canvas, "coursekit-gradflow at sigmoid + uniform")
    page.screenshot(f"{GRADFLOW}/gradflow_sigmoid_uniform", flow)

    choose("activation", "relu")
    choose("initialisation", "He normal")
    flat = _ratio(status.inner_text())
    assert math.isfinite(flat) and abs(math.log10(flat)) < abs(math.log10(collapsing)), (
        f"{where}: ReLU + He should give a flatter gradient profile than sigmoid + uniform ±1/√fan_in "
        f"(first/last gradient ratio {collapsing:.2e} → {flat:.2e})"
    )
    page.assert_canvas_in_sync(canvas, "coursekit-gradflow after relu + He normal")
    page.screenshot(f"{GRADFLOW}/gradflow_relu_he", flow)
    assert not page.console_errors, f"{where}: browser console errors:\n" + "\n".join(
        page.console_errors
    )


LENET = "05_lenet_mnist"


@pytest.mark.notebook(LENET)
def test_lenet_device_menu_progress_bar_live_plot(notebook_run):
    from coursekit.devices import available_devices

    page = notebook_run.page
    where = f"{page.label}"
    menu = page.widget("coursekit-device")
    menu.wait_for(state="visible")
    options = [o.replace("\xa0", " ") for o in menu.locator("select option").all_inner_texts()]
    have = available_devices()
    listed = sorted(
        o.strip() for o in options if "not on this machine" not in o and not o.startswith("auto")
    )
    assert listed == sorted(have), (
        f"{where}, widget coursekit-device: the menu offers {options}; this machine has {have}"
    )
    auto = next((o for o in options if o.startswith("auto")), "")
    assert have[0] in auto, (
        f"{where}, widget coursekit-device: 'auto' should name {have[0]}: {auto!r}"
    )
    page.screenshot(f"{LENET}/device_menu", menu)

    # Training: one progress bar that moved while Run All ran, and a live plot that redrew.
    training = [i for i, rec in page.seen.items() if rec["bars"]]
    assert training, f"{where}: no progress bar appeared while the notebook ran"
    for i in training:
        rec = page.seen[i]
        cell = page.cells()[i]
        label = page.cell_label(cell)
        assert rec["bars"] == 1, f"{label}: {rec['bars']} progress bars at once (expected one)"
        assert len(rec["progress"]) >= 3, (
            f"{label}: the progress bar did not update while training ({rec['progress']})"
        )
        stderr = "".join(
            "".join(o.get("text", "")) for o in cell["outputs"] if o.get("name") == "stderr"
        )
        assert stderr.count("\n") + stderr.count("\r") <= 5, (
            f"{label}: the progress is also printed as text ({stderr.count(chr(10))} lines on stderr)"
        )
    # The training cell's own canvas changed in place while it ran (drawn empty, then redrawn
    # per epoch): at least two distinct pictures of the same canvas.
    live = [i for i in training if len(page.seen[i]["canvases"]) >= 2]
    assert live, (
        f"{where}: no live plot redrew while training ({ {i: len(r['canvases']) for i, r in page.seen.items()} })"
    )
    area = page.output_locator(live[0])
    page.screenshot(f"{LENET}/training", area)
    assert not page.console_errors, f"{where}: browser console errors:\n" + "\n".join(
        page.console_errors
    )
