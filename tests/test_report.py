"""The class report (coursekit.report, report_html, similarity): counts, mistakes, similar pairs.

Fast tests build results in memory. Slow tests grade two classes once each (module fixtures,
workers=2): the bundled demo class, and a generated class of 40 for notebook 04 — mixed known
mistakes from notebook 04's validity table (tests/validity/nb04_convolution_by_hand.py), two
near-copies with renamed variables, one late student, one who edited a test cell, one blank.

    .venv/bin/python -m pytest tests/test_report.py -m "not slow"   # seconds
    .venv/bin/python -m pytest tests/test_report.py                 # + ~3 min of grading
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest
import validity.nb04_convolution_by_hand as nb04
from gradekit import build_class, grade_class, set_cell

from coursekit.cli import main
from coursekit.grading.results import (
    STATUSES,
    CellRecord,
    ClassResult,
    ExerciseResult,
    SubmissionResult,
)
from coursekit.notebooks import (
    cells_by_grade_id,
    nbgrader_meta,
    release_notebook,
    source_notebook,
    submission_from,
)
from coursekit.report import (
    build_report,
    load_result,
    mistake_key,
    named_hint,
    read_late,
    write_report,
)
from coursekit.similarity import boilerplate_for, find_similar

ROOT = Path(__file__).resolve().parents[1]
A = "04_convolution_by_hand"
FUNCTIONS = [  # notebook 04's exercises, by the function each answer cell defines
    "cross_correlate2d",
    "convolve2d",
    "conv_output_size",
    "conv2d_naive",
    "conv2d_num_params",
    "pool2d",
    "conv2d_fast",
]


def _answers(overrides: dict) -> dict[str, str]:
    """{answer grade_id: source}: the solution's, with `overrides` {function: source, or None for
    the released stub} (the answers are the validity table's, tests/validity/nb04_*.py)."""
    src, rel = cells_by_grade_id(source_notebook(A)), cells_by_grade_id(release_notebook(A))
    out = {}
    for gid, c in src.items():
        if not nbgrader_meta(c).get("solution"):
            continue
        fn = gid.removeprefix("answer_")
        if fn in overrides:
            out[gid] = rel[gid].source if overrides[fn] is None else overrides[fn]
        else:
            out[gid] = c.source
    return out


# --- the generated class of 40 -----------------------------------------------------------------

SWAPPED = [f"s{i:02d}" for i in (1, 2, 3, 4, 6, 8, 10, 12, 14, 20, 22, 24)]  # avg, not max pooling
STRIDE1 = [f"s{i:02d}" for i in (5, 7, 11, 13, 15)]  # pooling windows move by 1
FLIPPED = [f"s{i:02d}" for i in (2, 6, 16, 18, 19, 21)]  # cross-correlation's kernel flipped
CEIL = [f"s{i:02d}" for i in (1, 3, 8, 23, 25, 26, 27)]  # conv_output_size rounds up
NO_BIAS = [f"s{i:02d}" for i in (4, 10, 28, 29, 30)]  # conv2d_num_params forgets the biases
NOT_FLIPPED = [f"s{i:02d}" for i in (12, 14, 32, 33, 34)]  # convolve2d does not flip
NO_FAST = [f"s{i:02d}" for i in (5, 19, 32, 35, 36, 37)]  # conv2d_fast left as the stub
# pool2d off by a constant: the same unnamed mistake, messages that differ only in numbers
OFF = {"s38": "+ 1.0", "s39": "* 2.0", "s09": "- 0.5"}
COPIER, ORIGINAL = "s31", "s17"  # near-copies: s31 renamed s17's variables
LATE, TAMPERED, BLANK = "s05", "s09", "s40"
# the roster also lists s41 and s42, who handed nothing in

ORIGINAL_ANSWERS = {
    "cross_correlate2d": nb04.XCORR_FLOAT32,
    "conv_output_size": nb04.SIZE_PAD_ONCE,
    "pool2d": nb04.POOL_LOOPS_TORCH,
    "conv2d_fast": nb04.FAST_OFFSET_LOOPS,
}
RENAMES = {  # the copier's edits: other names, a comment, other blank lines
    "cross_correlate2d": {"win": "patches", "kh": "hk", "kw": "wk"},
    "conv_output_size": {},
    "pool2d": {"t": "ten", "out": "res", "win": "blk", "Ho": "OH", "Wo": "OW"},
    "conv2d_fast": {"cols": "columns", "xp": "padded", "out": "y", "m": "r", "q": "cc"},
}


def _renamed(fn: str, text: str) -> str:
    for old, new in RENAMES[fn].items():
        text = re.sub(rf"\b{old}\b", new, text)
    return f"# my own version of {fn}\n" + text.replace("\n\n", "\n").rstrip() + "\n\n"


def _pool_off(op: str) -> str:
    """The solution's pool2d, its max pooling off by a constant (`op`, e.g. "+ 1.0")."""
    src = cells_by_grade_id(source_notebook(A))["answer_pool2d"].source
    old = 'return windows.max(axis=(-2, -1)) if mode == "max"'
    assert old in src
    return src.replace(old, f'return windows.max(axis=(-2, -1)) {op} if mode == "max"')


def forty_students() -> dict:
    rel = release_notebook(A)
    students = {}
    for i in range(1, 41):
        sid = f"s{i:02d}"
        over: dict = {}
        for group, fn, answer in (
            (SWAPPED, "pool2d", nb04.POOL_SWAPPED),
            (STRIDE1, "pool2d", nb04.POOL_STRIDE1),
            (FLIPPED, "cross_correlate2d", nb04.XCORR_FLIPPED),
            (CEIL, "conv_output_size", nb04.SIZE_CEIL),
            (NO_BIAS, "conv2d_num_params", nb04.PARAMS_NO_BIAS),
            (NOT_FLIPPED, "convolve2d", nb04.CONV_NOT_FLIPPED),
            (NO_FAST, "conv2d_fast", None),
        ):
            if sid in group:
                over[fn] = answer
        if sid in OFF:
            over["pool2d"] = _pool_off(OFF[sid])
        if sid == ORIGINAL:
            over = dict(ORIGINAL_ANSWERS)
        if sid == COPIER:
            over = {fn: _renamed(fn, text) for fn, text in ORIGINAL_ANSWERS.items()}
        if sid == BLANK:
            over = dict.fromkeys(FUNCTIONS)
        nb = submission_from(rel, _answers(over))
        if sid == TAMPERED:
            set_cell(nb, "test_pool2d", "print('pool2d: ok')\n")
        students[sid] = nb
    return students


@pytest.fixture(scope="module")
def forty(tmp_path_factory):
    work = tmp_path_factory.mktemp("forty")
    result = grade_class(build_class(work / "class", A, forty_students()), work, workers=2)
    roster = work / "roster.csv"  # s01..s40, and s41, s42 who handed nothing in
    roster.write_text(
        "student_id,first_name,last_name,email\n"
        + "".join(f"s{i:02d},F,L,s{i:02d}@uni.example\n" for i in range(1, 43)),
        encoding="utf-8",
    )
    write_report(result, late={LATE}, roster=roster)
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    return grade_class(ROOT / "autograder" / "demo_class", work, workers=2)


def _csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _assert_counts_match_exercises_csv(out: Path) -> None:
    rows = _csv(out / "exercises.csv")
    want = Counter((r["assignment"], r["grade_id"], r["status"]) for r in rows)
    table = _csv(out / "report" / "exercise_status.csv")
    got = Counter()
    for r in table:
        for s in STATUSES:
            if int(r[s]):
                got[(r["assignment"], r["grade_id"], s)] = int(r[s])
        assert int(r["total"]) == sum(int(r[s]) for s in STATUSES)
    assert got == want
    page = (out / "report.html").read_text(encoding="utf-8")
    for (assignment, gid, status), n in want.items():
        section = re.search(rf'<section id="{assignment}">(.*?)</section>', page, re.S)
        row = re.search(rf'<tr data-grade-id="{gid}">(.*?)</tr>', section.group(1), re.S)
        assert row, gid
        cell = re.search(rf'data-status="{status}">(\d+)<', row.group(1))
        assert cell and int(cell.group(1)) == n, (gid, status)
    grades = _csv(out / "grades.csv")
    summary = {r["assignment"]: r for r in _csv(out / "report" / "assignments.csv")}
    for assignment in {g["assignment"] for g in grades}:
        scores = sorted(float(g["score"]) for g in grades if g["assignment"] == assignment)
        s = summary[assignment]
        assert int(s["graded"]) == len(scores)
        assert float(s["mean"]) == pytest.approx(sum(scores) / len(scores), rel=1e-3)
        flagged = {r["student_id"] for r in rows if r["assignment"] == assignment and r["flags"]}
        assert int(s["flagged"]) == len(flagged)
        hist = [
            r for r in _csv(out / "report" / "score_histogram.csv") if r["assignment"] == assignment
        ]
        assert sum(int(h["students"]) for h in hist) == len(scores)


# --- fast: the named mistake ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "status", "hint"),
    [
        (
            "Correia's example, 2x2 max pooling: your result matches a known mistake: this is avg "
            "pooling, not max pooling.",
            "failed",
            "this is avg pooling, not max pooling",
        ),
        (
            "a hidden test failed: pool2d: your result matches a known mistake: this is avg "
            "pooling, not max pooling.",
            "failed",
            "this is avg pooling, not max pooling",
        ),
        (
            "conv_output_size(7, 3, padding=0, stride=3): you rounded up (Kalogerakis writes a "
            "ceiling); PyTorch floors: only windows that fit count. Expected 2, got 3.",
            "failed",
            "you rounded up (Kalogerakis writes a ceiling); PyTorch floors: only windows that fit count",
        ),
        (
            "pool2d(x, 2): the values are wrong (rel_error = 3.3e-01, should be below 1e-07). "
            "Largest difference 1 at index (0, 0, 1, 1).",
            "failed",
            "the values are wrong",
        ),
        (
            "cross_correlate2d: the output has the wrong shape. Expected (2, 2), got (1, 1).",
            "failed",
            "the output has the wrong shape",
        ),
        (
            "conv2d_fast: it calls a ready-made implementation (conv2d). Build it yourself.",
            "failed",
            "it calls a ready-made implementation (conv2d). Build it yourself",
        ),
        (
            "`conv2d_naive` raised ValueError: operands could not be broadcast together with "
            "shapes (2,3) (4,5)\n  File ...",
            "error",
            "`conv2d_naive` raised ValueError: operands could not be broadcast together with shapes",
        ),
        (
            "TypeError: unsupported operand type(s) for +: 'int' and 'str'",
            "failed",
            "TypeError: unsupported operand type(s) for +: 'int' and 'str'",
        ),
        (
            "your notebook's kernel stopped while this was tested: the kernel exited (exit code "
            "137: os._exit, sys.exit or a crash)",
            "error",
            "your notebook's kernel stopped while this was tested: the kernel exited",
        ),
    ],
)
def test_named_hint_keeps_the_mistake_and_drops_what_varies(message, status, hint):
    assert named_hint(message, status) == hint


def _sub(student: str, messages: dict[str, tuple[str, str]], **kw) -> SubmissionResult:
    ex = [
        ExerciseResult(
            student, "04_convolution_by_hand", gid, 1.0 if st == "passed" else 0.0, 1.0, st, m
        )
        for gid, (st, m) in messages.items()
    ]
    return SubmissionResult(student, "04_convolution_by_hand", ex, **kw)


def test_mistakes_group_by_named_hint_not_by_text(tmp_path):
    wrong = "pool2d(x, {n}): the values are wrong (rel_error = {e}, should be below 1e-07). Largest difference {d} at index (0, {n})."
    subs = [
        _sub(f"v{i}", {"test_pool2d": ("failed", wrong.format(n=i, e=f"{i / 7:.1e}", d=i * 3))})
        for i in range(1, 5)
    ]
    subs += [
        _sub(
            f"a{i}",
            {
                "test_pool2d": (
                    "failed",
                    f"{case}: your result matches a known mistake: this is avg pooling, not max pooling.",
                )
            },
        )
        for i, case in enumerate(["Correia's example", "a hidden test failed: pool2d(x, 3)"] * 3)
    ]
    subs.append(_sub("ok", {"test_pool2d": ("passed", "")}))
    report = build_report(ClassResult(tmp_path, subs), similarity=False)
    groups = {m.mistake: m for m in report.mistakes}
    assert set(groups) == {"this is avg pooling, not max pooling", "the values are wrong"}
    assert groups["this is avg pooling, not max pooling"].students == [f"a{i}" for i in range(6)]
    assert groups["the values are wrong"].students == ["v1", "v2", "v3", "v4"]
    assert groups["the values are wrong"].share == pytest.approx(4 / 11)
    # most frequent first, each with its share of the class
    assert [m.mistake for m in report.mistakes][0] == "this is avg pooling, not max pooling"
    assert mistake_key("the + 1 is missing") == mistake_key("The + 2 is missing")


def test_student_text_is_escaped_and_no_script_can_run(tmp_path):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    sub = _sub("mallory", {"test_pool2d": ("failed", f"pool2d: {evil}")}, flags=[f"flag {evil}"])
    sub.cells = [
        CellRecord(
            "code",
            f"def pool2d():\n    return '{evil}'\n",
            [],
            {"grade_id": "answer_pool2d", "solution": True},
        )
    ]
    twin = _sub("trudy", {"test_pool2d": ("failed", "x")})
    twin.cells = [CellRecord("code", c.source, [], dict(c.nbgrader)) for c in sub.cells]
    report = build_report(ClassResult(tmp_path, [sub, twin]), similarity=False)
    from coursekit.report_html import render
    from coursekit.similarity import PairCell, SimilarPair

    report.similar = [
        SimilarPair(
            A,
            "mallory",
            "trudy",
            500,
            (1.0, 1.0),
            [PairCell("answer_pool2d", [(evil, True)], [(evil, False)])],
        )
    ]
    page = render(report)
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert len(re.findall(r"<img ", page)) == len(
        re.findall(r'<img src="data:image/png;base64,', page)
    )


def test_needs_a_look_names_flags_timeouts_dead_kernels_and_zeros(tmp_path):
    subs = [
        _sub("fine", {"t1": ("passed", ""), "t2": ("passed", "")}),
        _sub(
            "cheat",
            {"t1": ("passed", ""), "t2": ("passed", "")},
            flags=["the test cell 't2' was edited"],
        ),
        _sub("slow", {"t1": ("passed", ""), "t2": ("timeout", "`f` did not finish")}),
        _sub(
            "dead",
            {
                "t1": ("error", "your notebook's kernel stopped while this was tested: exit 137"),
                "t2": ("error", "not graded: the kernel exited (in an earlier cell)"),
            },
        ),
        _sub("nothing", {"t1": ("error", "`f` is not written yet"), "t2": ("failed", "no")}),
        _sub(
            "stuck",
            {
                "t1": ("passed", ""),
                "t2": (
                    "timeout",
                    "not graded: the cell did not stop within 30 s (in an earlier cell)",
                ),
                "t3": (
                    "timeout",
                    "not graded: the cell did not stop within 30 s (in an earlier cell)",
                ),
            },
        ),
    ]
    look = {
        r.student_id: r.reasons
        for r in build_report(ClassResult(tmp_path, subs), similarity=False).look
    }
    assert set(look) == {"cheat", "slow", "dead", "nothing", "stuck"}
    assert look["stuck"] == ["from t2 on, not graded: the cell did not stop within 30 s"]
    assert look["cheat"] == ["flagged: the test cell 't2' was edited"]
    assert look["slow"] == ["timeout in t2"]
    assert look["dead"] == ["the kernel died in t1", "zero score"]
    assert look["nothing"] == ["zero score"]


def test_late_list_and_missing_from_roster(tmp_path):
    path = tmp_path / "late.csv"
    path.write_text(
        "student_id,assignment\n# a comment\nb\nc,04_convolution_by_hand\nd,01_loss_surfaces\n"
    )
    late = read_late(path)
    assert late == {("b", None), ("c", "04_convolution_by_hand"), ("d", "01_loss_surfaces")}
    subs = [_sub(s, {"t": ("passed", "")}) for s in "abcd"]
    report = build_report(
        ClassResult(tmp_path, subs),
        late=late,
        roster=["a", "b", "c", "d", "e", "f"],
        similarity=False,
    )
    (s,) = report.summaries
    assert (s.graded, s.late, s.missing) == (4, 2, 2)


def test_similarity_discounts_starter_code_and_solution():
    def sub(sid, over):
        answers = _answers(over)
        cells = [
            CellRecord("code", t, [], {"grade_id": g, "solution": True}) for g, t in answers.items()
        ]
        return SubmissionResult(sid, A, [], cells=cells)

    honest = [sub("sol1", {}), sub("sol2", {}), sub("blank1", dict.fromkeys(FUNCTIONS))]
    honest.append(sub("blank2", dict.fromkeys(FUNCTIONS)))
    copy = {fn: _renamed(fn, t) for fn, t in ORIGINAL_ANSWERS.items()}
    pairs = find_similar(
        [*honest, sub("orig", ORIGINAL_ANSWERS), sub("copy", copy)], boilerplate_for(A)
    )
    assert [(p.a, p.b) for p in pairs] == [("copy", "orig")]
    p = pairs[0]
    assert min(p.share) > 0.8 and p.overlap > 300
    cell = next(c for c in p.cells if c.grade_id == "answer_pool2d")
    assert any(hit and "blk" in line for line, hit in cell.a)  # the copier's renamed line
    assert any(hit and "win" in line for line, hit in cell.b)  # matches the original's
    # without discounting the starter code and the solution, honest students look alike
    raw = find_similar(honest, {}, min_share=0.5)
    assert raw and {(p.a, p.b) for p in raw} & {("blank1", "blank2"), ("sol1", "sol2")}


# --- slow: real classes through the real grader ------------------------------------------------


@pytest.mark.slow
def test_demo_class_report_counts_match_exercises_csv(demo):
    out = demo.out
    assert (out / "report.html").is_file()  # autograde wrote it
    _assert_counts_match_exercises_csv(out)
    look = {r["student_id"]: r["reasons"] for r in _csv(out / "report" / "needs_a_look.csv")}
    assert look == {
        "blank": "zero score",
        "crasher": "the kernel died in test_conv2d_naive",
        "loops": "timeout in test_conv_output_size",
    }
    mistakes = _csv(out / "report" / "mistakes.csv")
    pool = [m for m in mistakes if m["grade_id"] == "test_pool2d" and m["status"] == "failed"]
    assert [(m["mistake"], m["student_ids"]) for m in pool] == [
        ("this is avg pooling, not max pooling", "partial")
    ]
    assert _csv(out / "report" / "similar.csv") == []
    times = _csv(out / "report" / "grading_time.csv")
    assert sorted(t["student_id"] for t in times) == sorted(s.student_id for s in demo.submissions)
    assert all(float(t["seconds"]) > 0 for t in times)


@pytest.mark.slow
def test_report_command_rebuilds_the_same_report_from_the_out_folder(demo, capsys):
    out = demo.out
    before = (out / "report" / "exercise_status.csv").read_text()
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    assert (out / "report" / "exercise_status.csv").read_text() == before
    assert load_result(out).table() == demo.table()


@pytest.mark.slow
def test_forty_counts_match_exercises_csv(forty):
    out = forty.out
    _assert_counts_match_exercises_csv(out)
    (summary,) = _csv(out / "report" / "assignments.csv")
    assert (summary["graded"], summary["late"], summary["flagged"], summary["missing"]) == (
        "40",
        "1",
        "1",
        "2",
    )


@pytest.mark.slow
def test_forty_mistake_groups_put_the_same_mistake_together(forty):
    groups = {(m["grade_id"], m["mistake"]): m for m in _csv(forty.out / "report" / "mistakes.csv")}

    def who(gid, mistake):
        return sorted(groups[(gid, mistake)]["student_ids"].split("; "))

    assert who("test_pool2d", "this is avg pooling, not max pooling") == sorted(SWAPPED)
    assert groups[("test_pool2d", "this is avg pooling, not max pooling")]["share"] == "0.3"
    assert who(
        "test_conv2d_fast", "`conv2d_fast` is not written yet (it still raises NotImplementedError)"
    ) == sorted([*NO_FAST, BLANK])
    # off by different constants: different messages, one unnamed mistake
    off = [forty.get(s, A).exercise("test_pool2d").message for s in OFF]
    assert len(set(off)) == len(OFF)
    assert who("test_pool2d", "the values are wrong") == sorted(OFF)
    rounded = [k for k in groups if k[0] == "test_conv_output_size" and "rounded up" in k[1]]
    assert len(rounded) == 1 and who(*rounded[0]) == sorted(CEIL)
    page = (forty.out / "report.html").read_text(encoding="utf-8")
    assert re.search(
        r'<span class="share">30 %</span>.{0,120}this is avg pooling, not max pooling', page, re.S
    )


@pytest.mark.slow
def test_forty_near_copies_are_the_top_pair_and_honest_students_are_not_reported(forty):
    pairs = _csv(forty.out / "report" / "similar.csv")
    assert [(p["student_a"], p["student_b"]) for p in pairs] == [(ORIGINAL, COPIER)]
    page = (forty.out / "report.html").read_text(encoding="utf-8")
    assert f'data-a="{ORIGINAL}" data-b="{COPIER}"' in page
    assert re.search(r"<mark>[^<]*\bblk\b", page)  # the copier's renamed line, highlighted


@pytest.mark.slow
def test_forty_needs_a_look(forty):
    look = {r["student_id"]: r["reasons"] for r in _csv(forty.out / "report" / "needs_a_look.csv")}
    assert "flagged: the test cell 'test_pool2d' was edited" in look[TAMPERED]
    assert look[BLANK] == "zero score"
    assert set(look) == {TAMPERED, BLANK}, look


def test_report_of_a_folder_that_was_never_graded_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "has no grades.csv" in err
