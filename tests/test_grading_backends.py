"""The gradebook on a real PostgreSQL server, a class from an LMS zip, and --workers 1 vs 2."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
import zipfile
from pathlib import Path

import psutil
import pytest
from gradekit import build_class, grade_class
from syspkg import need_system_package

from coursekit.notebooks import release_notebook, source_notebook, submission_from

A = "04_convolution_by_hand"
pytestmark = pytest.mark.slow
WRONG = (
    "def conv_output_size(n, f, padding=0, stride=1):\n    return (n - f + 2 * padding) // stride\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")  # session: built once per worker even if xdist interleaves modules
def postgres():
    """A PostgreSQL server from Debian's packages on 127.0.0.1, stopped by PID afterwards."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        need_system_package("postgresql", "the gradebook on PostgreSQL")
    bindir = Path(bins[-1])
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="coursekit-pg-"))  # not under pytest's root-only folder
    data = base / "data"
    user = []
    if os.geteuid() == 0:  # postgres refuses to run as root: use Debian's postgres user
        shutil.chown(base, "postgres")
        user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*user, str(bindir / "initdb"), "-D", str(data), "-U", "grader", "--auth=trust"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = _free_port()
    log = open(base / "pg.log", "wb")
    proc = subprocess.Popen(
        [
            *user,
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(base),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        r = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
        )
        if r.returncode == 0:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"postgres did not start: {(base / 'pg.log').read_text()[-500:]}")
        time.sleep(0.2)
    subprocess.run(
        [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "grader", "gradebook"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    yield f"postgresql://grader@127.0.0.1:{port}/gradebook"
    # Stop the server we started, by PID (runuser forks postgres: signal both).
    try:
        children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        children = []
    for pid in [proc.pid, *children]:
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)
    log.close()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")  # session: built once per worker even if xdist interleaves modules
def small_class(tmp_path_factory):
    src, rel = source_notebook(A), release_notebook(A)
    folder = tmp_path_factory.mktemp("small") / "class"
    return build_class(
        folder,
        A,
        {
            "ana": submission_from(src),
            "ben": submission_from(src, {"answer_conv_output_size": WRONG}),
            "cy": submission_from(rel),
        },
    )


def _rows(result):
    return [
        (s.student_id, [(e.grade_id, e.score, e.status, e.message) for e in s.exercises])
        for s in result.submissions
    ]


@pytest.mark.postgres
def test_gradebook_on_postgresql(postgres, small_class, tmp_path):
    result = grade_class(small_class, tmp_path, db_url=postgres)
    from nbgrader.api import Gradebook

    from coursekit.grading.config import normalize_db_url

    with Gradebook(normalize_db_url(postgres)) as gb:
        scores = {s.student.id: s.score for s in gb.assignment_submissions(A)}
    assert scores == {s.student_id: s.score for s in result.submissions}
    assert scores["ana"] == result.get("ana").max_score and scores["cy"] == 0


def test_workers_1_and_2_give_identical_results(small_class, tmp_path):
    one = grade_class(small_class, tmp_path / "w1", workers=1)
    two = grade_class(small_class, tmp_path / "w2", workers=2)
    assert _rows(one) == _rows(two)
    assert (tmp_path / "w1" / "out" / "exercises.csv").read_text() == (
        tmp_path / "w2" / "out" / "exercises.csv"
    ).read_text()


def test_lms_zip_with_the_default_pattern(small_class, tmp_path):
    z = tmp_path / "download.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for nb in small_class.rglob("*.ipynb"):
            zf.write(nb, f"submissions/{nb.parent.parent.name}_{A}.ipynb")
        zf.writestr("submissions/readme.txt", "not a notebook")
    result = grade_class(z, tmp_path, workers=2)
    assert {s.student_id for s in result.submissions} == {"ana", "ben", "cy"}
    assert result.get("ana").score == result.get("ana").max_score
    assert "readme.txt" in (tmp_path / "out" / "skipped.txt").read_text()


def test_a_manual_score_survives_a_rerun_of_autograde(small_class, tmp_path):
    """As nbgrader's own SaveAutoGrades: an instructor's manual score stays, and the grade stays
    up for review (needs_manual_grade) after autograde runs again."""
    from nbgrader.api import Gradebook

    grade_class(small_class, tmp_path)
    db = f"sqlite:///{tmp_path / 'nbgrader' / 'gradebook.db'}"
    with Gradebook(db) as gb:
        g = gb.find_grade("test_conv_output_size", A, A, "ben")
        assert g.auto_score == 0 and not g.needs_manual_grade
        g.manual_score = 1.0
        g.needs_manual_grade = False  # what formgrader does when the instructor saves a score
        gb.db.commit()
    grade_class(small_class, tmp_path, resume=False)
    with Gradebook(db) as gb:
        g = gb.find_grade("test_conv_output_size", A, A, "ben")
        assert g.manual_score == 1.0 and g.auto_score == 0
        assert g.needs_manual_grade
        assert gb.find_grade("test_conv_output_size", A, A, "ana").needs_manual_grade is False
        assert gb.find_submission(A, "ben").score == gb.find_submission(A, "ana").score
