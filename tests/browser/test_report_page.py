"""The class report (coursekit report) in Chromium: it opens from disk (file://, no server), shows
every figure, logs no console error, and nothing a student wrote runs as script.

The demo class is graded once (workers=2) and its report is screenshotted for the README:
docs/img/report.png (and the full page in artifacts/browser/report/).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from coursekit.grading.results import CellRecord, ClassResult, ExerciseResult, SubmissionResult
from coursekit.report import write_report

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser" / "report"
README_IMAGE = REPO / "docs" / "img" / "report.png"


def _open(browser: Any, page_path: Path) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 1500})
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(page_path.as_uri(), wait_until="load")
    return context, page, problems


def _images_shown(page: Any) -> list[dict]:
    return page.evaluate(
        "() => [...document.images].map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0,"
        " src: i.src.slice(0, 22)}))"
    )


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory) -> Path:
    from gradekit import grade_class

    work = tmp_path_factory.mktemp("report_demo")
    result = grade_class(REPO / "autograder" / "demo_class", work, workers=2)
    return result.out / "report.html"


def test_demo_class_report_opens_shows_its_figures_and_logs_no_error(browser, demo_report):
    context, page, problems = _open(browser, demo_report)
    try:
        images = _images_shown(page)
        assert len(images) >= 3 and all(i["ok"] for i in images), images
        assert all(
            i["src"] == "data:image/png;base64," for i in images
        )  # embedded, nothing fetched
        assert page.evaluate("() => document.scripts.length") == 0
        text = page.inner_text("body")
        for heading in (
            "04_convolution_by_hand",
            "The class's mistakes",
            "Students who need a look",
        ):
            assert heading in text
        assert "this is avg pooling, not max pooling" in text
        assert page.locator("tr[data-student='crasher']").inner_text().count("kernel died") == 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report_full.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"))
        assert problems == [], problems
    finally:
        context.close()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from readme_images import small_png

    README_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    README_IMAGE.write_bytes(small_png(ARTIFACTS / "report.png"))


def test_student_text_cannot_run_script_in_the_report(browser, tmp_path):
    """Messages, flags and code are shown as text: no script runs, no element is injected."""
    evil = (
        '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
        "<b id=injected>bold</b>"
    )
    subs = []
    for sid in ("mallory", "trudy"):
        ex = [
            ExerciseResult(
                sid, "04_convolution_by_hand", "test_pool2d", 0.0, 2.0, "failed", f"pool2d: {evil}"
            )
        ]
        cells = [
            CellRecord(
                "code",
                f"def pool2d(x):\n    return '{evil}'\n" * 6,
                [],
                {"grade_id": "answer_pool2d", "solution": True},
            )
        ]
        subs.append(
            SubmissionResult(
                sid,
                "04_convolution_by_hand",
                ex,
                flags=[f"edited {evil}"],
                cells=cells,
                seconds=1.0,
            )
        )
    path = write_report(ClassResult(tmp_path, subs), root=REPO)
    assert "mallory" in path.read_text(encoding="utf-8")
    context, page, problems = _open(browser, path)
    try:
        assert page.evaluate("() => window.__pwned === undefined")
        assert (
            page.locator("#injected").count() == 0
            and page.evaluate("() => document.scripts.length") == 0
        )
        assert "<script>window.__pwned = 1</script>" in page.inner_text("body")  # shown, as text
        assert all(i["ok"] for i in _images_shown(page))
        assert problems == [], problems
    finally:
        context.close()
