"""Each `coursekit` command's bad-input paths: one clear line on stderr, exit code 2, nothing written."""

import os
import subprocess
import sys
import zipfile

import pytest

from coursekit.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    return lines[0]


def test_release_unknown_assignment(capsys):
    code, _, err = run(capsys, "release", "99_nonexistent")
    assert code == 2 and "unknown assignment '99_nonexistent'" in one_line(err)


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda p: p / "missing", "no such file or folder"),
        (
            lambda p: (p / "empty.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18) and p / "empty.zip",
            "empty zip",
        ),
        (
            lambda p: (p / "notes.txt").write_text("hi") and p / "notes.txt",
            "neither a folder of submissions nor a .zip",
        ),
        (lambda p: (p / "class").mkdir() or p / "class", "no submissions found"),
    ],
    ids=["missing-folder", "empty-zip", "not-a-zip", "empty-folder"],
)
def test_autograde_bad_input(capsys, tmp_path, make, expect):
    target = make(tmp_path)
    out = tmp_path / "out"
    code, _, err = run(capsys, "autograde", str(target), "--out", str(out), "--quiet")
    assert code == 2 and expect in one_line(err)
    assert not out.exists(), "nothing may be written when the input is bad"


def test_autograde_zip_with_only_unknown_assignments(capsys, tmp_path):
    z = tmp_path / "lms.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("s1_99_nope.ipynb", "{}")
        zf.writestr("readme.txt", "x")
    code, _, err = run(capsys, "autograde", str(z), "--out", str(tmp_path / "out"), "--quiet")
    assert code == 2 and "no submissions found" in one_line(err) and "skipped" in err


@pytest.mark.parametrize(
    "content, expect",
    [
        (None, "no such file"),
        ("{not json", "not valid notebook JSON"),
        ('{"cells": 3}', "not a valid notebook"),
    ],
    ids=["missing", "invalid-json", "not-a-notebook"],
)
def test_check_bad_input(capsys, tmp_path, content, expect):
    path = tmp_path / "mine.ipynb"
    if content is not None:
        path.write_text(content)
    code, _, err = run(capsys, "check", str(path))
    assert code == 2 and expect in one_line(err)


def test_check_refuses_a_non_notebook_file(capsys, tmp_path):
    (tmp_path / "x.py").write_text("print(1)")
    code, _, err = run(capsys, "check", str(tmp_path / "x.py"))
    assert code == 2 and "not a notebook" in one_line(err)


def test_doctor_reports_versions_and_data():
    r = subprocess.run(
        [sys.executable, "-m", "coursekit.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "torch" in r.stdout and "devices" in r.stdout and "mnist data" in r.stdout
    assert r.returncode in (0, 1)


def test_usage_error_exit_code(capsys):
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2


def test_autograde_refuses_without_a_sandbox_unless_told(tmp_path):
    """Where bubblewrap can't be found (e.g. macOS), untrusted code is not run unless --no-sandbox."""
    from gradekit import build_class

    from coursekit.notebooks import release_notebook, submission_from

    a = "04_convolution_by_hand"
    cls = build_class(tmp_path / "class", a, {"solo": submission_from(release_notebook(a))})
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("setpriv", "sh"):
        (bindir / tool).symlink_to(f"/usr/bin/{tool}" if tool == "setpriv" else "/bin/sh")
    env = {**os.environ, "PATH": str(bindir)}
    cmd = [
        sys.executable,
        "-m",
        "coursekit.cli",
        "autograde",
        str(cls),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2 and "--no-sandbox" in r.stderr and "bubblewrap" in r.stderr
    assert not (tmp_path / "out").exists()
    r = subprocess.run([*cmd, "--no-sandbox"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "solo" in r.stdout and (tmp_path / "out" / "grades.csv").is_file()
