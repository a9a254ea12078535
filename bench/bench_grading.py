"""Grading a class: coursekit (sandboxed, --workers N) vs plain serial `nbgrader autograde`.

Synthetic students (a mix: correct, blank, half done, one answer that raises) for each released
notebook are graded twice in the same run, on the same files:

  baseline   plain nbgrader 0.9.6: `nbgrader autograde <assignment> --force`, serial, its own kernel
  coursekit  `coursekit autograde --workers N` (sandbox, verdicts outside the student's process)

It prints both wall times and their ratio, and the per-notebook overhead of the sandbox and the
out-of-process verdicts: coursekit's time for one notebook minus nbclient's plain execution of
the same notebook (the student's own compute plus a kernel start).

    python bench/bench_grading.py                       # 40 students x every released notebook
    python bench/bench_grading.py --students 12 --assignments 04_convolution_by_hand
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
shared = ROOT.parent / "shared" / "data"
if not os.environ.get("COURSEKIT_DATA") and shared.is_dir():
    os.environ["COURSEKIT_DATA"] = str(shared)
os.environ["COURSEKIT_OFFLINE"] = "1"

from coursekit.grading import autograde  # noqa: E402
from coursekit.grading.assignment import Assignment  # noqa: E402
from coursekit.grading.collect import Job  # noqa: E402
from coursekit.grading.config import load_settings  # noqa: E402
from coursekit.grading.grade import grade_job  # noqa: E402
from coursekit.notebooks import (  # noqa: E402
    ASSIGNMENTS,
    course_root,
    execute,
    nbgrader_meta,
    release_notebook,
    release_path,
    source_notebook,
    submission_from,
)


def synthetic(assignment: str, i: int) -> nbformat.NotebookNode:
    """Student i's submission: correct, blank, half done, or one answer that raises (i % 4).
    Every student's copy differs (a comment with their number in the first answer cell), as
    forty real students' do, so coursekit's grading of identical submissions once (one result
    recorded for each student) does not make this class any cheaper to grade."""
    src, rel = source_notebook(assignment), release_notebook(assignment)
    answers = [nbgrader_meta(c)["grade_id"] for c in src.cells if nbgrader_meta(c).get("solution")]
    solved = {
        g: next(c.source for c in src.cells if nbgrader_meta(c).get("grade_id") == g)
        for g in answers
    }
    stub = {
        g: next(c.source for c in rel.cells if nbgrader_meta(c).get("grade_id") == g)
        for g in answers
    }
    kind = i % 4
    if kind == 0:
        mine = dict(solved)
    elif kind == 1:
        mine = dict(stub)
    elif kind == 2:
        mine = {g: solved[g] if j < len(answers) // 2 else stub[g] for j, g in enumerate(answers)}
    else:
        mine = dict(solved)
        first = answers[0]
        mine[first] = solved[first] + "\nraise RuntimeError('a bug the student left in')\n"
    first = answers[0]
    mine[first] = f"# student {i:03d}\n" + mine[first]
    return submission_from(rel, mine)


def plain_nbgrader(course: Path, assignments: list[str], submitted: Path) -> float:
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.CourseDirectory.source_directory = {str(ROOT / 'solutions')!r}\n"
        f"c.CourseDirectory.submitted_directory = {str(submitted)!r}\n"
        "c.Execute.timeout = 300\n"
    )
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    t0 = time.perf_counter()
    for a in assignments:
        subprocess.run(
            [
                str(Path(sys.executable).parent / "nbgrader"),
                "generate_assignment",
                a,
                "--force",
                "--log-level=ERROR",
            ],
            cwd=course,
            env=env,
            check=True,
        )
        subprocess.run(
            [
                str(Path(sys.executable).parent / "nbgrader"),
                "autograde",
                a,
                "--force",
                "--log-level=ERROR",
            ],
            cwd=course,
            env=env,
            check=True,
        )
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=40)
    p.add_argument(
        "--assignments", nargs="*", default=[a for a in ASSIGNMENTS if release_path(a).is_file()]
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument(
        "--overhead-only",
        action="store_true",
        help="only the per-notebook lines (plain run vs coursekit) and the course's total",
    )
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        cls = work / "class"
        for a in args.assignments:
            for i in range(args.students):
                d = cls / f"s{i:03d}" / a
                d.mkdir(parents=True, exist_ok=True)
                nbformat.write(synthetic(a, i), d / f"{a}.ipynb")
        n = args.students * len(args.assignments)
        print(
            f"{args.students} students x {len(args.assignments)} notebooks ({', '.join(args.assignments)}) "
            f"= {n} submissions; {os.cpu_count()} cores"
        )

        # per-notebook overhead: sandboxed grading of every cell vs plain execution of the same
        # notebook (both in grading mode; bench_course.py runs the course as a student does),
        # and the grading as it is done, the show-only cells skipped
        settings = load_settings()
        overheads: list[float] = []
        for a in args.assignments:
            nb = submission_from(source_notebook(a))
            t0 = time.perf_counter()
            execute(nb, timeout=600, env={"NBGRADER_EXECUTION": "autograde"})
            plain = time.perf_counter() - t0
            raw = nbformat.writes(nb).encode()
            times = {}
            for skip in (False, True):  # every cell (the overhead), then as graded
                t0 = time.perf_counter()
                res = grade_job(
                    Job("bench", a, raw, "bench"),
                    Assignment.load(a, course_root(), skip_show_only=skip),
                    settings.limits_for(a),
                )
                times[skip] = time.perf_counter() - t0
                assert res.score == res.max_score, [
                    (e.grade_id, e.status, e.message) for e in res.exercises
                ]
            overheads.append(times[False] - plain)
            print(
                f"  {a}: plain nbclient run {plain:5.1f} s; coursekit, every cell {times[False]:5.1f} s "
                f"(overhead {times[False] - plain:+.2f} s), show-only cells skipped {times[True]:5.1f} s"
            )
        print(
            f"  sandbox + verdicts overhead: median {statistics.median(overheads):+.2f} s per "
            "notebook (goal <= 0.5 s)"
        )

        if args.overhead_only:
            return
        t0 = time.perf_counter()
        result = autograde(
            cls, work / "out", runtime=work / "rt", workers=args.workers, progress=False
        )
        ours = time.perf_counter() - t0
        print(
            f"coursekit autograde --workers {args.workers}: {ours:7.1f} s  ({ours / n:.2f} s per notebook)"
        )
        statuses = [e.status for s in result.submissions for e in s.exercises]
        print("  statuses: " + ", ".join(f"{k} {statuses.count(k)}" for k in sorted(set(statuses))))

        if not args.skip_baseline:
            submitted = work / "submitted"
            for nb in cls.rglob("*.ipynb"):
                dest = submitted / nb.relative_to(cls)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(nb, dest)
            base = (
                plain_nbgrader(work / "plain", args.assignments, submitted)
                if (work / "plain").mkdir() is None
                else 0
            )
            print(
                f"plain nbgrader autograde (serial):   {base:7.1f} s  ({base / n:.2f} s per notebook)"
            )
            print(f"speed-up: {base / ours:.2f}x  (goal >= 4x on 2 cores)")
        print(
            f"median per-notebook time in coursekit workers: "
            f"{statistics.median(s.seconds for s in result.submissions):.2f} s"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
