"""`coursekit check` on the pilot: a student sees each visible check's verdict, exit 0 only if all pass."""

import nbformat
import pytest

from coursekit.notebooks import release_notebook, source_notebook, submission_from
from coursekit.selfcheck import check_notebook

A = "04_convolution_by_hand"
pytestmark = pytest.mark.slow


def _run(tmp_path, nb):
    path = tmp_path / f"{A}.ipynb"
    nbformat.write(nb, path)
    lines = []
    ok = check_notebook(path, timeout=300, echo=lines.append)
    return ok, lines


def test_blank_notebook_fails_with_friendly_messages(tmp_path):
    ok, lines = _run(tmp_path, release_notebook(A))
    assert ok is False
    graded = [ln for ln in lines if ln.lstrip().startswith(("✔", "✘"))]
    assert graded and all(ln.lstrip().startswith("✘") for ln in graded)
    assert all("not written yet" in ln for ln in graded)
    assert "Traceback" not in "\n".join(lines)


def test_solution_passes_and_a_flipped_kernel_is_named(tmp_path):
    ok, lines = _run(tmp_path, submission_from(source_notebook(A)))
    n = sum(1 for c in source_notebook(A).cells if c.metadata.get("nbgrader", {}).get("grade"))
    assert ok is True and lines[-1].startswith(f"{n} of {n} visible checks pass")
    flipped = submission_from(
        source_notebook(A),
        {
            "answer_cross_correlate2d": "def cross_correlate2d(x, k):\n"
            "    x, k = np.asarray(x, float), np.asarray(k, float)[::-1, ::-1]\n"
            "    kh, kw = k.shape\n"
            "    return np.array([[np.sum(x[i:i+kh, j:j+kw] * k) for j in range(x.shape[1]-kw+1)]"
            " for i in range(x.shape[0]-kh+1)])\n"
        },
    )
    ok, lines = _run(tmp_path, flipped)
    assert ok is False
    line = next(ln for ln in lines if "test_cross_correlate2d" in ln)
    assert line.lstrip().startswith("✘") and "flipped" in line


def test_unwritten_exercise_shows_one_friendly_line_not_a_traceback_wall():
    from coursekit.notebooks import execute

    nb = execute(release_notebook(A), allow_errors=True, timeout=300)
    tests = [
        c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    ]
    errors = [o for c in tests for o in c.outputs if o.output_type == "error"]
    assert len(errors) == len(tests), "every unanswered exercise's check must end in an error"
    for err in errors:
        assert err.ename in ("NotImplementedError", "CheckFailed"), err.ename
        assert (
            len(err.traceback) == 1
            and err.traceback[0].startswith("✘ ")
            and "not written yet" in err.traceback[0]
        )
