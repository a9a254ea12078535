"""Feedback: the graded notebook a student gets back, as HTML made by nbgrader.

The autograded notebook is rebuilt from what ran: the student's cells with their outputs, and
each test cell with its *released* (visible) text only, followed by the verdict. Hidden tests
never enter it — not as cells, not in tracebacks — and nbgrader's generate_feedback renders it
with each exercise's score.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from ..notebooks import split_hidden
from .assignment import Assignment
from .results import ICONS, SubmissionResult

if TYPE_CHECKING:
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

__all__ = ["autograded_notebook", "render_feedback"]


def autograded_notebook(result: SubmissionResult, assignment: Assignment) -> nbformat.NotebookNode:
    """The notebook nbgrader renders as feedback: a summary table, then every cell as it ran."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        k: v
        for k, v in assignment.release.get("metadata", {}).items()
        if k in ("kernelspec", "language_info")
    }
    lines = [
        f"# Feedback: {result.assignment} — {result.student_id}",
        "",
        f"**Score: {result.score:g} / {result.max_score:g}**",
        "",
        "| exercise | score | result | what happened |",
        "|---|---|---|---|",
    ]
    for e in result.exercises:
        msg = html.escape(e.message.splitlines()[0] if e.message else "").replace("|", "\\|")[:300]
        lines.append(
            f"| `{e.grade_id}` | {e.score:g} / {e.max_score:g} | {ICONS.get(e.status, '')} {e.status} | {msg} |"
        )
    flags = result.all_flags()
    if result.error:
        lines += [
            "",
            f"**This notebook could not be graded normally:** {html.escape(result.error)}",
        ]
    if flags:
        lines += ["", "**Integrity flags** (locked cells are always graded from the original):", ""]
        lines += [f"- {html.escape(f)}" for f in flags]
    nb.cells.append(nbformat.v4.new_markdown_cell("\n".join(lines)))
    for cell in result.cells:
        source = cell.source
        if cell.kind == "test":  # the released text; never a hidden test, whatever it holds
            source = "\n".join(split_hidden(source)[0].splitlines()).strip() + "\n"
        code = nbformat.v4.new_code_cell(source)
        code.outputs = [nbformat.from_dict(o) for o in cell.outputs]
        if cell.nbgrader:
            code.metadata["nbgrader"] = dict(cell.nbgrader)
        nb.cells.append(code)
    return nb


def render_feedback(
    result: SubmissionResult,
    assignment: Assignment,
    coursedir: CourseDirectory,
    api: NbGraderAPI,
    out_dir: Path,
) -> Path:
    """Write the autograded notebook where nbgrader expects it, run nbgrader's
    generate_feedback on it, and copy the HTML to out_dir/feedback/<student>/<assignment>.html."""
    nb = autograded_notebook(result, assignment)
    adir = Path(
        coursedir.format_path(coursedir.autograded_directory, result.student_id, result.assignment)
    )
    adir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, adir / f"{result.assignment}.ipynb")
    res = api.generate_feedback(result.assignment, result.student_id)
    src = (
        Path(
            coursedir.format_path(
                coursedir.feedback_directory, result.student_id, result.assignment
            )
        )
        / f"{result.assignment}.html"
    )
    if not res.get("success") or not src.is_file():
        raise RuntimeError(
            f"nbgrader could not render feedback: {(res.get('error') or res.get('log') or '')[-500:]}"
        )
    dest = out_dir / "feedback" / result.student_id / f"{result.assignment}.html"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest
