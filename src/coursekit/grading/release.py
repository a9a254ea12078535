"""Release: nbgrader's generate_assignment turns solutions/ into the student notebooks/."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import CoursekitError
from ..notebooks import ASSIGNMENTS, source_path
from .config import nbgrader_config

__all__ = ["ReleaseError", "release"]


class ReleaseError(CoursekitError):
    """An assignment can't be released (unknown, not JSON, nbgrader refused it)."""


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
            json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ReleaseError(f"{path} is not valid JSON: {exc}") from None
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
