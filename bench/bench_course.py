"""The whole course top to bottom: every solution notebook run as a student runs it.

Each notebook of solutions/ is executed in a fresh Jupyter kernel (nbclient, headless: widgets
draw their static picture), in course order, one after the other, on all the cores there are,
as *Run All* in JupyterLab would; the figure is each notebook's wall time and their sum (goal:
the course in 5 minutes on 2 cores). The baseline beside it is the same notebooks in grading
mode (NBGRADER_EXECUTION=autograde: the demos that train or time things take their quick
path), so the line says what the demos cost a student.

    COURSEKIT_DATA=../shared/data .venv/bin/python bench/bench_course.py [--skip-grading-mode]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
shared = ROOT.parent / "shared" / "data"
if not os.environ.get("COURSEKIT_DATA") and shared.is_dir():
    os.environ["COURSEKIT_DATA"] = str(shared)
os.environ["COURSEKIT_OFFLINE"] = "1"

from coursekit.notebooks import ASSIGNMENTS, execute, source_notebook, source_path  # noqa: E402


def run(assignment: str, env: dict[str, str] | None = None) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-course-") as cwd:
        t0 = time.perf_counter()
        execute(source_notebook(assignment), timeout=900, cwd=Path(cwd), env=env)
        return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assignments", nargs="*", default=None)
    p.add_argument("--skip-grading-mode", action="store_true", help="only the student's runs")
    args = p.parse_args()
    names = args.assignments or [a for a in ASSIGNMENTS if source_path(a).is_file()]
    load = os.getloadavg()[0]
    print(f"{len(names)} solution notebooks; {os.cpu_count()} cores, load {load:.1f}")
    print(f"{'notebook':28s} {'student s':>9s} {'grading mode s':>15s}")
    total = graded = 0.0
    for a in names:
        t = run(a)
        total += t
        g = float("nan") if args.skip_grading_mode else run(a, {"NBGRADER_EXECUTION": "autograde"})
        graded += g
        print(f"{a:28s} {t:9.1f} {g:15.1f}", flush=True)
    print(f"{'the course':28s} {total:9.1f} {graded:15.1f}")
    verdict = "OK" if total <= 300 else "MISSED"
    print(f"the course top to bottom: {total:.0f} s (goal <= 300 s on 2 cores) -> {verdict}")


if __name__ == "__main__":
    main()
