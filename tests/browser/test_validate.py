"""nbgrader's JupyterLab extension: the Validate button on a student notebook runs nbgrader
validate in the server and shows its verdict in a dialog."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Validate executes the whole notebook (headless, grading mode) in the server: one notebook is
# enough to prove the button works; the cheapest one that has landed is used.
PREFERRED = [
    "04_convolution_by_hand",
    "01_loss_surfaces",
    "02_vanishing_gradients",
    "03_optimizer_races",
    "05_lenet_mnist",
]
VALIDATED = next((a for a in PREFERRED if (REPO / "notebooks" / a / f"{a}.ipynb").is_file()), None)


@pytest.mark.skipif(VALIDATED is None, reason="no student notebook in notebooks/ yet")
@pytest.mark.notebook(VALIDATED or "")
def test_validate_button_shows_result(lab):
    page = lab.open_student(VALIDATED)
    where = f"{page.label}, nbgrader Validate button"
    button = page.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").first
    assert button.count() == 1, f"{where}: no Validate button in the notebook toolbar"
    button.locator("jp-button, button").first.click()
    # The button reads "Saving...", then "Validating..." while nbgrader runs, then a dialog.
    dialog = page.page.locator(".jp-Dialog")
    try:
        dialog.wait_for(state="visible", timeout=240_000)
    except Exception as exc:
        label = button.inner_text()
        raise AssertionError(f"{where}: no result dialog (button reads {label!r})") from exc
    title = dialog.locator(".jp-Dialog-header").inner_text()
    body = dialog.locator(".jp-Dialog-body").inner_text()
    page.screenshot(f"{VALIDATED}/nbgrader_validate", dialog.locator(".jp-Dialog-content"))
    assert "Cannot" not in body and "failed" not in title.lower(), (
        f"{where}: validation could not run: {title}: {body[:500]}"
    )
    message = dialog.locator("#validation-message")
    assert message.count() == 1, (
        f"{where}: the dialog shows no validation result: {title}: {body[:300]}"
    )
    classes = message.get_attribute("class") or ""
    # A blank student notebook: its unanswered exercises fail, so validation lists failing cells.
    assert "validation-failed" in classes or re.search(r"failed", body, re.I), (
        f"{where}: a blank notebook should fail validation; dialog says: {title}: {body[:300]}"
    )
    dialog.locator("button", has_text=re.compile("OK|Close", re.I)).first.click()
    dialog.wait_for(state="hidden")
    assert button.inner_text().strip() == "Validate", f"{where}: the button did not come back"
    assert not page.console_errors, f"{where}: browser console errors:\n" + "\n".join(
        page.console_errors
    )
