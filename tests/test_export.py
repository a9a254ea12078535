"""LMS exports (coursekit.export): Canvas's gradebook import CSV, Moodle's grade import CSV and
nbgrader's own, from a real nbgrader gradebook filled the way the grader fills it
(gradebook.record), with ids mapped through a roster.

    .venv/bin/python -m pytest tests/test_export.py
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from coursekit.cli import main
from coursekit.export import ExportError, export, read_roster
from coursekit.grading import gradebook
from coursekit.grading.assignment import Assignment
from coursekit.grading.config import nbgrader_config
from coursekit.grading.results import ExerciseResult, SubmissionResult

ROOT = Path(__file__).resolve().parents[1]
A = "04_convolution_by_hand"
# student: points per test cell of notebook 04 (in order); "zed" is not in the roster
SCORES = {"ada": [2, 1, 1, 3, 1, 2, 3], "bob": [2, 1, 0, 3, 1, 0, 0], "zed": [0] * 7}
ROSTER = """student_id,first_name,last_name,email,section,canvas_id,sis_user_id,moodle_id
ada,Ada,Lovelace,ada@uni.example,Section A,101,,m-ada
bob,Bob,"Smith, Jr.",bob@uni.example,Section B,,S-2,
cy,Cy,Young,cy@uni.example,Section A,103,,
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A gradebook with notebook 04 and three graded students, and a roster of three (one of the
    gradebook's students is not in it, one roster student has no submission)."""
    work = tmp_path_factory.mktemp("export")
    db = f"sqlite:///{work / 'gradebook.db'}"
    nbgrader_config(ROOT, db)  # as the grader's store: nbgrader's alembic on PATH
    gradebook.ensure_assignment(A, db, ROOT, work / "release")
    shutil.copy(work / "gradebook.db", work / "fresh.db")  # notebook 04, no student yet
    tests = Assignment.load(A, ROOT).tests
    for student, points in SCORES.items():
        ex = [
            ExerciseResult(student, A, t.grade_id, p, t.points, "passed" if p else "failed")
            for t, p in zip(tests, points)
        ]
        gradebook.record(SubmissionResult(student, A, ex), db)
    roster = work / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    return work, db, roster


def parse_canvas(text: str) -> tuple[dict[str, float], list[dict[str, str]]]:
    """A strict reading of Canvas's gradebook import format: the five identity columns in
    order, one column per assignment, a "Points Possible" row, then one row per student who can
    be identified (ID, SIS User ID or SIS Login ID), points numeric and within the possible."""
    assert not text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text), strict=True))
    header = rows[0]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"], header
    names = header[5:]
    assert names and len(set(names)) == len(names) and all(n.strip() for n in names)
    possible = rows[1]
    assert possible[0].strip() == "Points Possible" and possible[1:5] == [""] * 4, possible
    points = dict(zip(names, (float(p) for p in possible[5:])))
    students = []
    seen: set[str] = set()
    for r in rows[2:]:
        assert len(r) == len(header), r
        assert r[0].strip(), r
        ident = r[1] or r[2] or r[3]
        assert ident and ident not in seen, r
        seen.add(ident)
        if r[1]:
            assert r[1].isdigit(), r  # Canvas's own user ids are numbers
        for name, value in zip(names, r[5:]):
            if value != "":
                assert 0 <= float(value) <= points[name], (name, value)
        students.append(dict(zip(header, r)))
    return points, students


def test_canvas_csv_reads_strictly_with_one_row_per_student(course, tmp_path):
    work, db, roster = course
    done = export("canvas", tmp_path, db_url=db, roster=roster, root=ROOT)
    assert done.path == tmp_path / "canvas.csv"
    points, rows = parse_canvas(done.path.read_text(encoding="utf-8"))
    assert points == {A: 13.0}
    by = {r["SIS User ID"]: r for r in rows}
    assert len(rows) == 4 and set(by) == {"ada", "S-2", "cy", "zed"}
    assert by["ada"]["Student"] == "Lovelace, Ada" and by["ada"]["ID"] == "101"
    assert by["ada"]["Section"] == "Section A" and by["ada"]["SIS Login ID"] == "ada@uni.example"
    assert by["S-2"]["Student"] == "Smith, Jr., Bob"  # the comma survives quoting
    assert float(by["ada"][A]) == sum(SCORES["ada"]) and float(by["S-2"][A]) == sum(SCORES["bob"])
    assert by["cy"][A] == ""  # no submission: an empty cell, left unchanged by Canvas
    assert float(by["zed"][A]) == 0 and by["zed"]["ID"] == ""  # not in the roster: still there
    assert done.unknown == ["zed"]


def test_unknown_student_is_reported_by_the_command(course, tmp_path, capsys):
    _, db, roster = course
    code = main(
        ["export", "--format", "canvas", str(tmp_path), "--db-url", db, "--roster", str(roster)]
    )
    assert code == 0
    cap = capsys.readouterr()
    assert "'zed' is in the gradebook but not in" in cap.err
    assert f"wrote {tmp_path / 'canvas.csv'} (4 students" in cap.out


def test_moodle_csv(course, tmp_path):
    _, db, roster = course
    done = export("moodle", tmp_path, db_url=db, roster=roster, root=ROOT)
    rows = list(csv.DictReader(io.StringIO(done.path.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["First name", "Last name", "ID number", "Email address", A]
    by = {r["ID number"]: r for r in rows}
    assert set(by) == {"m-ada", "bob", "cy", "zed"}
    assert by["m-ada"]["Email address"] == "ada@uni.example"
    assert float(by["m-ada"][A]) == 13 and by["cy"][A] == ""
    assert done.unknown == ["zed"]


def test_nbgrader_csv_is_nbgraders_own_export(course, tmp_path):
    _, db, _ = course
    done = export("csv", tmp_path, db_url=db, root=ROOT)
    rows = list(csv.DictReader(io.StringIO(done.path.read_text(encoding="utf-8"))))
    assert list(rows[0])[:4] == ["assignment", "duedate", "timestamp", "student_id"]
    scores = {r["student_id"]: float(r["score"]) for r in rows if r["assignment"] == A}
    assert scores == {s: float(sum(p)) for s, p in SCORES.items()}


def test_a_score_changed_in_the_gradebook_is_exported_as_changed(course, tmp_path):
    from nbgrader.api import Gradebook

    work, _, roster = course
    shutil.copy(work / "fresh.db", tmp_path / "manual.db")
    db = f"sqlite:///{tmp_path / 'manual.db'}"
    tests = Assignment.load(A, ROOT).tests
    ex = [ExerciseResult("bob", A, t.grade_id, 0.0, t.points, "failed") for t in tests]
    gradebook.record(SubmissionResult("bob", A, ex), db)
    with Gradebook(db) as gb:  # an instructor gives 2 points by hand in formgrader
        grade = gb.find_grade(tests[0].grade_id, A, A, "bob")
        grade.manual_score = 2.0
        gb.db.commit()
    done = export("canvas", tmp_path, db_url=db, roster=roster, root=ROOT)
    _, rows = parse_canvas(done.path.read_text(encoding="utf-8"))
    assert {r["SIS User ID"]: r[A] for r in rows}["S-2"] == "2"


def test_roster_problems_are_one_clear_line(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("student_id,first_name,email\nada,Ada,a@x\n")
    with pytest.raises(ExportError, match="needs the columns .*missing: last_name"):
        read_roster(bad)
    bad.write_text("student_id,first_name,last_name,email,canvas\nada,A,L,a@x,1\n")
    with pytest.raises(ExportError, match="unknown roster column 'canvas'"):
        read_roster(bad)
    bad.write_text("student_id,first_name,last_name,email\nada,A,L,a@x\nada,B,M,b@x\n")
    with pytest.raises(ExportError, match="line 3: student_id 'ada' appears twice"):
        read_roster(bad)
    with pytest.raises(ExportError, match="no gradebook at"):
        export("canvas", tmp_path, db_url=f"sqlite:///{tmp_path / 'none.db'}", root=ROOT)
    assert (
        main(
            [
                "export",
                "--format",
                "canvas",
                str(tmp_path),
                "--db-url",
                f"sqlite:///{tmp_path / 'x.db'}",
            ]
        )
        == 2
    )
