"""autograder/grading.toml: one source for the limits, every key checked, one clear error."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from coursekit.grading.config import Limits, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_the_defaults_are_the_shipped_settings():
    shipped = tomllib.loads((ROOT / "autograder" / "grading.toml").read_text())["limits"]
    defaults = dataclasses.asdict(Limits())
    assert shipped == defaults, "config.Limits and autograder/grading.toml disagree"


def _course_with(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "autograder").mkdir()
    (tmp_path / "solutions").mkdir()
    shutil.copy(ROOT / "autograder" / "nbgrader_config.py", tmp_path / "autograder")
    (tmp_path / "autograder" / "grading.toml").write_text(toml)
    return tmp_path


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("[limits]\ncell_timout_s = 10\n", "unknown setting 'cell_timout_s' in [limits]"),
        ("[limit]\ncell_timeout_s = 10\n", "unknown section [limit]"),
        ("[collect]\npattern = 'x'\n", "unknown setting 'pattern' in [collect]"),
        ("[assignments.04_convolution_by_hand]\nmemory = 1\n", "unknown setting 'memory'"),
        ("[assignments.99_nope]\nmemory_mb = 1\n", "[assignments.99_nope] is not an assignment"),
        ("[limits]\nmemory_mb = 'lots'\n", "memory_mb must be a positive number"),
        ("[limits]\nmemory_mb = -1\n", "memory_mb must be a positive number"),
        ("[limits\n", "not valid TOML"),
        ("[collect]\nzip_pattern = '(unclosed'\n", "not a regular expression"),
        ("[collect]\nzip_pattern = '(?P<student>.*)'\n", "needs the groups"),
    ],
)
def test_a_bad_setting_is_one_error_naming_the_key_and_the_file(tmp_path, toml, words):
    root = _course_with(tmp_path, toml)
    with pytest.raises(SettingsError) as info:
        load_settings(root)
    assert words in str(info.value) and str(root / "autograder" / "grading.toml") in str(info.value)


def test_the_command_prints_one_line_and_exits_2(tmp_path):
    root = _course_with(tmp_path, "[limits]\ncell_timout_s = 10\n")
    (tmp_path / "class").mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "coursekit.cli", "autograde", str(tmp_path / "class")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"COURSEKIT_COURSE_ROOT": str(root), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "cell_timout_s" in r.stderr, r.stderr


def test_per_assignment_overrides_apply_to_that_assignment_only():
    s = load_settings(ROOT)
    assert s.limits_for("05_lenet_mnist").cell_timeout_s > s.limits.cell_timeout_s
    assert s.limits_for("04_convolution_by_hand") == s.limits
