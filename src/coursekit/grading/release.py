"""Release: nbgrader's generate_assignment turns solutions/ into the student notebooks/."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import CoursekitError
from ..notebooks import ASSIGNMENTS, source_path
from .config import nbgrader_config

__all__ = ["ReleaseError", "names_changed", "release", "show_only_names", "show_only_problems"]


class ReleaseError(CoursekitError):
    """An assignment can't be released (unknown, not JSON, nbgrader refused it)."""


def names_changed(code: str) -> set[str]:
    """The names a cell's code binds (assignments, functions, classes, imports, globals) or
    changes in place (an attribute or item of it assigned or deleted)."""
    import ast

    tree = ast.parse(code)
    bound = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    bound |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    bound |= {
        (a.asname or a.name).split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    }
    for n in ast.walk(tree):  # `model.lr = ...`, `table[k] = ...`, `del d[k]`: the object's name
        if isinstance(n, (ast.Attribute, ast.Subscript)) and isinstance(
            n.ctx, (ast.Store, ast.Del)
        ):
            base = n.value
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(base, ast.Name):
                bound.add(base.id)
    bound |= {name for n in ast.walk(tree) if isinstance(n, ast.Global) for name in n.names}
    return bound


def _code(c: dict) -> str:
    from .assignment import cell_text

    lines = cell_text(c.get("source")).splitlines()
    return "\n".join(ln for ln in lines if not ln.lstrip().startswith(("%", "!")))


def _show_only(c: dict) -> bool:
    return "show-only" in c.get("metadata", {}).get("tags", [])


def show_only_names(nb: dict) -> set[str]:
    """Every name the notebook's show-only code cells bind or change (names_changed)."""
    out: set[str] = set()
    for c in nb.get("cells", []):
        if c.get("cell_type") == "code" and _show_only(c):
            try:
                out |= names_changed(_code(c))
            except SyntaxError:
                pass
    return out


def show_only_problems(nb: dict) -> list[str]:
    """Why the cells tagged `show-only` in a source notebook can't be skipped when grading: each
    name such a cell binds (assignments, functions, classes, imports, globals) or changes in place
    (an attribute or item assigned or deleted) that a later cell reads, unless that later cell is
    show-only too. Empty when the tags are safe."""
    from .verdict import free_names

    cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    problems = []
    for i, c in enumerate(cells):
        if not _show_only(c):
            continue
        bound = names_changed(_code(c))
        gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id", f"cell {i}")
        for later in cells[i + 1 :]:
            if _show_only(later):
                continue
            read = bound & set(free_names(_code(later)))
            if read:
                lgid = later.get("metadata", {}).get("nbgrader", {}).get("grade_id", "a later cell")
                problems.append(
                    f"{gid} is tagged show-only but {lgid} reads {', '.join(sorted(read))}"
                )
    return problems


def release(
    assignments: list[str] | None = None,
    *,
    root: Path | None = None,
    release_dir: Path | None = None,
    db_url: str | None = None,
) -> list[Path]:
    """Generate the student version of each assignment (all that exist when None).

    release_dir: write there instead of notebooks/ (the sync test regenerates into a temporary
    folder). db_url: the gradebook that records the assignment's cells (default: the course's).
    Returns the written notebooks.
    """
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from ..notebooks import course_root

    root = Path(root) if root else course_root()
    names = list(assignments or [a for a in ASSIGNMENTS if source_path(a, root).is_file()])
    for name in names:
        path = source_path(name, root)
        if not path.is_file():
            known = ", ".join(a for a in ASSIGNMENTS if source_path(a, root).is_file()) or "none"
            raise ReleaseError(f"unknown assignment {name!r} (no {path}); known: {known}")
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ReleaseError(f"{path} is not valid JSON: {exc}") from None
        problems = show_only_problems(nb)
        if problems:  # skipping it when grading would change what later cells see
            raise ReleaseError(f"{path}: {problems[0]}; remove the tag or the dependency")
    cfg = nbgrader_config(root, db_url)
    if release_dir is not None:
        cfg.CourseDirectory.release_directory = str(Path(release_dir).resolve())
    cfg.NbGraderAPI.log_level = logging.ERROR
    coursedir = CourseDirectory(config=cfg)
    api = NbGraderAPI(coursedir=coursedir, config=cfg)
    written = []
    for name in names:
        result = api.generate_assignment(name, force=True, create=True)
        if not result.get("success"):
            raise ReleaseError(
                f"nbgrader could not release {name}:\n{(result.get('log') or '').strip()[-2000:] or result.get('error')}"
            )
        out = Path(coursedir.format_path(coursedir.release_directory, ".", name)) / f"{name}.ipynb"
        written.append(out)
    return written
