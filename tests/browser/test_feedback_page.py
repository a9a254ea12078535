"""The feedback page a hostile student's notebook produces, opened in Chromium: no script runs and
no request leaves the page (the instructor opens these pages; so does the student)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gradekit import build_class, grade_class

from coursekit.notebooks import source_notebook, submission_from

A = "04_convolution_by_hand"
pytestmark = pytest.mark.browser

HOSTILE = (
    "import gc\nrunner = next(o for o in gc.get_objects() if type(o).__name__ == 'Runner')\n"
    "runner.outputs.append({'output_type': 'display_data', 'metadata': {}, 'data': {"
    "'text/html': '<script>window.__pwned = 1</script><img src=\"http://198.51.100.7/a.png\">',"
    "'application/javascript': 'window.__pwned = 2', 'text/plain': 'x'}})\n"
    "def conv_output_size(n, f, padding=0, stride=1):\n"
    "    raise ValueError('[a](javascript:window.__pwned=3) ![x](http://198.51.100.7/b.png) "
    '<img src=http://198.51.100.7/c.png onerror="window.__pwned=4">\')\n'
)


def test_a_hostile_students_feedback_runs_nothing_and_loads_nothing(browser, tmp_path):
    cls = build_class(
        tmp_path / "class",
        A,
        {"eve": submission_from(source_notebook(A), {"answer_conv_output_size": HOSTILE})},
    )
    grade_class(cls, tmp_path, workers=1)
    page_file = tmp_path / "out" / "feedback" / "eve" / f"{A}.html"
    context = browser.new_context()
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_file.as_uri(), wait_until="load")
    page.wait_for_load_state("networkidle")
    for link in page.locator("a").all()[:50]:  # clicking what the student wrote changes nothing
        href = link.get_attribute("href") or ""
        assert href == "" or href.startswith("#"), href
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate("() => document.scripts.length") == 0
    outside = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert not outside, outside
    assert "conv_output_size" in page.inner_text("body")  # and the feedback is there to read
    context.close()
