"""Grading on Dask distributed vs the local process pool, and the figures docs/SCALING.md plans with.

Default: the same synthetic submissions of notebook 04 (a mix: correct, blank, half done, one
answer that raises; bench_grading.synthetic) graded in one run, fresh ledger each time, on

  local-2   coursekit autograde --workers 2          (the local process pool)
  dask-2    a 2-worker LocalCluster on 127.0.0.1     (real TCP, worker processes, nannies)
  dask-1    a 1-worker LocalCluster

and the CSVs of the three compared byte for byte. It prints Dask's own cost per notebook, read
from Dask's task stream (the time a worker waits between two jobs, plus the time inside a task
that is not grading: goal <= 0.2 s) - on a shared machine the wall-clock difference between two
runs mostly measures the change of load -, the mean grading time inside a worker in each run,
the wall-clock difference, and the throughput of 1 vs 2 Dask workers.

--plan: the figures of docs/SCALING.md — seconds per notebook for each assignment (its
solution and its blank copy, graded serially with the real grader: wall time, and CPU seconds
of the grader plus the kernel, i.e. the time on one core of an idle machine), peak memory of one
kernel (the sandbox user's processes, RSS), and how many graded submissions per second the
submitting process records (gradebook + feedback page + ledger: ResultStore.save) on SQLite and
on PostgreSQL (Debian's server on 127.0.0.1, as in the tests).

    python bench/bench_cluster.py                 # 40 submissions x 3 runs (~15-20 min, 2 cores)
    python bench/bench_cluster.py --students 12
    python bench/bench_cluster.py --plan          # ~10 min
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
shared = ROOT.parent / "shared" / "data"
if not os.environ.get("COURSEKIT_DATA") and shared.is_dir():
    os.environ["COURSEKIT_DATA"] = str(shared)
os.environ["COURSEKIT_OFFLINE"] = "1"

A = "04_convolution_by_hand"


def _autograde(cls: Path, work: Path, **kw):
    from coursekit.grading import autograde

    t0 = time.perf_counter()
    result = autograde(cls, work / "out", runtime=work / "rt", progress=False, report=False, **kw)
    return result, time.perf_counter() - t0


def _cluster(n: int):
    from distributed import LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=n,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    return cluster, time.perf_counter() - t0


def _on_dask(n: int, cls: Path, work: Path):
    """Grade on an n-worker LocalCluster; also Dask's own cost, from its task stream: how long
    the workers sat without a job between two jobs, and the time inside a task that is not
    grading (unpacking the job, packing the result)."""
    from distributed import Client, get_task_stream

    from coursekit.grading.cluster import DaskExecutor

    cluster, start = _cluster(n)
    try:
        with Client(cluster, set_as_default=False) as client:
            with get_task_stream(client=client) as ts:
                result, wall = _autograde(
                    cls, work, executor=DaskExecutor(cluster.scheduler_address)
                )
            stream = ts.data
    finally:
        cluster.close()
    spans: dict[str, list[tuple[float, float]]] = {}
    for t in stream:
        if str(t["key"]).startswith("coursekit-grade-"):
            for ss in t["startstops"]:
                if ss["action"] == "compute":
                    spans.setdefault(t["worker"], []).append((ss["start"], ss["stop"]))
    graded = max(1, sum(len(v) for v in spans.values()))
    idle = 0.0
    for v in spans.values():
        v.sort()
        idle += sum(max(0.0, b[0] - a[1]) for a, b in zip(v, v[1:]))
    inside = sum(stop - begin for v in spans.values() for begin, stop in v)
    grading = sum(s.seconds for s in result.submissions)
    return result, wall, start, idle / graded, (inside - grading) / graded


def cluster_bench(students: int) -> None:
    from bench_grading import synthetic

    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    try:
        cls = work / "class"
        for i in range(students):
            d = cls / f"s{i:03d}" / A
            d.mkdir(parents=True, exist_ok=True)
            nbformat.write(synthetic(A, i), d / f"{A}.ipynb")
        n = students
        print(f"{n} submissions of {A}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")

        r0, local = _autograde(cls, work / "local2", workers=2)
        print(f"  local pool, 2 workers : {local:7.1f} s  ({local / n:.2f} s per notebook)")
        r2, d2, s2, idle2, pack2 = _on_dask(2, cls, work / "dask2")
        print(
            f"  Dask, 2 workers       : {d2:7.1f} s  ({d2 / n:.2f} s per notebook; "
            f"cluster start {s2:.1f} s, not included)"
        )
        r1, d1, _, idle1, pack1 = _on_dask(1, cls, work / "dask1")
        print(f"  Dask, 1 worker        : {d1:7.1f} s  ({d1 / n:.2f} s per notebook)")
        same = all(
            (work / run / "out" / f).read_text() == (work / "local2" / "out" / f).read_text()
            for run in ("dask2", "dask1")
            for f in ("grades.csv", "exercises.csv")
        )
        print(f"  CSVs identical on all three: {same}")
        print(f"  load average now {os.getloadavg()[0]:.1f} (other jobs share this machine)")
        print(
            f"Dask's own cost per notebook, 2 workers (task stream): {idle2 + pack2:.3f} s = "
            f"{idle2:.3f} s a worker waited for its next job + {pack2:.3f} s in a task besides "
            f"grading (1 worker: {idle1 + pack1:.3f} s); goal <= 0.2 s"
        )
        for name, r in (("local pool", r0), ("Dask 2", r2), ("Dask 1", r1)):
            secs = [s.seconds for s in r.submissions]
            print(f"  grading time inside a worker, {name:10s}: mean {sum(secs) / len(secs):.2f} s")
        print(
            f"wall-clock difference, Dask 2 - local pool 2: {(d2 - local) / n:+.2f} s per notebook "
            "(includes the change of load between the runs)"
        )
        print(f"throughput 2 vs 1 Dask workers: {d1 / d2:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _Kernel(threading.Thread):
    """The sandbox user's processes (the student's kernel), sampled every 50 ms: peak summed RSS
    and CPU seconds (a kernel is killed at the end, so the OS's children times miss it)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        from coursekit.grading import sandbox

        while not self.stop.is_set():
            if sandbox._LEASED:
                total = 0
                for pid in sandbox.pids_of(sandbox._LEASED[0]):
                    try:
                        p = psutil.Process(pid)
                        total += p.memory_info().rss
                        t = p.cpu_times()
                        self.cpu[pid] = max(self.cpu.get(pid, 0.0), t.user + t.system)
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            time.sleep(0.05)


def plan_bench(saves: int) -> None:
    from coursekit.grading.assignment import Assignment
    from coursekit.grading.collect import Job
    from coursekit.grading.config import load_settings
    from coursekit.grading.grade import grade_job
    from coursekit.notebooks import (
        ASSIGNMENTS,
        course_root,
        release_notebook,
        release_path,
        source_notebook,
        submission_from,
    )

    root = course_root()
    settings = load_settings(root)
    print(f"{os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}; one notebook at a time")
    figures = {}
    sample = None
    for a in [x for x in ASSIGNMENTS if release_path(x, root).is_file()]:
        assignment = Assignment.load(a, root)
        row = {}
        for kind, nb in (
            ("solution", submission_from(source_notebook(a))),
            ("blank", submission_from(release_notebook(a))),
        ):
            mem = _Kernel()
            mem.start()
            cpu0, t0 = _cpu(), time.perf_counter()
            res = grade_job(
                Job("plan", a, nbformat.writes(nb).encode(), "plan"),
                assignment,
                settings.limits_for(a),
            )
            wall = time.perf_counter() - t0
            mem.stop.set()
            mem.join()
            row[kind] = (wall, mem.peak / 2**20, _cpu() - cpu0 + sum(mem.cpu.values()))
            if a == A and kind == "solution":
                sample = res
        figures[a] = row
        print(
            f"  {a:24s}"
            + "".join(
                f"  {k} {w:6.1f} s wall, {c:6.1f} s CPU, {m:5.0f} MB"
                for k, (w, m, c) in row.items()
            )
        )
    print(
        json.dumps(
            {a: {k: [round(x, 2) for x in v] for k, v in r.items()} for a, r in figures.items()}
        )
    )

    # what the submitting process records per second
    for name, url in _databases():
        with url as db_url:
            db, full = _save_rate(sample, db_url, saves, root)
            print(
                f"  {name:10s}: {db:6.1f} gradebook + ledger records per second ({saves}); "
                f"{full:5.2f} full ResultStore.save per second (with the feedback page)"
            )


def _cpu() -> float:
    """CPU seconds of this process (the grader: integrity, verdicts)."""
    t = os.times()
    return t.user + t.system


def _databases():
    import contextlib

    tmp = Path(tempfile.mkdtemp(prefix="bench-db-"))
    yield "SQLite", contextlib.nullcontext(f"sqlite:///{tmp / 'gradebook.db'}")
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from pg import running_postgres

        yield "PostgreSQL", running_postgres()
    except RuntimeError as exc:
        print(f"  PostgreSQL: skipped ({exc})")


def _save_rate(sample, db_url: str, saves: int, root: Path) -> tuple[float, float]:
    """(gradebook + ledger records per second, whole ResultStore.save calls per second)."""
    import copy

    from coursekit.grading import gradebook
    from coursekit.grading.assignment import Assignment
    from coursekit.grading.store import ResultStore

    work = Path(tempfile.mkdtemp(prefix="bench-save-"))
    try:
        assignment = Assignment.load(A, root)
        store = ResultStore(work / "out", root, {A: assignment}, db_url=db_url, runtime=work / "rt")

        def results(prefix: str, n: int):
            for i in range(n):
                res = copy.deepcopy(sample)
                res.student_id = f"{prefix}{i:05d}"
                yield res

        batch = list(results("d", saves))
        t0 = time.perf_counter()
        for i, res in enumerate(batch):
            gradebook.record(res, store.db)
            store.ledger.record(f"bench-db-{i}", res)
        db = saves / (time.perf_counter() - t0)
        full = list(results("f", max(5, saves // 10)))
        for res in full:
            store.keys[(res.student_id, A)] = f"bench-full-{res.student_id}"
        t0 = time.perf_counter()
        for res in full:
            store.save(res)
        whole = len(full) / (time.perf_counter() - t0)
        store.ledger.close()
        return db, whole
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=40)
    p.add_argument("--plan", action="store_true", help="the figures of docs/SCALING.md")
    p.add_argument("--saves", type=int, default=200, help="--plan: ResultStore.save calls")
    args = p.parse_args()
    if args.plan:
        plan_bench(args.saves)
    else:
        cluster_bench(args.students)
    print(f"(load average at the end: {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
