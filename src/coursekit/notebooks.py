"""Reading, executing and assembling the course's notebooks (nbformat + nbclient).

>>> nb = source_notebook("04_convolution_by_hand")        # solutions/…, with hidden tests
>>> sub = submission_from(nb, {"answer_conv2d_naive": "def conv2d_naive(x, w): ..."})
>>> execute(nb, timeout=120)                               # a real Jupyter kernel, headless
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path

import nbformat

__all__ = [
    "ASSIGNMENTS",
    "course_root",
    "source_path",
    "release_path",
    "source_notebook",
    "release_notebook",
    "nbgrader_meta",
    "cells_by_grade_id",
    "submission_from",
    "execute",
    "split_hidden",
]

ASSIGNMENTS = (
    "01_loss_surfaces",
    "02_vanishing_gradients",
    "03_optimizer_races",
    "04_convolution_by_hand",
    "05_lenet_mnist",
    "06_backprop_by_hand",
    "07_what_cnns_see",
)

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"


def course_root() -> Path:
    """The repository root: $COURSEKIT_COURSE_ROOT, else found from this file or the cwd."""
    env = os.environ.get("COURSEKIT_COURSE_ROOT")
    if env:
        return Path(env).resolve()
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / "autograder" / "nbgrader_config.py").is_file() and (
                folder / "solutions"
            ).is_dir():
                return folder
    raise FileNotFoundError(
        "cannot find the course folder (one with autograder/nbgrader_config.py and solutions/); "
        "run from the repository or set COURSEKIT_COURSE_ROOT"
    )


def source_path(assignment: str, root: Path | None = None) -> Path:
    root = root or course_root()
    return root / "solutions" / assignment / f"{assignment}.ipynb"


def release_path(assignment: str, root: Path | None = None) -> Path:
    root = root or course_root()
    return root / "notebooks" / assignment / f"{assignment}.ipynb"


def source_notebook(assignment: str, root: Path | None = None) -> nbformat.NotebookNode:
    return nbformat.read(source_path(assignment, root), as_version=4)


def release_notebook(assignment: str, root: Path | None = None) -> nbformat.NotebookNode:
    return nbformat.read(release_path(assignment, root), as_version=4)


def nbgrader_meta(cell: Mapping) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return dict(meta) if isinstance(meta, Mapping) else {}


def cells_by_grade_id(nb: Mapping) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for cell in nb.get("cells", []):
        gid = nbgrader_meta(cell).get("grade_id")
        if isinstance(gid, str) and gid not in out:
            out[gid] = cell
    return out


def split_hidden(source: str) -> tuple[str, str]:
    """A test cell's source as (visible part, hidden part). The hidden part keeps its line
    positions (earlier lines blanked) so that line numbers in errors stay meaningful."""
    lines = source.splitlines()
    visible: list[str] = []
    hidden: list[str] = []
    inside = False
    for line in lines:
        stripped = line.strip()
        if stripped == BEGIN_HIDDEN:
            inside = True
            visible.append("")
            hidden.append("")
            continue
        if stripped == END_HIDDEN:
            inside = False
            visible.append("")
            hidden.append("")
            continue
        (hidden if inside else visible).append(line)
        (visible if inside else hidden).append("")
    return "\n".join(visible), "\n".join(hidden)


def submission_from(
    nb: Mapping, answers: Mapping[str, str] | None = None, *, release: bool = True
) -> nbformat.NotebookNode:
    """A student's submission built from a notebook, with answer cells replaced by `answers`
    ({answer grade_id: source}). Start from release_notebook() for a blank copy (stubs) or from
    source_notebook() for the full solution; with release=True (the default) hidden tests are
    removed from test cells, as in what a student hands in."""
    from nbformat import NotebookNode

    sub = copy.deepcopy(nb)
    answers = dict(answers or {})
    for cell in sub.cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if gid in answers:
            cell.source = answers.pop(gid)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if release and meta.get("grade") and not meta.get("solution"):
            visible, _ = split_hidden(cell.source)
            cell.source = "\n".join(line for line in visible.splitlines()).rstrip() + "\n"
    if answers:
        raise KeyError(f"no answer cells with grade_id {sorted(answers)}")
    return NotebookNode(sub) if not isinstance(sub, NotebookNode) else sub


def execute(
    nb: nbformat.NotebookNode,
    *,
    timeout: int = 300,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    allow_errors: bool = False,
) -> nbformat.NotebookNode:
    """Run `nb` top to bottom in a real Jupyter kernel, headless (widgets draw static pictures).

    Returns the executed copy. Raises nbclient's CellExecutionError on the first error unless
    allow_errors=True.
    """
    from nbclient import NotebookClient

    nb = copy.deepcopy(nb)
    saved = {k: os.environ.get(k) for k in ("COURSEKIT_HEADLESS", "MPLBACKEND", *(env or {}))}
    os.environ["COURSEKIT_HEADLESS"] = "1"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    os.environ.update(env or {})
    try:
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            allow_errors=allow_errors,
            resources={"metadata": {"path": str(cwd or Path.cwd())}},
        )
        client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb
