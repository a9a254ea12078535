"""Integrity: what to run for a submission, rebuilt from the released notebook, and what was
tampered with.

The released notebook is the truth for every locked cell. The submission contributes only its
answer cells (matched by grade_id) and the cells the student added. So:

- a test or locked cell that was edited, deleted, duplicated, re-typed, or had its nbgrader
  metadata stripped or changed is run/graded from the original — and *flagged*;
- flags are compared with the released text, not with nbgrader's checksums (which differ for
  every cell with hidden tests, nbgrader issue #1961): a flag means the cell really changed;
- the student's own extra code cells are kept, in their place relative to the original cells.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..notebooks import nbgrader_meta
from .assignment import Assignment, TestSpec, cell_text

__all__ = ["Plan", "PlanCell", "NotebookUnreadable", "plan_submission", "read_notebook"]


class NotebookUnreadable(ValueError):
    """The file is not a notebook we can grade (message for the student)."""


@dataclass
class PlanCell:
    kind: str  # "code" (run in the sandbox) or "test" (evaluated by the grader)
    source: str  # what runs (student or original code; for tests, the released visible text)
    grade_id: str = ""
    points: float = 0.0
    origin: str = "original"  # "original" (from the release), "student" (answer or added cell)
    flags: list[str] = field(default_factory=list)
    test: TestSpec | None = None  # for a test: the full test the grader runs


@dataclass
class Plan:
    cells: list[PlanCell]
    flags: list[str]  # notebook-level tampering
    error: str = ""  # set when the notebook can't be graded at all (wrong notebook, empty...)

    @property
    def tests(self) -> list[PlanCell]:
        return [c for c in self.cells if c.kind == "test"]


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def read_notebook(raw: bytes) -> dict:
    """Parse a submitted file leniently; NotebookUnreadable with a student-readable reason."""
    if not raw.strip():
        raise NotebookUnreadable("the file is empty")
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise NotebookUnreadable("the file is not text (is it really a .ipynb notebook?)") from None
    except json.JSONDecodeError as exc:
        raise NotebookUnreadable(
            f"the file is not valid notebook JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookUnreadable("the file is JSON but not a notebook (no list of cells)")
    nb["cells"] = [c for c in nb["cells"] if isinstance(c, dict)]
    return nb


def plan_submission(submission: dict, assignment: Assignment) -> Plan:
    """Rebuild the notebook to grade from the assignment's release and the student's `submission`."""
    original = list(assignment.release.get("cells", []))
    orig_by_id: dict[str, dict] = {}
    for c in original:
        gid = nbgrader_meta(c).get("grade_id")
        if gid:
            orig_by_id[gid] = c

    sub_cells = submission.get("cells", [])
    if not sub_cells:
        return Plan([], [], error="the notebook is empty: it has no cells")

    flags: list[str] = []
    cell_flags: dict[str, list[str]] = {}
    seen: dict[str, dict] = {}  # grade_id → the submitted cell (first occurrence)
    extras: dict[str | None, list[str]] = {}  # anchor grade_id → student's added code cells
    anchor: str | None = None
    matched = 0  # cells that are this notebook's own exercises (answer or test cells)

    def flag(gid: str | None, text: str) -> None:
        if gid and gid in orig_by_id and nbgrader_meta(orig_by_id[gid]).get("grade"):
            cell_flags.setdefault(gid, []).append(text)
        else:
            flags.append(text)

    for cell in sub_cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id") if isinstance(meta.get("grade_id"), str) else None
        if gid in orig_by_id:
            orig = orig_by_id[gid]
            ometa = nbgrader_meta(orig)
            if ometa.get("solution") or ometa.get("grade"):
                matched += 1
            if gid in seen:
                flag(
                    gid,
                    f"cell {gid!r} appears more than once (duplicated); the first copy was used",
                )
                continue
            seen[gid] = cell
            anchor = gid
            if cell.get("cell_type") != orig.get("cell_type"):
                flag(
                    gid,
                    f"cell {gid!r} was changed from {orig.get('cell_type')} to {cell.get('cell_type')}; "
                    "the original was used",
                )
                continue
            if ometa.get("solution"):
                continue  # the student's answer: theirs to change
            changed_meta = any(
                meta.get(k) != ometa.get(k) for k in ("grade", "solution", "locked", "points")
            )
            if changed_meta:
                flag(
                    gid, f"the nbgrader metadata of cell {gid!r} was changed; the original was used"
                )
            if _norm(cell_text(cell.get("source"))) != _norm(cell_text(orig.get("source"))):
                what = "test cell" if ometa.get("grade") else "locked cell"
                if cell.get("cell_type") == "code" or ometa.get("grade"):
                    flag(gid, f"the {what} {gid!r} was edited; it was graded with the original")
        elif cell.get("cell_type") == "code":
            if gid is not None and gid not in orig_by_id:
                pass  # metadata of another notebook, or made up: treat as the student's own cell
            extras.setdefault(anchor, []).append(cell_text(cell.get("source")))

    if matched == 0 and orig_by_id:
        return Plan(
            [],
            [],
            error=f"this is not the {assignment.name} notebook: none of its cells match "
            f"(was another notebook submitted under this name?)",
        )

    # Cells of the original that the submission lost.
    extra_norm = {_norm(s) for group in extras.values() for s in group}
    for gid, orig in orig_by_id.items():
        if gid in seen:
            continue
        ometa = nbgrader_meta(orig)
        if ometa.get("solution"):
            continue  # a deleted answer cell is the student's business
        if orig.get("cell_type") != "code" and not ometa.get("grade"):
            continue
        what = "test cell" if ometa.get("grade") else "locked cell"
        if _norm(cell_text(orig.get("source"))) in extra_norm:
            flag(
                gid,
                f"the nbgrader metadata of the {what} {gid!r} was stripped; it was graded with the original",
            )
        else:
            flag(gid, f"the {what} {gid!r} was deleted; it was graded with the original")

    cells: list[PlanCell] = [PlanCell("code", s, origin="student") for s in extras.get(None, [])]
    for orig in original:
        ometa = nbgrader_meta(orig)
        gid = ometa.get("grade_id") or ""
        if orig.get("cell_type") == "code":
            if ometa.get("grade") and not ometa.get("solution"):
                spec = assignment.test(gid)
                cells.append(
                    PlanCell(
                        "test",
                        spec.released,
                        gid,
                        spec.points,
                        flags=cell_flags.get(gid, []),
                        test=spec,
                    )
                )
            elif ometa.get("solution"):
                sub = seen.get(gid)
                if sub is not None and sub.get("cell_type") == "code":
                    cells.append(
                        PlanCell("code", cell_text(sub.get("source")), gid, origin="student")
                    )
                elif sub is None:
                    pass  # answer deleted: the student's code (if any) is in their own cells
                else:
                    cells.append(PlanCell("code", cell_text(orig.get("source")), gid))
            elif not (
                assignment.skip_show_only
                and "show-only" in orig.get("metadata", {}).get("tags", [])
            ):
                cells.append(PlanCell("code", cell_text(orig.get("source")), gid))
            # (an instructor's cell tagged show-only — a picture, a widget demo — is skipped when
            # grading: nothing it defines is read later, which `coursekit release` checks)
        if gid:
            cells += [PlanCell("code", s, origin="student") for s in extras.get(gid, [])]
    return Plan(cells, flags)
