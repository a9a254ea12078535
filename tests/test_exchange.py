"""nbgrader's exchange, without a hub: release → (nbgrader's own submit) → collect → feedback.

Students hand in with nbgrader's real ExchangeSubmit (as a hub user's Assignments tab does),
under chosen timestamps; what `coursekit collect` makes of the inbound is checked file by file:
the layout `coursekit autograde` reads, the latest submission per student, lateness against
[collect.deadlines], and one warning line per bad input with the rest of the class collected.
Feedback pages are paired with the submission they grade and come back through nbgrader's
fetch_feedback. Integrity flags go up for review in the gradebook formgrader reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from coursekit.grading.collect import collect as collect_folder
from coursekit.grading.config import SettingsError, load_settings
from coursekit.grading.exchange import (
    ExchangeError,
    collect_from_exchange,
    prepare_exchange,
    release_feedback,
    release_to_exchange,
)
from coursekit.notebooks import release_notebook, source_notebook, submission_from

ROOT = Path(__file__).resolve().parents[1]
A = "04_convolution_by_hand"
COURSE = "coursekit"
ROSTER = "student_id,first_name,last_name,email\n" + "".join(
    f"{s},{s.title()},Test,{s}@example.edu\n" for s in ("ana", "ben", "cy", "dee")
)
UTC = dt.UTC
T0 = dt.datetime(2027, 3, 19, 12, 0, tzinfo=UTC)


_TEMPLATE: list[Path] = []


def _template(tmp: Path) -> Path:
    """The course (notebook 04 only) with its gradebook knowing the assignment, made once per
    test process; each test copies it."""
    if not _TEMPLATE:
        from coursekit.grading.config import nbgrader_config
        from coursekit.grading.gradebook import ensure_assignment

        root = Path(tempfile.mkdtemp(prefix="coursekit-exchange-course-", dir=tmp.parent))
        for sub in ("solutions", "notebooks"):
            shutil.copytree(ROOT / sub / A, root / sub / A)
        (root / "autograder").mkdir()
        shutil.copy(ROOT / "autograder" / "nbgrader_config.py", root / "autograder")
        (root / "autograder" / "roster.csv").write_text(ROSTER)
        db = str(nbgrader_config(root).CourseDirectory.db_url)  # also: the venv's alembic on PATH
        ensure_assignment(A, db, root, root / ".scratch")
        _TEMPLATE.append(root)
    return _TEMPLATE[0]


def _course(tmp: Path, deadline: str = "") -> Path:
    root = tmp / "course"
    shutil.copytree(_template(tmp), root)
    toml = (ROOT / "autograder" / "grading.toml").read_text()
    if deadline:  # under the shipped file's own [collect.deadlines]
        toml = toml.replace("[collect.deadlines]\n", f"[collect.deadlines]\n{A} = {deadline}\n")
    (root / "autograder" / "grading.toml").write_text(toml)
    return root


@pytest.fixture
def course(tmp_path):
    return _course(tmp_path)


def submit(root: Path, exchange: Path, student: str, nb, when: dt.datetime, tmp: Path) -> Path:
    """Hand `nb` in as `student` at `when` with nbgrader's own ExchangeSubmit; returns the
    student's folder (their fetched copy and nbgrader's cache live there)."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default.submit import ExchangeSubmit
    from traitlets.config import Config

    home = tmp / "homes" / student
    (home / A).mkdir(parents=True, exist_ok=True)
    for old in (home / A).glob("*.ipynb"):
        old.unlink()
    if nb is not None:
        nbformat.write(nbformat.from_dict(nb), home / A / f"{A}.ipynb")
    else:
        (home / A / "notes.txt").write_text("I ran out of time")
    cfg = Config()
    cfg.CourseDirectory.course_id = COURSE
    cfg.CourseDirectory.student_id = student
    cfg.CourseDirectory.assignment_id = A
    cfg.Exchange.root = str(exchange)
    cfg.Exchange.cache = str(home / "cache")
    cfg.Exchange.assignment_dir = str(home)

    class At(ExchangeSubmit):
        def set_timestamp(self):
            self.timestamp = when.strftime(self.timestamp_format)

    At(
        coursedir=CourseDirectory(config=cfg), authenticator=Authenticator(config=cfg), config=cfg
    ).start()
    return home


def _answers(upto: int) -> dict[str, str]:
    src = source_notebook(A)
    ids = [
        c.metadata["nbgrader"]["grade_id"]
        for c in src.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    ]
    return {
        gid: next(
            c.source for c in src.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid
        )
        for gid in ids[:upto]
    }


def _released(root: Path, exchange: Path) -> None:
    rep = release_to_exchange([A], root=root, exchange=exchange)
    assert rep.released == [A]


# --- the exchange and release -------------------------------------------------------------------


def test_the_exchange_has_nbgraders_permissions(tmp_path):
    ex = tmp_path / "exchange"
    course = prepare_exchange(ex, COURSE)
    modes = {
        p: stat.S_IMODE(p.stat().st_mode)
        for p in (ex, course, course / "outbound", course / "inbound", course / "feedback")
    }
    assert modes[ex] == 0o1777  # everyone may add a course folder, nobody removes another's
    assert modes[course] == modes[course / "outbound"] == 0o755
    assert modes[course / "inbound"] == 0o3733  # writable, not listable; sticky; setgid
    assert modes[course / "feedback"] == 0o711  # a page is reached by its secret's hash only
    os.chmod(course / "inbound", 0o777)
    prepare_exchange(ex, COURSE)  # fixes what changed, keeps the rest
    assert stat.S_IMODE((course / "inbound").stat().st_mode) == 0o3733


def test_release_puts_the_notebooks_out_once_and_sets_the_due_date(tmp_path):
    from nbgrader.api import Gradebook

    root = _course(tmp_path, "2027-03-19T23:59:00+01:00")
    ex = tmp_path / "exchange"
    first = release_to_exchange([A], root=root, exchange=ex)
    out = ex / COURSE / "outbound" / A / f"{A}.ipynb"
    assert (
        first.released == [A]
        and out.read_bytes() == (root / "notebooks" / A / f"{A}.ipynb").read_bytes()
    )
    mtime = out.stat().st_mtime_ns
    again = release_to_exchange([A], root=root, exchange=ex)
    assert again.unchanged == [A] and not again.released and out.stat().st_mtime_ns == mtime
    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gb:
        assert gb.find_assignment(A).duedate == dt.datetime(2027, 3, 19, 22, 59)
    nb = root / "notebooks" / A / f"{A}.ipynb"
    nb.write_text(nb.read_text().replace("Exercise", "Exercise", 1) + "\n")
    assert release_to_exchange([A], root=root, exchange=ex).released == [A]
    with pytest.raises(ExchangeError, match="'99_nope' is not an assignment of this course"):
        release_to_exchange(["99_nope"], root=root, exchange=ex)


# --- collect ------------------------------------------------------------------------------------


def test_collect_takes_the_latest_marks_late_and_lays_out_what_autograde_reads(tmp_path):
    from nbgrader.api import Gradebook

    root = _course(tmp_path, "2027-03-19T13:00:00+00:00")
    ex = tmp_path / "exchange"
    _released(root, ex)
    blank = submission_from(release_notebook(A))
    wrong = submission_from(
        release_notebook(A),
        {"answer_cross_correlate2d": "def cross_correlate2d(x, w):\n    return 0\n"},
    )
    right = submission_from(release_notebook(A), _answers(2))
    submit(root, ex, "ana", wrong, T0, tmp_path)
    submit(root, ex, "ana", right, T0 + dt.timedelta(minutes=30), tmp_path)  # latest, in time
    submit(root, ex, "ben", blank, T0 + dt.timedelta(hours=2), tmp_path)  # an hour late
    dest = tmp_path / "submitted"
    rep = collect_from_exchange(root=root, exchange=ex, dest=dest)
    assert not rep.warnings, rep.warnings
    assert sorted((c.student_id, c.assignment) for c in rep.collected) == [("ana", A), ("ben", A)]
    ana = dest / "ana" / A
    assert nbformat.read(ana / f"{A}.ipynb", as_version=4).cells == nbformat.from_dict(right).cells
    assert (ana / "timestamp.txt").read_text().startswith("2027-03-19 12:30:00")
    assert [c.student_id for c in rep.late] == ["ben"] and rep.late[0].seconds_late == 3600
    late = rep.late_file.read_text().splitlines()
    assert late[0].startswith("student_id,assignment") and late[1].startswith(f"ben,{A},")
    # the layout `coursekit autograde` reads: one job per student, the latest notebook
    jobs, warnings = collect_folder(dest, [A], load_settings(root).zip_pattern)
    assert [(j.student_id, j.assignment) for j in jobs] == [("ana", A), ("ben", A)] and not warnings
    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gb:
        assert gb.find_submission(A, "ben").total_seconds_late == 3600
        assert gb.find_submission(A, "ana").total_seconds_late == 0
        assert gb.find_student("cy").first_name == "Cy"  # the roster, with names, for formgrader
    # again: nothing changes
    before = {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()}
    again = collect_from_exchange(root=root, exchange=ex, dest=dest)
    assert [c.student_id for c in again.collected] == ["ana", "ben"] and not again.warnings
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()} == before


def test_bad_input_is_one_line_each_and_the_rest_is_collected(tmp_path, course):
    ex = tmp_path / "exchange"
    _released(course, ex)
    blank = submission_from(release_notebook(A))
    submit(course, ex, "ana", blank, T0, tmp_path)
    submit(course, ex, "zed", blank, T0, tmp_path)  # not in the roster
    submit(course, ex, "dee", None, T0, tmp_path)  # a folder with no notebook
    inbound = ex / COURSE / "inbound"
    stray = inbound / "cy+99_nope+2027-03-19 12:00:00.000000 UTC+abc"  # not this course's
    stray.mkdir()
    (stray / "99_nope.ipynb").write_text("{}")
    (inbound / "README").write_text("not a submission")
    rep = collect_from_exchange(root=course, exchange=ex, dest=tmp_path / "submitted")
    assert [c.student_id for c in rep.collected] == ["ana"]
    assert len(rep.warnings) == 4, rep.warnings
    assert all("\n" not in w for w in rep.warnings)
    text = " | ".join(rep.warnings)
    assert "student 'zed' is not in the roster" in text
    assert "dee's submission of 04_convolution_by_hand" in text and "notes.txt" in text
    assert "'99_nope', which is not an assignment of this course" in text
    assert "README: not an nbgrader submission" in text
    assert (
        not (tmp_path / "submitted" / "dee").exists()
        and not (tmp_path / "submitted" / "zed").exists()
    )
    with pytest.raises(ExchangeError, match="'99_nope' is not an assignment"):
        collect_from_exchange(["99_nope"], root=course, exchange=ex)


def test_a_deadline_needs_a_utc_offset_and_a_course_assignment(tmp_path):
    root = _course(tmp_path, "2027-03-19T23:59:00")
    with pytest.raises(SettingsError, match="must be a date-time with its UTC offset"):
        load_settings(root)
    (root / "autograder" / "grading.toml").write_text(
        "[collect.deadlines]\n99_x = 2027-03-19T23:59:00Z\n"
    )
    with pytest.raises(SettingsError, match=r"\[collect.deadlines\] 99_x is not an assignment"):
        load_settings(root)


def test_the_commands_say_bad_input_in_one_line(tmp_path, course):
    env = {
        **os.environ,
        "COURSEKIT_COURSE_ROOT": str(course),
        "COURSEKIT_EXCHANGE": str(tmp_path / "none"),
    }
    for cmd, words in (
        (["collect", "99_nope"], "'99_nope' is not an assignment of this course"),
        (["release-feedback"], "no feedback folder"),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "coursekit.cli", *cmd],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (cmd, r.stderr)
        assert r.stderr.startswith(f"coursekit {cmd[0]}: ") and words in r.stderr, r.stderr


# --- feedback -----------------------------------------------------------------------------------


def _graded(out: Path, student: str, nb_path: Path, page: str) -> None:
    """What `coursekit autograde` leaves for one submission: its feedback page and the result
    copy (OUT/.results/) naming the digest of the notebook it graded."""
    (out / "feedback" / student).mkdir(parents=True, exist_ok=True)
    (out / "feedback" / student / f"{A}.html").write_text(page)
    (out / ".results").mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(nb_path.read_bytes()).hexdigest()
    (out / ".results" / f"{student}__{A}.json").write_text(
        json.dumps({"version": 2, "result": {"digest": digest}})
    )


def test_feedback_goes_to_the_submission_it_grades_and_comes_back_with_fetch_feedback(
    tmp_path, course
):
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default.fetch_feedback import ExchangeFetchFeedback
    from traitlets.config import Config

    ex = tmp_path / "exchange"
    _released(course, ex)
    blank = submission_from(release_notebook(A))
    ana_home = submit(course, ex, "ana", blank, T0, tmp_path)
    submit(course, ex, "ben", blank, T0, tmp_path)
    dest, out = tmp_path / "submitted", tmp_path / "out"
    collect_from_exchange(root=course, exchange=ex, dest=dest)
    _graded(
        out, "ana", dest / "ana" / A / f"{A}.ipynb", "<p>ana: test_pool2d ✘ pool2d swaps max</p>"
    )
    _graded(out, "ben", dest / "ben" / A / f"{A}.ipynb", "<p>ben's old feedback</p>")
    submit(
        course,
        ex,
        "ben",
        submission_from(release_notebook(A), _answers(1)),
        T0 + dt.timedelta(hours=1),
        tmp_path,
    )
    collect_from_exchange(root=course, exchange=ex, dest=dest)  # ben's newer one, not graded yet

    rep = release_feedback(root=course, exchange=ex, out=out, submitted=dest)
    assert rep.released == [("ana", A)] and not rep.unchanged
    assert (
        len(rep.warnings) == 1
        and "ben / 04_convolution_by_hand: the collected submission is newer" in rep.warnings[0]
    )
    again = release_feedback(root=course, exchange=ex, out=out, submitted=dest)
    assert again.unchanged == [("ana", A)] and not again.released

    cfg = Config()
    cfg.CourseDirectory.course_id = COURSE
    cfg.CourseDirectory.student_id = "ana"
    cfg.CourseDirectory.assignment_id = A
    cfg.Exchange.root = str(ex)
    cfg.Exchange.cache = str(ana_home / "cache")
    cfg.Exchange.assignment_dir = str(ana_home)
    ExchangeFetchFeedback(
        coursedir=CourseDirectory(config=cfg), authenticator=Authenticator(config=cfg), config=cfg
    ).start()
    got = list((ana_home / A / "feedback").rglob(f"{A}.html"))
    assert len(got) == 1 and "pool2d swaps max" in got[0].read_text()
    assert got[0].parent.name.startswith("2027-03-19 12:00:00")  # filed under her submission


# --- manual review in formgrader ----------------------------------------------------------------


def _listed_for_review(db: str) -> bool:
    """What formgrader's list of submissions shows as "needs manual grade" (its API reads the
    submission's to_dict())."""
    from nbgrader.api import Gradebook

    with Gradebook(db) as gb:
        return gb.find_submission(A, "ana").to_dict()["needs_manual_grade"]


def test_integrity_flags_need_a_manual_grade_with_the_flag_text_and_a_manual_score_survives(
    tmp_path, course
):
    from nbgrader.api import Gradebook

    from coursekit.grading.assignment import Assignment
    from coursekit.grading.config import nbgrader_config
    from coursekit.grading.gradebook import INTEGRITY, ensure_assignment, record
    from coursekit.grading.results import CellRecord, ExerciseResult, SubmissionResult

    db = str(nbgrader_config(course).CourseDirectory.db_url)  # the course's, knowing A
    ensure_assignment(A, db, course, tmp_path / "scratch")
    assignment = Assignment.load(A, course)
    cells = [
        CellRecord(
            "test" if c.metadata["nbgrader"].get("grade") else "code",
            c.source,
            [],
            dict(c.metadata["nbgrader"]),
        )
        for c in release_notebook(A).cells
        if c.cell_type == "code" and c.metadata.get("nbgrader")
    ]
    flag = "the test cell 'test_pool2d' was edited; it was graded with the original"

    def result(flags: bool) -> SubmissionResult:
        exercises = [
            ExerciseResult(
                "ana",
                A,
                t.grade_id,
                0.0,
                t.points,
                "failed",
                flags=[flag] if flags and t.grade_id == "test_pool2d" else [],
            )
            for t in assignment.tests
        ]
        return SubmissionResult("ana", A, exercises, cells=cells)

    record(result(flags=True), db)
    assert _listed_for_review(db) is True
    with Gradebook(db) as gb:
        grade = gb.find_grade("test_pool2d", A, A, "ana")
        assert grade.needs_manual_grade
        assert not gb.find_grade("test_conv2d_fast", A, A, "ana").needs_manual_grade
        comment = gb.find_comment("answer_pool2d", A, A, "ana")  # the answer cell above the test
        assert comment.comment == INTEGRITY + flag
        assert not gb.find_comment("answer_conv2d_fast", A, A, "ana").comment
        # the instructor scores it in formgrader (its grade API sets these two) and comments
        grade.manual_score, grade.needs_manual_grade = 2.0, False
        comment.manual_comment = "checked: the edit was a typo fix"
        gb.db.commit()
    assert _listed_for_review(db) is False  # formgrader's submission list: reviewed

    record(result(flags=True), db)  # autograde runs again
    with Gradebook(db) as gb:
        grade = gb.find_grade("test_pool2d", A, A, "ana")
        assert grade.manual_score == 2.0 and grade.score == 2.0 and grade.needs_manual_grade
        assert (
            gb.find_comment("answer_pool2d", A, A, "ana").comment
            == "checked: the edit was a typo fix"
        )
    assert _listed_for_review(db) is True

    record(result(flags=False), db)  # a clean resubmission: the integrity note goes, hers stays
    with Gradebook(db) as gb:
        c = gb.find_comment("answer_pool2d", A, A, "ana")
        assert c.auto_comment is None and c.manual_comment == "checked: the edit was a typo fix"
        assert gb.find_grade("test_pool2d", A, A, "ana").manual_score == 2.0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: makes two Unix users")
def test_a_folder_another_student_owns_is_not_collected_as_theirs(tmp_path):
    import secrets

    tag = "ckown" + secrets.token_hex(2)
    owner, victim = f"{tag}a", f"{tag}b"
    root = _course(tmp_path)
    (root / "autograder" / "roster.csv").write_text(
        ROSTER + f"{owner},O,Test,o@example.edu\n{victim},V,Test,v@example.edu\n"
    )
    ex = tmp_path / "exchange"
    _released(root, ex)
    made = []
    try:
        for u in (owner, victim):
            subprocess.run(["useradd", "--no-create-home", u], check=True, capture_output=True)
            made.append(u)
        blank = submission_from(release_notebook(A))
        submit(root, ex, owner, blank, T0, tmp_path)
        forged = submit(root, ex, victim, blank, T0 + dt.timedelta(minutes=5), tmp_path)
        inbound = ex / COURSE / "inbound"
        uid = __import__("pwd").getpwnam(owner).pw_uid
        for path in inbound.glob(f"{victim}+*"):  # handed in under the victim's name by owner
            for p in (path, *path.rglob("*")):
                os.chown(p, uid, -1)
        assert forged.is_dir()
        rep = collect_from_exchange(root=root, exchange=ex, dest=tmp_path / "submitted")
        assert [c.student_id for c in rep.collected] == [owner]
        assert len(rep.warnings) == 1
        assert (
            f"claims to be {victim}'s submission but it belongs to the Unix user {owner}"
            in (rep.warnings[0])
        )
    finally:
        for u in made:
            subprocess.run(["userdel", u], capture_output=True)
