"""The validity table (tests/validity/): every classic mistake loses its exercise's points with a
message that names it, from the first check that fails; every legitimate alternative keeps full
marks. Each case runs through the one test-cell runner against the solution's namespace; a sample
of cases per notebook goes through the real sandboxed grader, which must agree."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from gradekit import graded_class, judge_here, register_students

from coursekit.notebooks import (
    ASSIGNMENTS,
    cells_by_grade_id,
    release_notebook,
    source_notebook,
    submission_from,
)

HERE = Path(__file__).resolve().parent
SAMPLE_SIZE = 4  # cases per sample student


def _tables() -> dict[str, list]:
    out = {}
    for path in sorted((HERE / "validity").glob("nb*.py")):
        assignment = path.stem[2:]
        if assignment not in ASSIGNMENTS:
            raise ValueError(f"{path.name}: {assignment!r} is not an assignment")
        out[assignment] = importlib.import_module(f"validity.{path.stem}").CASES
    return out


TABLES = _tables()
CASES = [(a, c) for a, cases in TABLES.items() for c in cases]


def _message(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _run(assignment: str, case, *, hidden: bool = True):
    return judge_here(assignment, case.test, dict(case.answers), hidden=hidden)


def test_the_table_is_well_formed():
    for assignment, cases in TABLES.items():
        tests = set(cells_by_grade_id(source_notebook(assignment)))
        ids = [c.id for c in cases]
        assert len(ids) == len(set(ids)), f"{assignment}: duplicate cases"
        for c in cases:
            assert c.test in tests, f"{assignment}: {c.id}: no test cell {c.test}"
            assert all(g in tests for g in c.answers), f"{assignment}: {c.id}: unknown answer cell"


@pytest.mark.parametrize("assignment", sorted(TABLES))
def test_every_exercise_has_three_mistakes_and_two_alternatives(assignment):
    for test in (
        g for g in cells_by_grade_id(source_notebook(assignment)) if g.startswith("test_")
    ):
        mine = [c for c in TABLES[assignment] if c.test == test]
        assert sum(not c.passes for c in mine) >= 3 and sum(c.passes for c in mine) >= 2, (
            f"{assignment}: {test} has {sum(not c.passes for c in mine)} mistakes and "
            f"{sum(c.passes for c in mine)} alternatives"
        )


@pytest.mark.parametrize(("assignment", "case"), CASES, ids=[f"{a}: {c.id}" for a, c in CASES])
def test_case_gets_its_verdict(assignment, case):
    run = _run(assignment, case)
    if case.passes:
        assert run.passed, f"an alternative lost its points ({run.part}): {_message(run.error)}"
        return
    assert not run.passed, "a mistake kept its points"
    text = _message(run.error).lower()
    missing = [w for w in case.words if w.lower() not in text]
    assert not missing, (
        f"the message does not name the mistake (missing {missing}): {_message(run.error)}"
    )
    if case.hidden:
        assert run.part == "hidden" and _run(assignment, case, hidden=False).passed, (
            "marked hidden-only, but the visible checks catch it: drop hidden=True"
        )
    else:
        assert run.part == "visible", (
            f"only the hidden tests catch it: the visible checks let it through ({_message(run.error)})"
        )


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(TABLES))
def test_skipping_show_only_cells_changes_no_verdict(assignment):
    """The whole table judged again against a namespace built from every cell (the pictures and
    demos the grader skips included): the same verdict and message for every case."""
    import re

    def words(run) -> str:  # the message without its figures: a demo cell skipped or not
        # draws from the global random state first, so a quoted statistic may differ
        return re.sub(r"[-+]?\d[\d.,]*(e[-+]?\d+)?", "#", _message(run.error)) if run.error else ""

    changed = []
    for case in TABLES[assignment]:
        a = _run(assignment, case)
        b = judge_here(assignment, case.test, dict(case.answers), skip_show_only=False)
        if (a.passed, a.part, words(a)) != (b.passed, b.part, words(b)):
            changed.append((case.id, words(a), words(b)))
    assert not changed, changed


# --- a sample through the real grader -------------------------------------------------------------


def _samples(assignment: str) -> dict[str, list]:
    """Students made of several cases with disjoint answer cells: mistakes, and alternatives."""
    out: dict[str, list] = {}
    for label, want in (("validity_mistakes", False), ("validity_alternatives", True)):
        chosen, used, tests = [], set(), set()
        for c in TABLES.get(assignment, []):
            if c.passes is want and c.test not in tests and not (set(c.answers) & used):
                chosen.append(c)
                used |= set(c.answers)
                tests.add(c.test)
            if len(chosen) == SAMPLE_SIZE:
                break
        if chosen:
            out[label] = chosen
    return out


def _sample_notebooks(assignment: str):
    def make() -> dict:
        rel, src = release_notebook(assignment), source_notebook(assignment)
        solution = {
            g: c.source for g, c in cells_by_grade_id(src).items() if g.startswith("answer_")
        }
        students = {}
        for label, cases in _samples(assignment).items():
            answers = dict(solution)
            for c in cases:
                answers.update(c.answers)
            students[label] = submission_from(rel, answers)
        return students

    return make


for _a in TABLES:
    register_students(_a, _sample_notebooks(_a))

SAMPLED = [(a, label, c) for a in TABLES for label, cases in _samples(a).items() for c in cases]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("assignment", "student", "case"), SAMPLED, ids=[f"{a}: {c.id}" for a, _, c in SAMPLED]
)
def test_the_grader_agrees_on_a_sample(assignment, student, case, tmp_path_factory):
    e = graded_class(assignment, tmp_path_factory).get(student, assignment).exercise(case.test)
    if case.passes:
        assert e.status == "passed", (e.status, e.message)
        return
    assert e.status == "failed" and e.score == 0, (e.status, e.message)
    missing = [w for w in case.words if w.lower() not in e.message.lower()]
    assert not missing, f"the grader's message does not name the mistake: {e.message}"
