"""Every notebook that exists, opened in JupyterLab the way a student meets it.

* solution notebook: Run All completes, no error output, no browser console error, every widget
  output renders as a widget (not its text fallback), the notebook's key widget is there;
* student notebook: runs up to its first exercise without error; the unanswered exercise's
  visible check fails with a short, friendly message rather than a wall of traceback.
"""

from __future__ import annotations

import re

import pytest

# The key widget of each notebook (its CSS class); screenshots of these go to artifacts/.
KEY_WIDGETS = {
    "01_loss_surfaces": ["coursekit-explorer"],
    "02_vanishing_gradients": ["coursekit-gradflow"],
    "03_optimizer_races": ["coursekit-race"],
    "04_convolution_by_hand": ["coursekit-stepper"],
    "05_lenet_mnist": ["coursekit-device"],
}

# A failing visible check may show at most this many lines of error output in the notebook.
MAX_ERROR_LINES = 30
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.over("solutions")
def test_solution_run_all(solution_page, assignment):
    run = solution_page(assignment)
    page = run.page
    cells = page.cells()
    errors = page.error_outputs(cells)
    assert not errors, "Run All produced error output:\n" + "\n".join(errors)
    skipped = [
        page.cell_label(c) for c in cells if c["type"] == "code" and c["execution_count"] is None
    ]
    assert not skipped, "cells that did not run:\n" + "\n".join(skipped)
    # Widgets render asynchronously: wait until every widget output has a widget view.
    try:
        page.page.wait_for_function(
            "(path) => { const p = window.__ck.panel(path); let want = 0, got = 0;"
            "p.content.widgets.forEach(c => { if (c.model.type !== 'code') return;"
            " want += c.model.outputs.toJSON().filter(o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length;"
            " c.node.querySelectorAll('.jp-OutputArea-output').forEach(n => {"
            "   if (n.querySelector('.jupyter-widgets, .widget-container, .jupyter-matplotlib')) got++; }); });"
            "return got >= want; }",
            arg=page.path,
            timeout=30_000,
            polling=200,
        )
    except Exception:
        pass  # widget_problems() below says which cell
    problems = page.widget_problems()
    assert not problems, f"{page.label}: widgets not rendered as widgets:\n" + "\n".join(problems)
    for css in KEY_WIDGETS.get(assignment, []):
        widget = page.widget(css)
        assert widget.count() == 1 or page.page.locator(f".{css}").count() >= 1, (
            f"{page.label}: no rendered widget with CSS class {css}"
        )
        widget.wait_for(state="visible", timeout=10_000)
        page.wait_canvases_drawn(widget, f"widget {css}")
        page.screenshot(f"{assignment}/{css}", widget)
    assert not page.console_errors, f"{page.label}: browser console errors:\n" + "\n".join(
        page.console_errors
    )
    print(f"{page.label}: Run All {run.seconds:.1f}s, {page.widget_count()} widget views")


def _first_exercise(cells: list[dict]) -> tuple[dict, dict]:
    answer = next((c for c in cells if c["type"] == "code" and c["solution"]), None)
    assert answer is not None, "no answer cell (nbgrader solution: true)"
    test = next(
        (
            c
            for c in cells[answer["index"] + 1 :]
            if c["type"] == "code" and c["grade"] and not c["solution"]
        ),
        None,
    )
    assert test is not None, (
        f"no test cell after answer cell {answer['index']} ({answer['grade_id']})"
    )
    return answer, test


@pytest.mark.over("notebooks")
def test_student_first_exercise(lab, assignment):
    page = lab.open_student(assignment)
    cells = page.cells()
    answer, test = _first_exercise(cells)
    code = [c["index"] for c in cells[: test["index"] + 1] if c["type"] == "code"]
    page.run_cells(code, timeout=180)
    cells = page.cells()
    before = page.error_outputs(cells[: test["index"]])
    assert not before, "error before the first exercise's check:\n" + "\n".join(before)
    test = cells[test["index"]]
    where = page.cell_label(test)
    errors = [o for o in test["outputs"] if o["output_type"] == "error"]
    stderr = [
        o for o in test["outputs"] if o["output_type"] == "stream" and o.get("name") == "stderr"
    ]
    assert errors or stderr, f"{where}: the unanswered exercise's visible check did not fail"
    # What the student sees in the output area of the test cell.
    shown = ANSI.sub("", page.output_locator(test["index"]).inner_text())
    lines = [ln for ln in shown.splitlines() if ln.strip()]
    page.screenshot(f"{assignment}/student_first_check", page.output_locator(test["index"]))
    last = lines[-1].strip() if lines else ""
    assert len(lines) <= MAX_ERROR_LINES and not re.fullmatch(
        r"[A-Za-z_.]+(Error|Exception)?:?", last
    ), (
        f"{where}: the failing check shows a traceback wall ({len(lines)} lines) ending in "
        f"{last!r} instead of the check's message in plain words; first lines:\n"
        + "\n".join(lines[:8])
    )
    assert not page.console_errors, f"{page.label}: browser console errors:\n" + "\n".join(
        page.console_errors
    )
