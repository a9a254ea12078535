"""The class report for a large class: a synthetic 1,000-submission class of notebook 04.

No notebook is graded: the result records are generated — per student and exercise a status
and a message in the grader's own wording (named mistakes, "values are wrong" with varying
numbers, not written yet, timeouts, dead kernels), answer cells that are unique texts (the
solution with renamed variables and extra lines of the student's own, wrong answers, stubs,
and 2 % near-copies), grading times, a few flags, and an out folder as `autograde` leaves it
(grades.csv, exercises.csv, .results/*.json of ~150 KB each, as notebook 04's are).

Timed, in the same run:

  baseline   reading exercises.csv with the csv module and counting statuses per exercise
             (the pandas-free tally an instructor would otherwise write)
  report     `write_report(out)`: load the results, the numbers, the similarity search, the
             figures, the page and its CSVs — what `coursekit report OUT` does

and the parts of the report on their own.

    python bench/bench_report.py                    # 1,000 submissions
    python bench/bench_report.py --students 300 --repeat 1
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("MPLBACKEND", "Agg")

from coursekit.grading.results import (  # noqa: E402
    CellRecord,
    ClassResult,
    ExerciseResult,
    SubmissionResult,
)
from coursekit.grading.store import RESULT_VERSION  # noqa: E402
from coursekit.notebooks import (  # noqa: E402
    cells_by_grade_id,
    nbgrader_meta,
    release_notebook,
    source_notebook,
)

A = "04_convolution_by_hand"
MISTAKES = {  # test cell → messages the checks write (numbers filled in per student)
    "test_cross_correlate2d": [
        "Kalogerakis's example: your result matches a known mistake: the kernel is flipped: "
        "that is convolution, the layer computes cross-correlation.",
        "x {n}x{n}: the output has the wrong shape. One row and column short. Expected ({n}, {n}), "
        "got ({m}, {m}).",
    ],
    "test_convolve2d": [
        "a 3x3 kernel: your result matches a known mistake: the kernel is not flipped."
    ],
    "test_conv_output_size": [
        "conv_output_size({n}, 3, padding=0, stride=3): you rounded up (Kalogerakis writes a "
        "ceiling); PyTorch floors: only windows that fit count. Expected {m}, got {n}.",
    ],
    "test_conv2d_naive": [
        "a hidden test failed: conv2d_naive: your result matches a known mistake: the bias is missing.",
        "conv2d_naive: it calls a ready-made implementation (conv2d). Write the loops yourself.",
    ],
    "test_conv2d_num_params": [
        "check({n}, {m}, 5): your result matches a known mistake: the biases are missing."
    ],
    "test_pool2d": [
        "Correia's example, 2x2 max pooling: your result matches a known mistake: this is avg "
        "pooling, not max pooling.",
        "pool2d(x, {n}): the values are wrong (rel_error = {e:.1e}, should be below 1e-07). "
        "Largest difference {d:.3g} at index (0, {m}).",
    ],
    "test_conv2d_fast": [
        "conv2d_fast: it calls a ready-made implementation (unfold). Build it yourself."
    ],
}
NAMES = ["x", "k", "w", "out", "kh", "kw", "windows", "cols", "xp", "h_out", "w_out"]


def _exercise(rng: random.Random, sid: str, gid: str, points: float) -> ExerciseResult:
    r = rng.random()
    if r < 0.62:
        return ExerciseResult(sid, A, gid, points, points, "passed")
    if r < 0.90:
        text = rng.choice(MISTAKES[gid]).format(
            n=rng.randint(3, 9), m=rng.randint(1, 4), e=rng.random(), d=rng.random() * 9
        )
        return ExerciseResult(sid, A, gid, 0.0, points, "failed", text)
    if r < 0.98:
        fn = gid.removeprefix("test_")
        return ExerciseResult(
            sid,
            A,
            gid,
            0.0,
            points,
            "error",
            f"`{fn}` is not written yet (it still raises NotImplementedError)",
        )
    if r < 0.99:
        fn = gid.removeprefix("test_")
        return ExerciseResult(
            sid,
            A,
            gid,
            0.0,
            points,
            "timeout",
            f"`{fn}` did not finish within the time limit (an endless loop?)",
        )
    return ExerciseResult(
        sid,
        A,
        gid,
        0.0,
        points,
        "error",
        "your notebook's kernel stopped while this was tested: the kernel exited (exit code 137)",
    )


def _answer(rng: random.Random, solution: str, stub: str, own: int) -> str:
    """A student's answer cell: the stub, or the solution with renamed variables and `own`
    lines of the student's own."""
    if rng.random() < 0.1:
        return stub
    text = solution
    for name in rng.sample(NAMES, 4):
        text = re.sub(rf"\b{name}\b", f"{name}_{rng.randint(0, 99)}", text)
    lines = text.rstrip().split("\n")
    for _ in range(own):
        at = rng.randint(len(lines) // 2, len(lines) - 1)
        indent = re.match(r"\s*", lines[at]).group(0) or "    "
        expr = f"{rng.choice(NAMES)}_{rng.randint(0, 9)} = {rng.randint(1, 99)} * np.{rng.choice(['sum', 'max', 'abs'])}(x[{rng.randint(0, 3)}])"
        lines.insert(at, indent + expr)
    return "\n".join(lines) + "\n"


def synthetic_class(n: int, out: Path, seed: int = 0) -> ClassResult:
    """A ClassResult of `n` notebook-04 submissions, with its out folder written."""
    rng = random.Random(seed)
    src, rel = cells_by_grade_id(source_notebook(A)), cells_by_grade_id(release_notebook(A))
    tests = [
        (g, float(nbgrader_meta(c).get("points", 0)))
        for g, c in rel.items()
        if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")
    ]
    answers = [g for g, c in rel.items() if nbgrader_meta(c).get("solution")]
    picture = {
        "output_type": "display_data",
        "data": {"image/png": "iVBORw0KGgo" * 4000},
        "metadata": {},
    }
    subs = []
    for i in range(n):
        sid = f"s{i:04d}"
        if i % 50 == 1:  # a near-copy of the previous student, other names
            cells = [
                CellRecord(
                    "code", re.sub(r"\b(\w+)_(\d+)\b", r"\1_c\2", c.source), [], dict(c.nbgrader)
                )
                for c in subs[-1].cells
            ]
        else:
            cells = [
                CellRecord(
                    "code",
                    _answer(rng, src[g].source, rel[g].source, rng.randint(0, 3)),
                    [],
                    {"grade_id": g, "solution": True},
                )
                for g in answers
            ]
        cells += [
            CellRecord("code", "show_conv_stepper()", [picture], {"grade_id": f"cell_{k}"})
            for k in range(3)
        ]
        flags = (
            ["the test cell 'test_pool2d' was edited; it was graded with the original"]
            if i % 97 == 5
            else []
        )
        subs.append(
            SubmissionResult(
                sid,
                A,
                [_exercise(rng, sid, g, p) for g, p in tests],
                flags=flags,
                seconds=round(rng.lognormvariate(1.6, 0.35), 2),
                cells=cells,
            )
        )
    result = ClassResult(out, subs)
    (out / ".results").mkdir(parents=True, exist_ok=True)
    (out / "grades.csv").write_text(result.grades_csv(), encoding="utf-8")
    (out / "exercises.csv").write_text(result.exercises_csv(), encoding="utf-8")
    for s in subs:
        (out / ".results" / f"{s.student_id}__{A}.json").write_text(
            json.dumps({"version": RESULT_VERSION, "result": s.to_dict()}), encoding="utf-8"
        )
    return result


def baseline(out: Path) -> Counter:
    with (out / "exercises.csv").open(newline="", encoding="utf-8") as fh:
        return Counter((r["grade_id"], r["status"]) for r in csv.DictReader(fh))


CPU: dict[str, float] = {}  # the CPU seconds of this process, per part (less noisy than wall)


def _best(fn, repeat: int, name: str = "") -> tuple[float, object]:
    times, cpu, value = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if name:
        CPU[name] = min(cpu)
    return min(times), value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from coursekit.report import build_report, load_result, write_report
    from coursekit.report_html import render
    from coursekit.similarity import boilerplate_for, find_similar

    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        out = Path(tmp) / "out"
        t0 = time.perf_counter()
        synthetic_class(args.students, out)
        size = sum(p.stat().st_size for p in (out / ".results").iterdir()) / 2**20
        print(
            f"synthetic class: {args.students} submissions of {A}, {size:.0f} MB of result files ({time.perf_counter() - t0:.1f} s to make)"
        )
        cache = out / "report" / ".fingerprints.json"
        warm = Path(tmp) / "warm"  # imports (matplotlib, copydetect, pygments) on a tiny class
        synthetic_class(3, warm)
        write_report(warm, root=ROOT)

        t_base, counts = _best(lambda: baseline(out), args.repeat, "base")
        t_load, loaded = _best(lambda: load_result(out), args.repeat)
        t_numbers, report = _best(lambda: build_report(loaded, similarity=False), args.repeat)
        boiler = boilerplate_for(A, ROOT)
        t_sim, pairs = _best(lambda: find_similar(loaded.submissions, boiler), args.repeat)
        cores = os.cpu_count() or 1
        t_par, _ = _best(lambda: find_similar(loaded.submissions, boiler, workers=cores), 1)
        report.similar = pairs
        t_page, page = _best(lambda: render(report), args.repeat)

        def cold():
            cache.unlink(missing_ok=True)
            return write_report(out, root=ROOT)

        t_cold, path = _best(cold, args.repeat, "cold")
        t_warm, _ = _best(lambda: write_report(out, root=ROOT), args.repeat, "warm")
        t_nosim, _ = _best(
            lambda: write_report(out, root=ROOT, similarity=False), args.repeat, "nosim"
        )

        got = Counter()
        for e in report.exercises:
            for status, n in e.counts.items():
                if n:
                    got[(e.grade_id, status)] = n
        assert got == counts, "the report's counts differ from exercises.csv"
        planted = sum(
            1 for p in pairs if int(p.a[1:]) % 50 == 0 and int(p.b[1:]) == int(p.a[1:]) + 1
        )
        print(
            f"machine: {cores} cores, load average {os.getloadavg()[0]:.1f}; best of {args.repeat}"
        )
        print(f"  load results            {t_load:7.2f} s")
        print(f"  numbers                 {t_numbers:7.2f} s")
        print(
            f"  similarity              {t_sim:7.2f} s   ({t_par:.2f} s in {cores} processes; top {len(pairs)} pairs, {planted} planted near-copies)"
        )
        print(f"  figures + page          {t_page:7.2f} s   ({len(page) / 2**20:.1f} MB of HTML)")
        print(
            f"report, first run         {t_cold:7.2f} s   (write_report(out): what autograde adds)"
        )
        print(f"report, again             {t_warm:7.2f} s   (tokenised answers cached in report/)")
        print(f"report, --no-similarity   {t_nosim:7.2f} s")
        print(f"baseline                  {t_base:7.3f} s   (csv tally of exercises.csv)")
        print(
            f"CPU of this process: first run {CPU['cold']:.2f} s, again {CPU['warm']:.2f} s, "
            f"--no-similarity {CPU['nosim']:.2f} s, baseline {CPU['base']:.3f} s"
        )
        print(f"ratio, first run          {t_cold / t_base:7.0f}x the bare csv tally")
        print(f"ratio, --no-similarity    {t_nosim / t_base:7.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
