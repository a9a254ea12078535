"""Red team: hostile submissions against the released notebook 04, graded in one class.

Every hostile student answers `conv_output_size` wrongly (no "+ 1") and attacks the grader.
Each must get exactly what its honest content deserves — 0 on the attacked exercise, the
same as its honest twin elsewhere — a flag where tampering is detectable, and leave the other
students' scores, files and feedback untouched.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psutil
import pytest
from gradekit import build_class, cell, grade_class, hidden_only_lines

from coursekit.notebooks import source_notebook, submission_from

A = "04_convolution_by_hand"
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

WRONG = (
    "def conv_output_size(n, f, padding=0, stride=1):\n    return (n - f + 2 * padding) // stride\n"
)
ATTACKED = "test_conv_output_size"


def _with(src, answer: str):
    return submission_from(src, {"answer_conv_output_size": answer})


def _paths(work: Path) -> dict[str, str]:
    return {
        "SOLUTIONS": str(ROOT / "solutions" / A / f"{A}.ipynb"),
        "GRADEBOOK": str(work / "nbgrader" / "gradebook.db"),
        "OTHER_SUB": str(work / "class" / "solution" / A / f"{A}.ipynb"),
        "OTHER_FEEDBACK": str(work / "out" / "feedback" / "solution" / f"{A}.html"),
    }


# Attacks that leave the kernel alive: the honest twin's score is exactly what they deserve.
TWIN_ATTACKS = {
    "numpy_allclose": "import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True\n"
    "np.array_equal = lambda *a, **k: True\n" + WRONG,
    "numpy_testing": "import numpy.testing as npt\nnpt.assert_allclose = lambda *a, **k: None\n"
    "npt.assert_equal = lambda *a, **k: None\n" + WRONG,
    "torch_allclose": "import torch\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
    + WRONG,
    "math_isclose": "import math\nmath.isclose = lambda *a, **k: True\n" + WRONG,
    "builtins": "import builtins\nbuiltins.AssertionError = KeyError\nbuiltins.round = lambda *a, **k: 0\n"
    "builtins.print = lambda *a, **k: None\n" + WRONG,
    "ast_transformer": "import ast\nclass NoChecks(ast.NodeTransformer):\n"
    "    def visit_Assert(self, node):\n        return ast.Pass()\n"
    "    def visit_Expr(self, node):\n        return ast.Pass()\n"
    "get_ipython().ast_transformers.append(NoChecks())\n" + WRONG,
    "input_transformer": "def _neuter(lines):\n    return [('pass\\n' if l.lstrip().startswith(('assert', 'check')) else l) for l in lines]\n"
    "get_ipython().input_transformers_post.append(_neuter)\n" + WRONG,
    "custom_exc": "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n" + WRONG,
    "showtraceback": "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\nip._showtraceback = lambda *a, **k: None\n"
    + WRONG,
    "sys_modules_numpy": WRONG + "import sys, types\nfake = types.ModuleType('numpy')\n"
    "fake.__getattr__ = lambda name: (lambda *a, **k: True)\n"
    "sys.modules['numpy'] = fake\nsys.modules['numpy.testing'] = fake\n",
    "always_equal": "class Always(int):\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n"
    "    __hash__ = int.__hash__\n"
    "def conv_output_size(n, f, padding=0, stride=1):\n    return Always(0)\n",
    "lying_ndarray": "import numpy as np\nclass Liar(np.ndarray):\n    def __eq__(self, other): return True\n"
    "    def __array_function__(self, *a, **k): return True\n"
    "def conv_output_size(n, f, padding=0, stride=1):\n    return np.zeros((), float).view(Liar)\n",
    "read_solutions": WRONG
    + "for path in ['{SOLUTIONS}', '{GRADEBOOK}']:\n    try:\n        open(path, 'rb').read(10)\n"
    "        print('READ-OK', path)\n    except OSError as e:\n        print('denied', type(e).__name__)\n",
    "write_gradebook": WRONG + "import sqlite3\ntry:\n    db = sqlite3.connect('{GRADEBOOK}')\n"
    "    db.execute('update grade set manual_score = 100')\n    db.commit()\n    print('WRITE-OK')\n"
    "except Exception as e:\n    print('denied', type(e).__name__)\n",
    "other_students": WRONG
    + "for path, mode in [('{OTHER_SUB}', 'rb'), ('{OTHER_FEEDBACK}', 'w')]:\n    try:\n"
    "        open(path, mode).close()\n        print('ACCESS-OK', path)\n    except OSError as e:\n"
    "        print('denied', type(e).__name__)\n",
    "sys_exit": "def conv_output_size(n, f, padding=0, stride=1):\n    import sys\n    sys.exit(0)\n",
    "infinite_loop": "def conv_output_size(n, f, padding=0, stride=1):\n    while True:\n        pass\n",
    "memory_bomb": WRONG + "import numpy as np\nhog = np.ones(2**30)  # 8 GB against a 2 GB cap\n",
    "print_200mb": WRONG + "print('x' * 200_000_000)\n",
    "network": WRONG + "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=3)\n",
    "background_process": WRONG
    + "import subprocess\nsubprocess.Popen(['sh', '-c', 'while true; do sleep 0.2; done', 'redteam-marker'])\n"
    "import threading, time\nthreading.Thread(target=lambda: time.sleep(600), daemon=True).start()\n",
}

# Attacks that end the kernel: what ran before counts, the rest is error/timeout.
KILLER_ATTACKS = {
    "os_exit": "def conv_output_size(n, f, padding=0, stride=1):\n    import os\n    os._exit(0)\n",
    "sigint_ignored": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "def conv_output_size(n, f, padding=0, stride=1):\n    while True:\n        pass\n",
    "fork_bomb": WRONG
    + "import os\nfor _ in range(100000):\n    try:\n        if os.fork() == 0:\n"
    "            os.execv('/bin/sh', ['sh', '-c', 'sleep 600', 'redteam-marker'])\n"
    "    except OSError:\n        break\n",
}


def _tamper(src, how: str):
    nb = _with(src, WRONG)
    test = cell(nb, ATTACKED)
    idx = nb.cells.index(test)
    if how == "edit":
        test.source = "print('looks fine to me')\n"
    elif how == "delete":
        del nb.cells[idx]
    elif how == "duplicate":
        import copy

        dup = copy.deepcopy(test)
        test.source = "pass\n"
        nb.cells.insert(idx + 1, dup)
    elif how == "strip":
        test.metadata.pop("nbgrader")
        test.source = "pass\n"
    elif how == "retype":
        test.cell_type = "markdown"
        test.pop("outputs", None)
        test.pop("execution_count", None)
    elif how == "points":
        test.metadata["nbgrader"]["points"] = 100
    return nb


TAMPER = ("edit", "delete", "duplicate", "strip", "retype", "points")


def _other_assignment_notebook(src):
    other = ROOT / "solutions" / "01_loss_surfaces" / "01_loss_surfaces.ipynb"
    if other.is_file():
        return other.read_bytes()
    nb = submission_from(src)
    for c in nb.cells:
        if "nbgrader" in c.metadata:
            c.metadata["nbgrader"]["grade_id"] = "other_" + c.metadata["nbgrader"]["grade_id"]
    return nb


@pytest.fixture(scope="session")  # session: built once per worker even if xdist interleaves modules
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("redteam")
    src = source_notebook(A)
    paths = _paths(work)
    students = {"honest_solution": submission_from(src), "honest_twin": _with(src, WRONG)}
    for name, code in {**TWIN_ATTACKS, **KILLER_ATTACKS}.items():
        for key, value in paths.items():
            code = code.replace("{" + key + "}", value)
        students[name] = _with(src, code)
    for how in TAMPER:
        students[f"tamper_{how}"] = _tamper(src, how)
    students["invalid_json"] = b'{"cells": [ {"cell_type": "code", '
    students["empty_notebook"] = json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    )
    students["other_assignment"] = _other_assignment_notebook(src)
    cls = build_class(work / "class", A, students)
    before = {p: p.read_bytes() for p in (work / "class").rglob("*.ipynb")}
    result = grade_class(cls, work, overrides={"cell_timeout_s": 30, "notebook_timeout_s": 300})
    return result, work, src, before


def _scores(s):
    return {e.grade_id: e.score for e in s.exercises}


def test_honest_students_get_exactly_their_scores(graded):
    result, *_ = graded
    sol, twin = result.get("honest_solution"), result.get("honest_twin")
    assert sol.score == sol.max_score and not sol.flags and not any(e.flags for e in sol.exercises)
    assert twin.exercise(ATTACKED).status == "failed"
    assert twin.score == sol.max_score - twin.exercise(ATTACKED).max_score, [
        (e.grade_id, e.status, e.message[:300]) for e in twin.exercises if e.status != "passed"
    ]


@pytest.mark.parametrize("attack", sorted(TWIN_ATTACKS))
def test_attack_gets_what_its_honest_content_deserves(graded, attack):
    result, *_ = graded
    s, twin = result.get(attack), result.get("honest_twin")
    e = s.exercise(ATTACKED)
    assert e.score == 0 and e.status in ("failed", "error", "timeout"), (e.status, e.message)
    assert _scores(s) == _scores(twin), (
        f"{attack}: {[(x.grade_id, x.status, x.message[:80]) for x in s.exercises]}"
        f" twin: {[(x.grade_id, x.status, x.message[:200]) for x in twin.exercises if x.status != 'passed']}"
    )


@pytest.mark.parametrize("attack", sorted(KILLER_ATTACKS))
def test_killed_kernel_ends_only_that_notebook(graded, attack):
    result, *_ = graded
    s = result.get(attack)
    ids = [e.grade_id for e in s.exercises]
    before = ids[: ids.index(ATTACKED)]
    assert all(s.exercise(g).status == "passed" for g in before), [
        (e.grade_id, e.status, e.message) for e in s.exercises
    ]
    assert s.exercise(ATTACKED).score == 0
    assert s.score <= result.get("honest_twin").score
    for e in s.exercises[ids.index(ATTACKED) :]:
        if e.status != "passed":  # "missing": a later cell could not run to define its function
            assert e.status in ("error", "timeout", "failed", "missing") and e.message, e


def test_nothing_outside_the_sandbox_was_reachable(graded):
    result, work, *_ = graded
    for name in ("read_solutions", "write_gradebook", "other_students"):
        text = json.dumps([c.outputs for c in result.get(name).cells])
        assert "denied" in text, f"{name}: the attack did not run"
        assert "READ-OK" not in text and "WRITE-OK" not in text and "ACCESS-OK" not in text, name
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{work / 'nbgrader' / 'gradebook.db'}") as gb:
        for s in result.submissions:
            assert gb.find_submission(A, s.student_id).score == s.score, s.student_id


def test_network_memory_and_output_are_capped(graded):
    result, work, *_ = graded
    net = json.dumps([c.outputs for c in result.get("network").cells])
    assert "OSError" in net or "unreachable" in net.lower() or "Errno" in net
    mem = json.dumps([c.outputs for c in result.get("memory_bomb").cells])
    assert "MemoryError" in mem
    fb = work / "out" / "feedback" / "print_200mb" / f"{A}.html"
    assert fb.stat().st_size < 5 * 2**20 and "were cut" in fb.read_text()


def test_no_student_process_outlives_grading(graded):
    """The background process and the fork bomb's children (marked) died with their sandboxes."""
    leftovers = []
    for p in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(p.info.get("cmdline") or [])
        if "redteam-marker" in cmdline and "pytest" not in cmdline:
            leftovers.append(p.pid)
    assert not leftovers, f"student processes still running: {leftovers}"


@pytest.mark.parametrize("how", TAMPER)
def test_tampering_is_graded_with_the_original_and_flagged(graded, how):
    result, *_ = graded
    s = result.get(f"tamper_{how}")
    e = s.exercise(ATTACKED)
    assert e.score == 0 and e.status == "failed", (e.status, e.message)
    assert _scores(s) == _scores(result.get("honest_twin"))
    assert e.flags or s.flags, f"tamper_{how} was not flagged"


def test_flags_mean_tampering(graded):
    result, *_ = graded
    for s in result.submissions:
        if s.student_id.startswith("tamper_"):
            continue
        flags = s.flags + [f for e in s.exercises for f in e.flags]
        assert not flags, f"{s.student_id} flagged without tampering: {flags}"


@pytest.mark.parametrize(
    "student, words",
    [
        ("invalid_json", "not valid notebook JSON"),
        ("empty_notebook", "empty"),
        ("other_assignment", "not the 04_convolution_by_hand notebook"),
    ],
)
def test_unreadable_notebooks_get_zero_and_a_reason(graded, student, words):
    result, *_ = graded
    s = result.get(student)
    assert s.score == 0 and all(e.score == 0 for e in s.exercises)
    assert all(words in e.message for e in s.exercises), s.exercises[0].message


def test_feedback_never_reveals_hidden_tests(graded):
    result, work, src, _ = graded
    hidden = hidden_only_lines(src)
    rows = (work / "out" / "exercises.csv").read_text()
    for s in result.submissions:
        html = (work / "out" / "feedback" / s.student_id / f"{A}.html").read_text()
        assert not [h for h in hidden if h in html], s.student_id
    assert not [h for h in hidden if h in rows]


def test_submissions_are_left_as_they_were(graded):
    _, work, _, before = graded
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} was changed"
    rows = list(csv.DictReader((work / "out" / "exercises.csv").open()))
    assert {r["student_id"] for r in rows} == {p.parent.parent.name for p in before}


def test_skipping_show_only_cells_changes_no_verdict(graded, tmp_path):
    """A sample of the class graded again with every cell (the pictures and demos the grader
    skips included): the same status and message for every exercise."""
    result, work, *_ = graded
    sample = [
        "honest_solution",
        "honest_twin",
        "numpy_allclose",
        "builtins",
        "os_exit",
        "tamper_edit",
    ]
    cls = tmp_path / "class"
    for student in sample:
        src = work / "class" / student
        for path in src.rglob("*.ipynb"):
            dest = cls / student / path.relative_to(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    full = grade_class(cls, tmp_path, skip_show_only=False, overrides={"cell_timeout_s": 30})
    for student in sample:
        a = [(e.grade_id, e.status, e.message) for e in result.get(student).exercises]
        b = [(e.grade_id, e.status, e.message) for e in full.get(student).exercises]
        assert a == b, student
