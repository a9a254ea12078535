"""Feedback: the graded notebook a student gets back, as HTML made by nbgrader.

The autograded notebook is rebuilt from what ran: the student's cells with their outputs, and
each test cell with its *released* (visible) text only, followed by the verdict. Hidden tests
never enter it — not as cells, not in tracebacks — and nbgrader's generate_feedback renders it
with each exercise's score.
"""

from __future__ import annotations

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
        msg = markdown_safe(e.message.splitlines()[0] if e.message else "", 300)
        lines.append(
            f"| `{e.grade_id}` | {e.score:g} / {e.max_score:g} | {ICONS.get(e.status, '')} {e.status} | {msg} |"
        )
    flags = result.all_flags()
    if result.error:
        lines += [
            "",
            f"**This notebook could not be graded normally:** {markdown_safe(result.error, 2000)}",
        ]
    if flags:
        lines += ["", "**Integrity flags** (locked cells are always graded from the original):", ""]
        lines += [f"- {markdown_safe(f, 1000)}" for f in flags]
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
    safe = sanitize_page(src.read_text(encoding="utf-8", errors="replace"))
    src.write_text(safe, encoding="utf-8")  # what release-feedback hands the student
    dest = out_dir / "feedback" / result.student_id / f"{result.assignment}.html"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(safe, encoding="utf-8")
    return dest


def markdown_safe(text: str, limit: int) -> str:
    """A student's text inside the feedback's markdown: every character markdown or HTML could
    read as syntax (links, images, tags, emphasis, table bars) written as an HTML entity."""
    text = text[:limit]
    return "".join(c if c.isalnum() or c == " " else f"&#{ord(c)};" for c in text)


# The page a student (or the instructor) opens: no script, nothing loaded from elsewhere. The
# body is cleaned by nh3 (Ammonia) with a list of harmless tags; the head keeps nbconvert's own
# stylesheets only; a Content-Security-Policy tells the browser the same.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"
_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s",
    "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "u", "ul",
}  # fmt: skip


def _attribute(tag: str, attr: str, value: str) -> str | None:
    if attr == "href":
        return value if value.startswith("#") else None
    if attr == "src":
        return value if tag == "img" and value.startswith("data:image/png;base64,") else None
    return value


def sanitize_page(page: str) -> str:
    """nbconvert's feedback page, with the body sanitized and the head reduced to its styles."""
    import re

    import nh3

    styles = re.findall(r"<style[^>]*>(.*?)</style>", page.split("<body", 1)[0], flags=re.S | re.I)
    m = re.search(r"<body[^>]*>(.*)</body>", page, flags=re.S | re.I)
    body = m.group(1) if m else page
    clean = nh3.clean(
        body,
        tags=_TAGS,
        attributes={
            "*": {"class", "id", "title"},
            "a": {"href"},
            "img": {"src", "alt", "width", "height"},
            "td": {"colspan", "rowspan"},
            "th": {"colspan", "rowspan"},
        },
        attribute_filter=_attribute,
        url_schemes={"data"},
        link_rel=None,
        strip_comments=True,
    )
    css = "\n".join(f"<style>{nh3.clean_text(s) if '</' in s else s}</style>" for s in styles)
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"<title>Feedback</title>\n{css}\n</head>\n"
        f'<body class="jp-Notebook" data-coursekit="sanitized">\n{clean}\n</body>\n</html>\n'
    )
