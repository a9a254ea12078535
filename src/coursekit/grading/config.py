"""The course's settings: nbgrader's configuration and the grading pipeline's limits."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import tomllib
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from ..notebooks import course_root

__all__ = ["Limits", "Settings", "load_settings", "nbgrader_config", "normalize_db_url"]


@dataclass(frozen=True)
class Limits:
    """Resource limits for one notebook in the sandbox (autograder/grading.toml, [limits])."""

    cell_timeout_s: float = 60.0
    notebook_timeout_s: float = 300.0
    memory_mb: int = 2048
    max_processes: int = 64
    output_kb: int = 256
    file_mb: int = 64
    cpu_threads: int = 1


@dataclass(frozen=True)
class Settings:
    root: Path
    limits: Limits = field(default_factory=Limits)
    per_assignment: dict[str, dict] = field(default_factory=dict)
    zip_pattern: str = r"^(?:.*/)?(?P<student>[^/]+?)_(?P<assignment>\d\d_[a-z0-9_]+)\.ipynb$"

    def limits_for(self, assignment: str) -> Limits:
        extra = self.per_assignment.get(assignment, {})
        known = {k: v for k, v in extra.items() if k in Limits.__dataclass_fields__}
        return replace(self.limits, **known)


def load_settings(root: Path | None = None) -> Settings:
    root = Path(root) if root else course_root()
    path = root / "autograder" / "grading.toml"
    data: dict = {}
    if path.is_file():
        with open(path, "rb") as f:
            data = tomllib.load(f)
    limits = data.get("limits", {})
    unknown = set(limits) - set(Limits.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{path}: unknown [limits] settings {sorted(unknown)}")
    settings = Settings(root=root, limits=Limits(**limits), per_assignment=data.get("assignments", {}))
    pattern = data.get("collect", {}).get("zip_pattern")
    return replace(settings, zip_pattern=pattern) if pattern else settings


def normalize_db_url(url: str) -> str:
    """`postgresql://…` with whichever PostgreSQL driver is installed (SQLAlchemy 2.1 assumes
    psycopg 3; coursekit's test extra installs psycopg2)."""
    if url.startswith("postgresql://"):
        import importlib.util

        if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
            return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def nbgrader_config(root: Path | None = None, db_url: str | None = None) -> Config:
    """nbgrader's Config from autograder/nbgrader_config.py, rooted at `root`."""
    root = Path(root) if root else course_root()
    # nbgrader runs the `alembic` command when it creates a gradebook: make sure the
    # environment's own bin folder is on PATH even when the venv is not activated.
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    old = os.environ.get("COURSEKIT_COURSE_ROOT")
    os.environ["COURSEKIT_COURSE_ROOT"] = str(root)
    try:
        loader = PyFileConfigLoader("nbgrader_config.py", path=str(root / "autograder"))
        cfg = loader.load_config()
    finally:
        if old is None:
            os.environ.pop("COURSEKIT_COURSE_ROOT", None)
        else:
            os.environ["COURSEKIT_COURSE_ROOT"] = old
    cfg.CourseDirectory.root = str(root)
    if db_url:
        cfg.CourseDirectory.db_url = db_url
    cfg.CourseDirectory.db_url = normalize_db_url(str(cfg.CourseDirectory.db_url))
    return cfg
