"""The contract every assignment keeps, checked for each one (a new notebook gets these for
free): its source follows nbgrader's metadata conventions, its student version is what nbgrader
generates, its test cells use only what the notebook defines, the solution passes every test and
a blank notebook fails every one — in this process and through the real sandboxed grader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gradekit import graded_class, judge_here, solution_namespace

from coursekit.grading.release import ReleaseError, release
from coursekit.grading.verdict import free_names
from coursekit.notebooks import (
    ASSIGNMENTS,
    cells_by_grade_id,
    nbgrader_meta,
    release_notebook,
    source_notebook,
    source_path,
)

ROOT = Path(__file__).resolve().parents[1]
PRESENT = [a for a in ASSIGNMENTS if source_path(a, ROOT).is_file()]
MIN_EXERCISES = 6
TITLE = re.compile(r"### Exercise (\d+) — `(\w+)[^`]*`[^(\n]*\((\d+) points?\)")
NOT_WRITTEN = ("not written yet",)


def _tests(nb) -> list:
    return [
        c
        for c in nb.cells
        if c.cell_type == "code"
        and nbgrader_meta(c).get("grade")
        and not nbgrader_meta(c).get("solution")
    ]


def _test_ids(assignment: str) -> list[str]:
    return [nbgrader_meta(c)["grade_id"] for c in _tests(source_notebook(assignment))]


CASES = [(a, t) for a in PRESENT for t in _test_ids(a)]


def test_the_course_has_assignments():
    assert len(PRESENT) >= 5, PRESENT


@pytest.mark.parametrize("assignment", PRESENT)
def test_source_follows_the_contract(assignment):
    nb = source_notebook(assignment)
    ids = []
    for c in nb.cells:
        m = nbgrader_meta(c)
        if c.cell_type == "code":
            assert not c.get("outputs") and c.get("execution_count") is None, (
                f"{assignment}: solutions are committed without outputs"
            )
            assert m.get("grade_id"), (
                f"{assignment}: a code cell has no nbgrader grade_id: {c.source[:60]!r}"
            )
        if m.get("grade_id"):
            ids.append(m["grade_id"])
    assert len(ids) == len(set(ids)), f"{assignment}: duplicate grade_ids"
    tests = _tests(nb)
    assert len(tests) >= MIN_EXERCISES, f"{assignment}: only {len(tests)} graded exercises"
    cells = cells_by_grade_id(nb)
    for t in tests:
        m = nbgrader_meta(t)
        assert m.get("points", 0) > 0 and m.get("locked"), (
            f"{assignment}: {m['grade_id']} needs points and a lock"
        )
        assert "### BEGIN HIDDEN TESTS" in t.source, (
            f"{assignment}: {m['grade_id']} has no hidden tests"
        )
        answer = m["grade_id"].replace("test_", "answer_", 1)
        assert answer in cells and nbgrader_meta(cells[answer]).get("solution"), (
            f"{assignment}: {m['grade_id']} has no answer cell {answer}"
        )


@pytest.mark.parametrize("assignment", PRESENT)
def test_exercise_titles_are_numbered_and_match_the_points(assignment):
    nb = source_notebook(assignment)
    titles = [
        m.groups() for c in nb.cells if c.cell_type == "markdown" for m in TITLE.finditer(c.source)
    ]
    assert [int(n) for n, _, _ in titles] == list(range(1, len(titles) + 1)), titles
    points = {
        nbgrader_meta(t)["grade_id"].removeprefix("test_"): nbgrader_meta(t)["points"]
        for t in _tests(nb)
    }
    assert {name: int(p) for _, name, p in titles} == points


@pytest.mark.parametrize("assignment", PRESENT)
def test_student_version_is_what_nbgrader_generates(assignment, tmp_path):
    out = release(
        [assignment], release_dir=tmp_path / "release", db_url=f"sqlite:///{tmp_path}/gb.db"
    )
    fresh = out[0].read_text(encoding="utf-8")
    committed = (ROOT / "notebooks" / assignment / f"{assignment}.ipynb").read_text(
        encoding="utf-8"
    )
    assert fresh == committed, (
        f"notebooks/{assignment} is stale: run `coursekit release {assignment}`"
    )
    rel = release_notebook(assignment)
    text = "\n".join(c.source for c in rel.cells)
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    for gid, c in cells_by_grade_id(rel).items():
        if nbgrader_meta(c).get("solution") and c.cell_type == "code":
            assert "raise NotImplementedError()" in c.source, f"{assignment}: {gid} is not a stub"


@pytest.mark.parametrize("assignment", PRESENT)
def test_test_cells_use_only_what_the_notebook_defines(assignment):
    """A name a test cell reads but does not define must come from the notebook (an answer or an
    instructor cell): the grader looks it up in the student's kernel."""
    ns = solution_namespace(assignment)
    for t in _tests(source_notebook(assignment)):
        missing = [n for n in free_names(t.source) if n not in ns]
        assert not missing, (
            f"{assignment}: {nbgrader_meta(t)['grade_id']} reads {missing}, which nothing defines"
        )


def _code(cell) -> str:
    return "\n".join(
        ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!"))
    )


@pytest.mark.parametrize("assignment", PRESENT)
def test_show_only_cells_define_nothing_a_later_cell_reads(assignment):
    """A cell tagged `show-only` (a picture, a widget demo) is skipped when grading: nothing it
    binds may be read by a later cell that is not itself show-only (`coursekit release` refuses
    otherwise)."""
    import json

    from coursekit.grading.release import show_only_problems

    nb = json.loads(source_path(assignment, ROOT).read_text(encoding="utf-8"))
    assert not show_only_problems(nb)


def _cells(*sources: tuple[str, bool]) -> dict:
    return {
        "cells": [
            {
                "cell_type": "code",
                "source": src,
                "metadata": {
                    "tags": ["show-only"] if tagged else [],
                    "nbgrader": {"grade_id": f"c{i}"},
                },
            }
            for i, (src, tagged) in enumerate(sources)
        ]
    }


@pytest.mark.parametrize(
    "demo, later, problem",
    [
        ("fig = plot(W)", "print(W.sum())", None),  # reads W, binds only fig
        ("W = W * 2", "check(W)", "c1 is tagged show-only but c2 reads W"),
        ("model.lr = 0.5", "train(model)", "c1 is tagged show-only but c2 reads model"),
        ("table['a'][0] = 1", "check(table)", "c1 is tagged show-only but c2 reads table"),
        ("del cache[key]", "use(cache)", "c1 is tagged show-only but c2 reads cache"),
        (
            "def f():\n    global seen\n    seen = 1\nf()",
            "print(seen)",
            "c1 is tagged show-only but c2 reads seen",
        ),
        ("import torch as T", "T.zeros(1)", "c1 is tagged show-only but c2 reads T"),
    ],
)
def test_show_only_check_sees_bindings_and_in_place_changes(demo, later, problem):
    from coursekit.grading.release import show_only_problems

    got = show_only_problems(_cells(("W = 1", False), (demo, True), (later, False)))
    if problem is None:
        assert got == []
    else:
        assert len(got) == 1 and problem in got[0], got
    # a later cell that is show-only itself may read what the demo left
    assert show_only_problems(_cells(("W = 1", False), (demo, True), (later, True))) == []


def test_release_refuses_an_unsafe_show_only_tag(tmp_path):
    import json
    import shutil

    from coursekit.grading.release import ReleaseError

    a = "01_loss_surfaces"
    root = tmp_path / "course"
    shutil.copytree(ROOT / "autograder", root / "autograder", ignore=shutil.ignore_patterns("*.db"))
    (root / "solutions" / a).mkdir(parents=True)
    nb = json.loads(source_path(a, ROOT).read_text(encoding="utf-8"))
    data = next(
        c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "cell_setup"
    )
    data["metadata"]["tags"] = ["show-only"]  # np: read by every answer
    (root / "solutions" / a / f"{a}.ipynb").write_text(json.dumps(nb))
    with pytest.raises(ReleaseError, match="cell_setup is tagged show-only but .* reads"):
        release([a], root=root, release_dir=tmp_path / "rel", db_url=f"sqlite:///{tmp_path}/gb.db")


_BEING_REWORKED: set[str] = set()  # notebooks whose rework is in progress (none now)


def _bound(src: str) -> set[str]:
    import ast

    tree = ast.parse(src)
    names = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    return names | {
        n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))
    }


@pytest.mark.parametrize("assignment", PRESENT)
def test_no_instructor_cell_reads_what_a_visible_test_overwrote(assignment):
    """The visible checks run in the student's kernel too and may rebind names (x, model, W):
    an instructor cell below must not read a name whose latest binding above it is a test's."""
    from coursekit.notebooks import split_hidden

    if assignment in _BEING_REWORKED:
        pytest.skip(f"{assignment} is being reworked (teaching-validity issue)")
    last: dict[str, str] = {}  # name → the grade_id that bound it last
    for c in source_notebook(assignment).cells:
        if c.cell_type != "code":
            continue
        meta = nbgrader_meta(c)
        if meta.get("grade") and not meta.get("solution"):
            for name in _bound(split_hidden(_code(c))[0]):
                last[name] = meta["grade_id"]
            continue
        if not meta.get("solution"):
            for name in free_names(_code(c)):
                assert not last.get(name, "").startswith("test_"), (
                    f"{assignment}: {meta['grade_id']} reads {name!r}, last bound by {last[name]}"
                )
        for name in _bound(_code(c)):
            last[name] = meta["grade_id"]


@pytest.mark.parametrize("assignment, test", CASES)
def test_solution_passes_every_test_here(assignment, test):
    run = judge_here(assignment, test)
    assert run.passed, f"{run.part}: {type(run.error).__name__}: {run.error}"


@pytest.mark.parametrize("assignment, test", CASES)
def test_blank_answer_fails_its_test_here(assignment, test):
    """The released stub in place of the solution's answer: the test fails, saying it is not
    written (in-process an unwritten function raises NotImplementedError as is)."""
    answer = test.replace("test_", "answer_", 1)
    stub = cells_by_grade_id(release_notebook(assignment))[answer].source
    run = judge_here(assignment, test, {answer: stub})
    assert not run.passed
    assert isinstance(run.error, NotImplementedError) or any(
        w in str(run.error) for w in NOT_WRITTEN
    ), f"{type(run.error).__name__}: {run.error}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", PRESENT)
def test_graded_solution_gets_full_marks(assignment, tmp_path_factory):
    s = graded_class(assignment, tmp_path_factory).get("solution", assignment)
    assert not s.error and not s.flagged, (s.error, s.all_flags())
    assert s.score == s.max_score > 0, [
        (e.grade_id, e.status, e.message[:200]) for e in s.exercises if e.status != "passed"
    ]
    errors = [c.source[:60] for c in s.cells for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, errors


@pytest.mark.slow
@pytest.mark.parametrize("assignment", PRESENT)
def test_graded_blank_gets_zero_saying_not_written(assignment, tmp_path_factory):
    s = graded_class(assignment, tmp_path_factory).get("blank", assignment)
    assert len(s.exercises) == len(_test_ids(assignment)) and not s.flagged
    for e in s.exercises:
        assert e.score == 0 and e.status in ("failed", "error"), (e.grade_id, e.status)
        assert any(w in e.message for w in NOT_WRITTEN), (e.grade_id, e.message)


def test_unknown_assignment_is_refused(tmp_path):
    with pytest.raises(ReleaseError, match="unknown assignment"):
        release(["99_nope"], release_dir=tmp_path, db_url=f"sqlite:///{tmp_path}/gb.db")
