"""The course's settings: nbgrader's configuration and the grading pipeline's limits."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from ..errors import CoursekitError
from ..notebooks import ASSIGNMENTS, course_root

__all__ = [
    "Limits",
    "Settings",
    "SettingsError",
    "load_settings",
    "nbgrader_config",
    "normalize_db_url",
]


class SettingsError(CoursekitError):
    """autograder/grading.toml can't be used (a syntax error, an unknown key, a wrong type)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for one notebook in the sandbox (autograder/grading.toml, [limits]).
    The defaults are the shipped grading.toml's (tests/test_settings.py keeps them equal)."""

    cell_timeout_s: float = 30.0
    notebook_timeout_s: float = 300.0
    memory_mb: int = 2048
    max_processes: int = 64
    output_kb: int = 256
    file_mb: int = 64
    cpu_threads: int = 1
    disk_mb: int = 256
    tmp_mb: int = 256
    max_files: int = 10000
    total_output_kb: int = 1024
    images_kb: int = 4096
    answer_mb: int = 64
    submission_mb: int = 20
    class_mb: int = 2048


DEFAULT_ZIP_PATTERN = r"^(?:.*/)?(?P<student>[^/]+?)_(?P<assignment>\d\d_[a-z0-9_]+)\.ipynb$"


@dataclass(frozen=True)
class Settings:
    root: Path
    limits: Limits = field(default_factory=Limits)
    per_assignment: dict[str, dict[str, float]] = field(default_factory=dict)  # name → overrides
    zip_pattern: str = DEFAULT_ZIP_PATTERN
    # [collect.deadlines]: assignment → deadline (aware datetime) for `coursekit collect`
    deadlines: dict[str, dt.datetime] = field(default_factory=dict)

    def limits_for(self, assignment: str) -> Limits:
        """The limits for one assignment: [limits], then its [assignments.<name>] table."""
        return replace(self.limits, **self.per_assignment.get(assignment, {}))


_LIMIT_TYPES = {
    f.name: (float, int) if f.type in ("float", float) else (int,) for f in fields(Limits)
}


def _limits(table: object, where: str, path: Path) -> dict[str, float]:
    """A table of limits, checked: known keys, positive numbers."""
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: [{where}] must be a table of limits")
    for key, value in table.items():
        if key not in _LIMIT_TYPES:
            raise SettingsError(
                f"{path}: unknown setting {key!r} in [{where}] (known: {', '.join(_LIMIT_TYPES)})"
            )
        if isinstance(value, bool) or not isinstance(value, _LIMIT_TYPES[key]) or value <= 0:
            raise SettingsError(f"{path}: [{where}] {key} must be a positive number, not {value!r}")
    return dict(table)


def load_settings(root: Path | None = None) -> Settings:
    """The course's grading settings from autograder/grading.toml (defaults when it is missing).
    Every key is checked: a typo is a SettingsError naming the key and the file."""
    root = Path(root) if root else course_root()
    path = root / "autograder" / "grading.toml"
    data: dict = {}
    if path.is_file():
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"limits", "collect", "assignments"})
    if unknown:
        raise SettingsError(
            f"{path}: unknown section [{unknown[0]}] (known: [limits], [collect], "
            "[assignments.<name>])"
        )
    limits = Limits(**_limits(data.get("limits", {}), "limits", path))
    collect = data.get("collect", {})
    known_collect = ("zip_pattern", "deadlines")
    if not isinstance(collect, dict) or set(collect) - set(known_collect):
        bad = (
            sorted(set(collect) - set(known_collect))
            if isinstance(collect, dict)
            else ["(not a table)"]
        )
        raise SettingsError(
            f"{path}: unknown setting {bad[0]!r} in [collect] (known: {', '.join(known_collect)})"
        )
    deadlines = _deadlines(collect.get("deadlines", {}), path)
    pattern = collect.get("zip_pattern", DEFAULT_ZIP_PATTERN)
    try:
        rx = re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise SettingsError(
            f"{path}: [collect] zip_pattern is not a regular expression ({exc})"
        ) from None
    if not {"student", "assignment"} <= set(rx.groupindex):
        raise SettingsError(
            f"{path}: [collect] zip_pattern needs the groups (?P<student>…) and (?P<assignment>…)"
        )
    per = data.get("assignments", {})
    if not isinstance(per, dict):
        raise SettingsError(f"{path}: [assignments] must hold one table per assignment")
    per_assignment = {}
    for name, table in per.items():
        if name not in ASSIGNMENTS:
            raise SettingsError(
                f"{path}: [assignments.{name}] is not an assignment of this course "
                f"(known: {', '.join(ASSIGNMENTS)})"
            )
        per_assignment[name] = _limits(table, f"assignments.{name}", path)
    return Settings(
        root=root,
        limits=limits,
        per_assignment=per_assignment,
        zip_pattern=pattern,
        deadlines=deadlines,
    )


def _deadlines(table: object, path: Path) -> dict[str, dt.datetime]:
    """[collect.deadlines]: one TOML date-time with its UTC offset per course assignment."""
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: [collect] deadlines must be a table: assignment = date-time")
    out = {}
    for name, value in table.items():
        if name not in ASSIGNMENTS:
            raise SettingsError(
                f"{path}: [collect.deadlines] {name} is not an assignment of this course "
                f"(known: {', '.join(ASSIGNMENTS)})"
            )
        if not isinstance(value, dt.datetime) or value.utcoffset() is None:
            raise SettingsError(
                f"{path}: [collect.deadlines] {name} must be a date-time with its UTC offset, "
                f"e.g. 2027-03-19T23:59:00+01:00 (not {value!r})"
            )
        out[name] = value
    return out


def normalize_db_url(url: str) -> str:
    """`postgresql://…` with whichever PostgreSQL driver is installed (SQLAlchemy 2.1 assumes
    psycopg 3; coursekit's test extra installs psycopg2)."""
    if url.startswith("postgresql://"):
        import importlib.util

        if (
            importlib.util.find_spec("psycopg") is None
            and importlib.util.find_spec("psycopg2") is not None
        ):
            return "postgresql+psycopg2://" + url[len("postgresql://") :]
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
