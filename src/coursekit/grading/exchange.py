"""nbgrader's exchange: a class on a JupyterHub, from release to feedback.

    coursekit release --exchange 04_convolution_by_hand   # notebooks/ → outbound (students Fetch)
    coursekit collect                                      # inbound → autograder/submitted/
    coursekit autograde autograder/submitted               # the sandboxed grader (unchanged)
    coursekit release-feedback                             # feedback → students Fetch Feedback

Each step is nbgrader's own exchange code (``nbgrader.exchange.default``: ReleaseAssignment,
Collect, ReleaseFeedback) on nbgrader's folder layout, so the students' *Assignments* tab and
formgrader see what they always see. What coursekit adds around it:

- **release**: skipped when the exchange already holds the same files (re-running changes
  nothing); the deadline of ``[collect.deadlines]`` becomes the gradebook's due date.
- **collect**: nbgrader keeps the latest submission per student (and replaces an older copy); a
  submission is *late* when its nbgrader timestamp is after the assignment's deadline (one line
  each, ``late.csv`` beside the collected folders in the format ``coursekit report --late``
  reads, and the timestamp in the gradebook, so formgrader shows it). Bad input is one line
  each and the rest of the class is collected: a student not in the roster, a submission
  folder without its notebook, an assignment that is not in the course, a folder whose Unix
  owner is another student.
- **release-feedback**: the feedback pages ``coursekit autograde`` wrote (``OUT/feedback``),
  each paired with the submission it grades (nbgrader's ``submission_secret.txt``), released
  only when it is the feedback of the collected submission; unchanged pages are left alone.

The exchange folder (``Exchange.root`` in autograder/nbgrader_config.py: ``$COURSEKIT_EXCHANGE``,
else ``.hub/exchange`` in the course) is made by :func:`prepare_exchange` with nbgrader's
documented permissions: the root world-writable and sticky, ``<course>/outbound`` readable,
``inbound`` writable but not listable (so no student sees another's submission), ``feedback``
reachable only by the hash of a submission's secret.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import os
import pwd
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CoursekitError
from ..notebooks import ASSIGNMENTS, course_root, release_path, source_path
from .config import load_settings, nbgrader_config

__all__ = [
    "ExchangeError",
    "Collected",
    "CollectReport",
    "FeedbackReport",
    "ReleaseReport",
    "exchange_root",
    "prepare_exchange",
    "release_to_exchange",
    "collect_from_exchange",
    "release_feedback",
    "utc",
]

# nbgrader's documented modes (exchange/default/release_assignment.py), plus the sticky bit on
# the root and on inbound: nobody can rename or delete what another user put there.
MODES = {
    "": 0o1777,  # the exchange root: everyone creates their course's folder... and keeps it
    "{course}": 0o755,
    "{course}/outbound": 0o755,
    "{course}/inbound": 0o3733,  # setgid + sticky, write-only for students: not listable
    "{course}/feedback": 0o711,  # reachable by a file's name (the secret's hash) only
}


class ExchangeError(CoursekitError):
    """The exchange can't be used (missing, wrong permissions, unknown assignment)."""


def utc(when: dt.datetime) -> dt.datetime:
    """A datetime as nbgrader keeps it: naive, in UTC."""
    if when.tzinfo is not None:
        when = (when - when.utcoffset()).replace(tzinfo=None)
    return when


def _course(root: Path | None) -> Path:
    return Path(root).resolve() if root else course_root()


def _config(root: Path, exchange: Path | None):
    cfg = nbgrader_config(root)
    if exchange is not None:
        cfg.Exchange.root = str(exchange)
    cfg.NbGraderAPI.log_level = logging.ERROR
    return cfg


def exchange_root(root: Path | None = None) -> Path:
    """The course's exchange folder (Exchange.root of autograder/nbgrader_config.py)."""
    return Path(str(nbgrader_config(_course(root)).Exchange.root))


def prepare_exchange(exchange: Path, course_id: str) -> Path:
    """Create the exchange and its course folders with nbgrader's permissions (and fix the modes
    of folders that exist); the folders belong to whoever runs this (the instructor). Returns
    the course's folder."""
    exchange = Path(exchange)
    for rel, mode in MODES.items():
        path = exchange / rel.format(course=course_id) if rel else exchange
        path.mkdir(parents=True, exist_ok=True)
        if stat.S_IMODE(path.stat().st_mode) != mode:
            os.chmod(path, mode)
    return exchange / course_id


def _course_assignments(root: Path) -> list[str]:
    return [a for a in ASSIGNMENTS if source_path(a, root).is_file()]


def _check_assignments(names: list[str] | None, root: Path, released: bool = True) -> list[str]:
    known = [
        a for a in _course_assignments(root) if not released or release_path(a, root).is_file()
    ]
    for name in names or []:
        if name not in known:
            raise ExchangeError(
                f"{name!r} is not an assignment of this course (known: {', '.join(known) or 'none'})"
            )
    return list(names) if names else known


def _tree(path: Path, ignore: list[str]) -> dict[str, bytes]:
    import fnmatch

    out = {}
    if not path.is_dir():
        return out
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path)
        if any(fnmatch.fnmatch(part, pat) for part in rel.parts for pat in ignore):
            continue
        if p.is_file():
            out[str(rel)] = p.read_bytes()
    return out


# --- release ----------------------------------------------------------------------------------


@dataclass
class ReleaseReport:
    released: list[str] = field(default_factory=list)  # new or changed in the exchange
    unchanged: list[str] = field(default_factory=list)
    exchange: Path | None = None


def release_to_exchange(
    assignments: list[str] | None = None,
    *,
    root: Path | None = None,
    exchange: Path | None = None,
) -> ReleaseReport:
    """nbgrader's release_assignment of each generated student notebook (notebooks/<name>/)
    into the exchange's outbound folder; an assignment whose files are already there is left
    as it is. The deadline of [collect.deadlines], if any, becomes the gradebook's due date."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    root = _course(root)
    names = _check_assignments(assignments, root)
    cfg = _config(root, exchange)
    coursedir = CourseDirectory(config=cfg)
    course = coursedir.course_id
    ex = Path(str(cfg.Exchange.root))
    prepare_exchange(ex, course)
    report = ReleaseReport(exchange=ex)
    deadlines = load_settings(root).deadlines
    for name in names:
        src = Path(coursedir.format_path(coursedir.release_directory, ".", name))
        dest = ex / course / "outbound" / name
        if dest.is_dir() and _tree(src, coursedir.ignore) == _tree(dest, coursedir.ignore):
            report.unchanged.append(name)
        else:
            cfg.ExchangeReleaseAssignment.force = True
            api = NbGraderAPI(coursedir=coursedir, config=cfg)
            result = api.release_assignment(name)
            if not result.get("success"):
                raise ExchangeError(f"nbgrader could not release {name}: {_last_line(result)}")
            report.released.append(name)
        if name in deadlines:
            _set_duedate(str(cfg.CourseDirectory.db_url), name, deadlines[name], root)
    return report


def _last_line(result: dict) -> str:
    text = (result.get("error") or result.get("log") or "").strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no reason given"


def _set_duedate(db_url: str, name: str, deadline: dt.datetime, root: Path) -> None:
    from nbgrader.api import Gradebook

    from .gradebook import ensure_assignment

    with tempfile.TemporaryDirectory(prefix="coursekit-release-") as scratch:
        ensure_assignment(name, db_url, root, Path(scratch))
    with Gradebook(db_url) as gb:
        gb.update_or_create_assignment(name, duedate=utc(deadline))


# --- collect ----------------------------------------------------------------------------------


@dataclass
class Collected:
    """One student's collected (latest) submission of one assignment."""

    student_id: str
    assignment: str
    timestamp: dt.datetime  # nbgrader's, naive UTC
    deadline: dt.datetime | None = None  # naive UTC
    path: Path | None = None  # the folder autograde reads

    @property
    def late(self) -> bool:
        return self.deadline is not None and self.timestamp > self.deadline

    @property
    def seconds_late(self) -> float:
        return max(0.0, (self.timestamp - self.deadline).total_seconds()) if self.late else 0.0


@dataclass
class CollectReport:
    dest: Path
    collected: list[Collected] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # one line each: what was not collected
    late_file: Path | None = None

    @property
    def late(self) -> list[Collected]:
        return [c for c in self.collected if c.late]


def _parse_inbound(name: str) -> tuple[str, str, dt.datetime] | None:
    """(student, assignment, timestamp) of an inbound folder `student+assignment+timestamp[+r]`."""
    from nbgrader.utils import parse_utc

    parts = name.rsplit("+", 3)  # as nbgrader's collect: a student id may hold a '+'
    if len(parts) < 3 or not parts[0] or not parts[1]:
        return None
    try:
        return parts[0], parts[1], parse_utc(parts[2])
    except (ValueError, OverflowError):
        return None


def _unix_owner(path: Path) -> tuple[int, str | None]:
    uid = path.stat().st_uid
    try:
        return uid, pwd.getpwuid(uid).pw_name
    except KeyError:
        return uid, None


def _owner_problem(student: str, path: Path) -> str | None:
    """Why a submission folder does not look like `student`'s own, or None. Checkable where the
    student is a Unix user here: `student` itself (coursekit hub) or The Littlest JupyterHub's
    `jupyter-<student>`; a folder root made is the instructor's."""
    accounts = []
    for name in (student, f"jupyter-{student}"):
        try:
            accounts.append(pwd.getpwnam(name).pw_uid)
        except KeyError:
            pass
    if not accounts:
        return None
    uid, owner = _unix_owner(path)
    if uid == 0 or uid in accounts:
        return None
    return f"it belongs to the Unix user {owner or uid}"


def collect_from_exchange(
    assignments: list[str] | None = None,
    *,
    root: Path | None = None,
    exchange: Path | None = None,
    dest: Path | None = None,
    roster: Path | None = None,
) -> CollectReport:
    """nbgrader's collect of every course assignment in the exchange's inbound (or of
    `assignments`) into `dest` (default: nbgrader's submitted folder, autograder/submitted/),
    laid out <student_id>/<assignment>/ as `coursekit autograde` reads it. Latest submission per
    student; late ones marked against [collect.deadlines]; students of `roster` (default:
    autograder/roster.csv when it exists) only. Bad input: a warning line each."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeFactory

    from ..export import default_roster, read_roster
    from .gradebook import ensure_assignment

    root = _course(root)
    known = _check_assignments(None, root)
    wanted = _check_assignments(assignments, root) if assignments else None
    cfg = _config(root, exchange)
    if dest is not None:
        cfg.CourseDirectory.submitted_directory = str(Path(dest).resolve())
    coursedir = CourseDirectory(config=cfg)
    course = coursedir.course_id
    ex = Path(str(cfg.Exchange.root))
    inbound = ex / course / "inbound"
    if not inbound.is_dir():
        raise ExchangeError(
            f"no inbound folder {inbound}: release an assignment first (coursekit release --exchange)"
        )
    out = Path(coursedir.format_path(coursedir.submitted_directory, ".", ".")).resolve()
    report = CollectReport(dest=out)
    roster_path = Path(roster) if roster else default_roster(root)
    people = read_roster(roster_path) if roster_path and roster_path.is_file() else None

    # What the inbound holds, and what of it is not this course's, or not a roster student's.
    by_assignment: dict[str, set[str]] = {}
    strangers: dict[str, set[str]] = {}
    for entry in sorted(inbound.iterdir()):
        parsed = _parse_inbound(entry.name)
        if parsed is None or not entry.is_dir():
            report.warnings.append(
                f"{entry}: not an nbgrader submission (student+assignment+timestamp): skipped"
            )
            continue
        student, assignment, _ = parsed
        by_assignment.setdefault(assignment, set()).add(student)
        if people is not None and student not in people:
            strangers.setdefault(student, set()).add(assignment)
    for assignment in sorted(set(by_assignment) - set(known)):
        n = len(by_assignment[assignment])
        report.warnings.append(
            f"inbound has {n} student(s)' submissions of {assignment!r}, which is not an "
            f"assignment of this course: not collected"
        )
    for student, names in sorted(strangers.items()):
        report.warnings.append(
            f"student {student!r} is not in the roster {roster_path}: their submission of "
            f"{', '.join(sorted(names))} was not collected"
        )
    todo = [a for a in (wanted or known) if a in by_assignment]
    for name in wanted or []:
        if name not in by_assignment:
            report.warnings.append(f"no submissions of {name} in {inbound} yet")

    deadlines = {k: utc(v) for k, v in load_settings(root).deadlines.items()}
    db_url = str(cfg.CourseDirectory.db_url)
    base = ExchangeFactory(config=cfg).collect  # the class (a plugin may replace it)
    chosen: list[tuple[str, str, dt.datetime]] = []

    class RosterCollect(base):
        """nbgrader's Collect, choosing among the submissions a roster student owns."""

        def init_src(self) -> None:
            super().init_src()  # nbgrader's checks of the course and inbound folders
            records = []
            for path in sorted(inbound.glob(f"*+{self.coursedir.assignment_id}+*")):
                rec = self._path_to_record(str(path))
                if people is not None and rec["username"] not in people:
                    continue  # said above, once per student
                problem = _owner_problem(rec["username"], path)
                if problem:
                    report.warnings.append(
                        f"{path.name}: claims to be {rec['username']}'s submission but {problem}: "
                        "not collected"
                    )
                    continue
                records.append(rec)
            latest: dict[str, dict] = {}
            for rec in records:
                if (
                    rec["username"] not in latest
                    or rec["timestamp"] > latest[rec["username"]]["timestamp"]
                ):
                    latest[rec["username"]] = rec
            self.src_records = [latest[k] for k in sorted(latest)]
            chosen.extend(
                (r["username"], self.coursedir.assignment_id, r["timestamp"])
                for r in self.src_records
            )

    if todo:
        with tempfile.TemporaryDirectory(prefix="coursekit-release-") as scratch:
            for name in todo:
                ensure_assignment(name, db_url, root, Path(scratch))
    for name in todo:
        coursedir.assignment_id = name
        app = RosterCollect(coursedir=coursedir, config=cfg)
        app.update = True
        app.check_owner = False  # checked above, with a clear line
        try:
            app.start()
        except Exception as exc:  # nbgrader's self.fail / ExchangeError: one line, go on
            report.warnings.append(f"nbgrader could not collect {name}: {exc}")
    for student, name, ts in chosen:
        folder = Path(coursedir.format_path(coursedir.submitted_directory, student, name))
        if not (folder / f"{name}.ipynb").is_file():
            held = (
                sorted(
                    p.name
                    for p in folder.iterdir()
                    if p.name not in ("timestamp.txt", "submission_secret.txt")
                )
                if folder.is_dir()
                else []
            )
            report.warnings.append(
                f"{student}'s submission of {name} ({ts:%Y-%m-%d %H:%M:%S} UTC) has no {name}.ipynb "
                f"(it holds: {', '.join(held) or 'nothing'}): nothing to grade"
            )
            shutil.rmtree(folder, ignore_errors=True)
            if folder.parent.is_dir() and not any(folder.parent.iterdir()):
                folder.parent.rmdir()
            continue
        _private(folder)
        report.collected.append(Collected(student, name, ts, deadlines.get(name), folder))
    _into_gradebook(db_url, report, people, deadlines)
    report.late_file = _write_late(out, report)
    return report


def _private(folder: Path) -> None:
    """The instructor's copy of a submission: theirs alone (nbgrader copies the inbound's
    world-writable mode along)."""
    for dirpath, _, files in os.walk(folder):
        os.chmod(dirpath, 0o700)
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o600)


def _into_gradebook(db_url: str, report: CollectReport, people, deadlines) -> None:
    """Roster students with their names, due dates, and each collected submission's timestamp
    (formgrader shows a late submission as late)."""
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings(), Gradebook(db_url) as gb:
        warnings.simplefilter("ignore", SAWarning)
        for sid, p in (people or {}).items():
            gb.update_or_create_student(
                sid,
                first_name=p.first_name or None,
                last_name=p.last_name or None,
                email=p.email or None,
            )
        for name in sorted({c.assignment for c in report.collected}):
            if name in deadlines:
                gb.update_or_create_assignment(name, duedate=deadlines[name])
        for c in report.collected:
            gb.update_or_create_student(c.student_id)
            gb.update_or_create_submission(c.assignment, c.student_id, timestamp=c.timestamp)


def _write_late(out: Path, report: CollectReport) -> Path | None:
    """late.csv beside the collected folders (``coursekit report --late`` reads it); removed
    when nothing is late."""
    path = out / "late.csv"
    if not report.late:
        path.unlink(missing_ok=True)
        return None
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student_id", "assignment", "timestamp_utc", "deadline_utc", "hours_late"])
    for c in sorted(report.late, key=lambda c: (c.assignment, c.student_id)):
        w.writerow(
            [
                c.student_id,
                c.assignment,
                c.timestamp.isoformat(sep=" "),
                c.deadline.isoformat(sep=" "),
                f"{c.seconds_late / 3600:.2f}",
            ]
        )
    out.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != buf.getvalue():
        path.write_text(buf.getvalue(), encoding="utf-8")
    return path


# --- feedback ---------------------------------------------------------------------------------


@dataclass
class FeedbackReport:
    released: list[tuple[str, str]] = field(default_factory=list)  # (student, assignment)
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _graded_digest(out: Path, student: str, assignment: str) -> str | None:
    """The SHA-256 of the notebook `coursekit autograde` graded (its result copy in
    OUT/.results/), or None."""
    try:
        data = json.loads((out / ".results" / f"{student}__{assignment}.json").read_text())
        return data["result"]["digest"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def release_feedback(
    assignments: list[str] | None = None,
    *,
    root: Path | None = None,
    exchange: Path | None = None,
    out: Path | None = None,
    submitted: Path | None = None,
) -> FeedbackReport:
    """nbgrader's release_feedback of coursekit's feedback pages (OUT/feedback/<student>/
    <assignment>.html, default OUT autograder/out) for the collected submissions (default:
    nbgrader's submitted folder): students get them with *Fetch Feedback*."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import notebook_hash

    root = _course(root)
    names = _check_assignments(assignments, root)
    out = Path(out).resolve() if out else root / "autograder" / "out"
    cfg = _config(root, exchange)
    if submitted is not None:
        cfg.CourseDirectory.submitted_directory = str(Path(submitted).resolve())
    coursedir = CourseDirectory(config=cfg)
    course = coursedir.course_id
    target = Path(str(cfg.Exchange.root)) / course / "feedback"
    if not target.is_dir():
        raise ExchangeError(
            f"no feedback folder {target} in the exchange: release an assignment first "
            "(coursekit release --exchange)"
        )
    report = FeedbackReport()
    base = Path(coursedir.format_path(coursedir.submitted_directory, ".", ".")).resolve()
    with tempfile.TemporaryDirectory(prefix="coursekit-feedback-") as staging:
        cfg.CourseDirectory.feedback_directory = staging
        staged_dir = CourseDirectory(config=cfg)
        for name in names:
            staged = 0
            for folder in sorted(base.glob(f"*/{name}")):
                student = folder.parent.name
                nb = folder / f"{name}.ipynb"
                secret = folder / "submission_secret.txt"
                stamp = folder / "timestamp.txt"
                if not (nb.is_file() and secret.is_file() and stamp.is_file()):
                    continue  # not from the exchange (a folder or zip class): nothing to release
                page = out / "feedback" / student / f"{name}.html"
                if not page.is_file():
                    report.warnings.append(
                        f"{student} / {name}: no feedback in {out / 'feedback'} yet: run "
                        f"coursekit autograde {base} first"
                    )
                    continue
                if (
                    _graded_digest(out, student, name)
                    != hashlib.sha256(nb.read_bytes()).hexdigest()
                ):
                    report.warnings.append(
                        f"{student} / {name}: the collected submission is newer than the graded "
                        f"one: run coursekit autograde {base} first (feedback not released)"
                    )
                    continue
                digest = notebook_hash(secret=secret.read_text(), notebook_id=name)
                there = target / f"{digest}.html"
                if there.is_file() and there.read_bytes() == page.read_bytes():
                    report.unchanged.append((student, name))
                    continue
                dest = Path(staged_dir.format_path(staged_dir.feedback_directory, student, name))
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(page, dest / f"{name}.html")
                shutil.copyfile(stamp, dest / "timestamp.txt")
                shutil.copyfile(secret, dest / "submission_secret.txt")
                report.released.append((student, name))
                staged += 1
            if staged:
                _nbgrader_release_feedback(staged_dir, cfg, name)
    return report


def _nbgrader_release_feedback(coursedir, cfg, name: str) -> None:
    """nbgrader's ReleaseFeedback of everything staged for `name` (every student)."""
    from nbgrader.auth import Authenticator
    from nbgrader.exchange import ExchangeFactory

    coursedir.assignment_id, coursedir.student_id = name, "*"
    cls = ExchangeFactory(config=cfg).release_feedback
    app = cls(coursedir=coursedir, authenticator=Authenticator(config=cfg), config=cfg)
    try:
        app.start()
    except Exception as exc:  # nbgrader's self.fail, or a file it could not copy
        raise ExchangeError(f"nbgrader could not release the feedback of {name}: {exc}") from None
