"""Grades out of nbgrader's gradebook for an LMS: Canvas, Moodle, or nbgrader's own CSV.

    coursekit export --format canvas autograder/out     # → autograder/out/canvas.csv
    coursekit export --format moodle autograder/out     # → autograder/out/moodle.csv
    coursekit export --format csv    autograder/out     # → autograder/out/nbgrader.csv

Scores come from the gradebook (``--db-url``, default the course's ``autograder/gradebook.db``),
so a score changed by hand in formgrader is exported as changed. Student ids are mapped through
the roster, ``autograder/roster.csv`` (or ``--roster``), one row per student:

    student_id    the id the grader knows (the submission folder's name)     required
    first_name, last_name, email                                             required
    section       Canvas's Section column                                    optional
    canvas_id     Canvas's own user id (the ID column of a Canvas export)    optional
    sis_user_id   Canvas's SIS User ID            (default: student_id)      optional
    sis_login_id  Canvas's SIS Login ID           (default: email)           optional
    moodle_id     Moodle's "ID number" user field (default: student_id)      optional

A student in the gradebook but not in the roster is *reported* (``Export.unknown``; the command
prints it) and still exported under the gradebook's id; a roster student without a submission
gets an empty cell (Canvas and Moodle leave an empty cell unchanged).

Canvas: the gradebook import CSV — the columns Student ("Last, First"), ID, SIS User ID,
SIS Login ID, Section, then one column per assignment, and a second row ``Points Possible``
with each assignment's maximum. A column named after an assignment Canvas does not have yet
becomes a new assignment on import. Moodle: a grade import CSV with First name, Last name,
ID number, Email address and one column per assignment (map "ID number" to the user field of
the same name, each assignment column to its grade item).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CoursekitError

__all__ = [
    "FORMATS",
    "ROSTER_COLUMNS",
    "ExportError",
    "RosterEntry",
    "Export",
    "default_roster",
    "read_roster",
    "read_gradebook",
    "export",
]

FORMATS = ("canvas", "moodle", "csv")
ROSTER_COLUMNS = ("student_id", "first_name", "last_name", "email")
ROSTER_OPTIONAL = ("section", "canvas_id", "sis_user_id", "sis_login_id", "moodle_id")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_COLUMNS = ("First name", "Last name", "ID number", "Email address")
FILES = {"canvas": "canvas.csv", "moodle": "moodle.csv", "csv": "nbgrader.csv"}


class ExportError(CoursekitError):
    """A roster or gradebook that can't be exported from (message for the instructor)."""


@dataclass
class RosterEntry:
    student_id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    section: str = ""
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    moodle_id: str = ""
    known: bool = True  # False: in the gradebook, not in the roster

    @property
    def sortable_name(self) -> str:
        if self.last_name and self.first_name:
            return f"{self.last_name}, {self.first_name}"
        return self.last_name or self.first_name or self.student_id


@dataclass
class Export:
    path: Path
    format: str
    students: int
    assignments: list[str]
    unknown: list[str] = field(default_factory=list)  # gradebook ids not in the roster
    roster: Path | None = None


def default_roster(root: str | Path | None = None) -> Path | None:
    """The course's autograder/roster.csv (whether or not it exists), None without a course."""
    from .notebooks import course_root

    try:
        base = Path(root) if root else course_root()
    except FileNotFoundError:
        return None
    return base / "autograder" / "roster.csv"


def read_roster(path: str | Path) -> dict[str, RosterEntry]:
    """{student_id: RosterEntry} from a roster CSV (columns: see the module's docstring)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ExportError(f"cannot read the roster {path}: {exc.strerror or exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ROSTER_COLUMNS if c not in header]
    if missing:
        raise ExportError(
            f"{path}: the roster needs the columns {', '.join(ROSTER_COLUMNS)} "
            f"(missing: {', '.join(missing)}; optional: {', '.join(ROSTER_OPTIONAL)})"
        )
    unknown = [h for h in header if h not in ROSTER_COLUMNS + ROSTER_OPTIONAL]
    if unknown:
        raise ExportError(
            f"{path}: unknown roster column {unknown[0]!r} (known: "
            f"{', '.join(ROSTER_COLUMNS + ROSTER_OPTIONAL)})"
        )
    out: dict[str, RosterEntry] = {}
    for n, row in enumerate(reader, start=2):
        values = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        sid = values.get("student_id", "")
        if not sid:
            if any(values.values()):
                raise ExportError(f"{path}, line {n}: no student_id")
            continue
        if sid in out:
            raise ExportError(f"{path}, line {n}: student_id {sid!r} appears twice")
        out[sid] = RosterEntry(
            **{k: v for k, v in values.items() if k in RosterEntry.__annotations__}
        )
    return out


def _db_url(db_url: str | None, root: str | Path | None) -> str:
    from .grading.config import nbgrader_config

    url = str(nbgrader_config(Path(root) if root else None, db_url).CourseDirectory.db_url)
    if url.startswith("sqlite:///"):
        db = Path(url[len("sqlite:///") :])
        if not db.is_file():
            raise ExportError(
                f"no gradebook at {db}: grade a class first (coursekit autograde), or pass --db-url"
            )
    return url


def read_gradebook(db_url: str) -> tuple[list[tuple[str, float]], dict[str, RosterEntry], dict]:
    """(assignments [(name, max_score)], students {id: RosterEntry from the gradebook},
    scores {(student_id, assignment): score}) from nbgrader's gradebook at `db_url`."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        assignments = [(a.name, float(a.max_score or 0)) for a in gb.assignments]
        students = {
            s.id: RosterEntry(
                s.id, s.first_name or "", s.last_name or "", s.email or "", known=False
            )
            for s in gb.students
        }
        scores = {}
        for name, _ in assignments:
            for d in gb.submission_dicts(name):
                scores[(d["student"], name)] = float(d["score"] or 0.0)
    return sorted(assignments), students, scores


def _rows(roster: dict[str, RosterEntry], gradebook: dict[str, RosterEntry]) -> list[RosterEntry]:
    rows = list(roster.values())
    rows += [gradebook[s] for s in sorted(gradebook) if s not in roster]
    return rows


def _score(scores: dict, student: str, assignment: str) -> str:
    value = scores.get((student, assignment))
    return "" if value is None else f"{value:g}"


def _canvas(rows, assignments, scores) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*CANVAS_COLUMNS, *(a for a, _ in assignments)])
    w.writerow(["    Points Possible", "", "", "", "", *(f"{m:g}" for _, m in assignments)])
    for r in rows:
        w.writerow(
            [
                r.sortable_name,
                r.canvas_id,
                r.sis_user_id or r.student_id,
                r.sis_login_id or r.email,
                r.section,
                *(_score(scores, r.student_id, a) for a, _ in assignments),
            ]
        )
    return buf.getvalue()


def _moodle(rows, assignments, scores) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*MOODLE_COLUMNS, *(a for a, _ in assignments)])
    for r in rows:
        w.writerow(
            [
                r.first_name,
                r.last_name,
                r.moodle_id or r.student_id,
                r.email,
                *(_score(scores, r.student_id, a) for a, _ in assignments),
            ]
        )
    return buf.getvalue()


def export(
    fmt: str,
    out: str | Path,
    *,
    db_url: str | None = None,
    roster: str | Path | None = None,
    root: str | Path | None = None,
    to: str | Path | None = None,
) -> Export:
    """Write the gradebook's scores in `fmt` ("canvas", "moodle" or "csv": nbgrader's own export)
    to `to` (default: OUT/canvas.csv, OUT/moodle.csv, OUT/nbgrader.csv)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
    from .grading.store import write_atomic

    url = _db_url(db_url, root)
    roster_path = Path(roster) if roster else default_roster(root)
    if roster and not Path(roster).is_file():
        raise ExportError(f"no roster at {roster}")
    people = read_roster(roster_path) if roster_path and roster_path.is_file() else {}
    assignments, in_gradebook, scores = read_gradebook(url)
    if not assignments:
        raise ExportError("the gradebook has no assignment yet: grade a class first")
    unknown = sorted(s for s in in_gradebook if s not in people) if people else []
    dest = Path(to) if to else Path(out) / FILES[fmt]
    dest.parent.mkdir(parents=True, exist_ok=True)
    rows = _rows(people, in_gradebook)
    if fmt == "csv":
        _nbgrader_csv(url, dest)
    else:
        text = (_canvas if fmt == "canvas" else _moodle)(rows, assignments, scores)
        write_atomic(dest, text)
    return Export(
        dest,
        fmt,
        len(rows),
        [a for a, _ in assignments],
        unknown,
        roster_path if people else None,
    )


def _nbgrader_csv(url: str, dest: Path) -> None:
    import logging

    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    plugin = CsvExportPlugin(to=str(dest))
    plugin.log.setLevel(logging.ERROR)
    with Gradebook(url) as gb:
        plugin.export(gb)
