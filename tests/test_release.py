"""notebooks/ is what nbgrader generates from solutions/, and the sources follow the contract."""

import json
from pathlib import Path

import pytest

from coursekit.grading.release import ReleaseError, release
from coursekit.notebooks import ASSIGNMENTS, nbgrader_meta, source_path

ROOT = Path(__file__).resolve().parents[1]

PRESENT = [a for a in ASSIGNMENTS if source_path(a, ROOT).is_file()]
MIN_EXERCISES = {"03_optimizer_races": 8}


def test_all_five_assignments_exist():
    assert PRESENT, "no assignment in solutions/"


@pytest.mark.parametrize("assignment", PRESENT)
def test_student_notebook_is_in_sync(assignment, tmp_path):
    out = release([assignment], release_dir=tmp_path / "release", db_url=f"sqlite:///{tmp_path}/gb.db")
    fresh = out[0].read_text(encoding="utf-8")
    committed = (ROOT / "notebooks" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8")
    assert fresh == committed, f"notebooks/{assignment} is stale: run `coursekit release {assignment}`"
    assert "BEGIN HIDDEN TESTS" not in committed and "BEGIN SOLUTION" not in committed


@pytest.mark.parametrize("assignment", PRESENT)
def test_source_notebook_follows_the_contract(assignment):
    nb = json.loads(source_path(assignment, ROOT).read_text(encoding="utf-8"))
    ids = []
    tests = 0
    for c in nb["cells"]:
        m = nbgrader_meta(c)
        if c["cell_type"] == "code":
            assert not c.get("outputs"), f"{assignment}: solutions are committed without outputs"
            assert m.get("grade_id"), f"{assignment}: a code cell has no nbgrader grade_id: {''.join(c['source'])[:60]!r}"
        if m.get("grade_id"):
            ids.append(m["grade_id"])
        if m.get("grade") and not m.get("solution"):
            tests += 1
            assert m.get("points", 0) > 0 and m.get("locked"), f"{assignment}: {m['grade_id']} needs points and a lock"
    assert len(ids) == len(set(ids)), f"{assignment}: duplicate grade_ids"
    assert tests >= MIN_EXERCISES.get(assignment, 6), f"{assignment}: only {tests} graded exercises"


def test_unknown_assignment_is_refused(tmp_path):
    with pytest.raises(ReleaseError, match="unknown assignment"):
        release(["99_nope"], release_dir=tmp_path, db_url=f"sqlite:///{tmp_path}/gb.db")
