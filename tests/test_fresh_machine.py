"""A fresh machine needs nothing by hand: `make demo` / `make test` install their system packages
or say, in one line, what to run; `make system-deps` is idempotent; a test suite on a machine
without a package skips what needs it and says so once at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_DEPS = ROOT / "tools" / "system-deps.sh"


def _copy_of_the_repo(dest: Path) -> Path:
    """What a clone of this checkout would hold: tracked files and new, not ignored ones."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _path_without(tmp_path: Path, hidden: set[str]) -> str:
    """A PATH folder with every program of this machine's PATH except `hidden`."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            if entry.name in hidden or (bindir / entry.name).exists():
                continue
            try:
                if entry.is_file() and os.access(entry.path, os.X_OK):
                    (bindir / entry.name).symlink_to(entry.path)
            except OSError:
                continue
    return str(bindir)


def test_make_demo_without_bubblewrap_stops_at_once_with_one_line(tmp_path):
    repo = _copy_of_the_repo(tmp_path / "clone")
    env = {**os.environ, "PATH": _path_without(tmp_path, {"bwrap", "apt-get", "sudo"})}
    r = subprocess.run(
        ["make", "--no-print-directory", "demo"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    ours = [
        ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip() and not ln.startswith("make")
    ]
    assert len(ours) == 1, ours
    assert (
        "bubblewrap" in ours[0]
        and "apt-get install -y --no-install-recommends bubblewrap" in ours[0]
    )
    assert not (repo / ".venv").exists(), "it set up the kit before saying what is missing"


def test_without_root_or_sudo_the_message_names_the_sudo_command(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "id").write_text("#!/bin/sh\necho 1000\n")  # not root
    (fake / "id").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{_path_without(tmp_path, {'bwrap', 'sudo', 'id'})}"}
    r = subprocess.run(
        ["bash", str(SYSTEM_DEPS), "demo"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert (
        "sudo apt-get update && sudo apt-get install -y --no-install-recommends bubblewrap"
        in r.stderr
    )
    soft = subprocess.run(
        ["bash", str(SYSTEM_DEPS), "--soft", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert soft.returncode == 0 and "will be skipped" in soft.stderr


def test_system_deps_twice_installs_nothing_the_second_time(tmp_path):
    first = subprocess.run(
        ["bash", str(SYSTEM_DEPS), "test"], capture_output=True, text=True, timeout=1800
    )
    if first.returncode != 0:
        pytest.skip(f"the system packages can't be installed here: {first.stderr.strip()}")
    calls = tmp_path / "apt-calls"
    fake = tmp_path / "fake"
    fake.mkdir()
    for tool in ("apt-get", "sudo", "npm"):
        (fake / tool).write_text(f'#!/bin/sh\necho "$0 $*" >> {calls}\nexit 1\n')
        (fake / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    second = subprocess.run(
        ["bash", str(SYSTEM_DEPS), "test"], env=env, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 0 and "nothing to install" in second.stdout, second.stderr
    assert not calls.exists(), calls.read_text()


def test_a_suite_without_bubblewrap_skips_and_says_so_once(tmp_path):
    env = {**os.environ, "PATH": _path_without(tmp_path, {"bwrap"})}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "tests/test_sandbox.py",
            "-rs",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:]
    summary = [ln for ln in r.stdout.splitlines() if ln.startswith("coursekit:")]
    assert len(summary) == 1 and "bubblewrap" in summary[0], r.stdout[-2000:]
    assert "error" not in r.stdout.lower().split("short test summary")[-1]


def test_requires_python_matches_the_code():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["requires-python"] == ">=3.11"  # tomllib, used by the settings, is 3.11+
    assert meta["tool"]["ruff"]["target-version"] == "py311"
    assert isinstance(meta["project"]["license"], str)  # an SPDX expression, not a table
    assert sys.version_info >= (3, 11)
    assert "Python 3.11" in (ROOT / "README.md").read_text()
