"""Grading on Dask distributed: a LocalCluster of 2 worker processes on 127.0.0.1 (real TCP).

One mixed class of notebook 04 (correct, partial, blank, crashing, looping, one hostile from the
red team) is graded on the local pool, then on the cluster in two runs: the first stopped after
two results, the second resuming it while one worker is killed (SIGKILL, by PID) in the middle
of a job. Two extra workers join the cluster with `dask worker`: one without bubblewrap, one
whose course checkout differs; they must be named once and get no job. Kernel starts are
counted on the workers by a worker plugin that wraps Kernel.start (a file, one line a start).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from distributed.diagnostics.plugin import WorkerPlugin
from gradekit import build_class, grade_class
from pg import free_port, postgres_server  # noqa: F401 - the fixture `postgres`
from syspkg import require_sandbox
from test_redteam import TWIN_ATTACKS

from coursekit.grading.assignment import Assignment
from coursekit.grading.cluster import (
    ClusterError,
    DaskExecutor,
    check_address,
    course_fingerprint,
    make_executor,
)
from coursekit.grading.collect import Job
from coursekit.grading.config import Limits, normalize_db_url
from coursekit.grading.executor import Task
from coursekit.grading.ledger import Ledger, task_key
from coursekit.grading.results import SubmissionResult
from coursekit.notebooks import nbgrader_meta, source_notebook, submission_from

A = "04_convolution_by_hand"
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "autograder" / "demo_class"
LIMITS = {"cell_timeout_s": 12}  # the looping student waits this long (same for every run)
BIN = Path(sys.executable).parent


class KernelStarts(WorkerPlugin):
    """On each worker: one line "<Dask key> <worker pid>" appended to `path` when a job starts its
    first kernel (a job whose kernel dies starts a second one for its hidden tests: one job run,
    one line)."""

    name = "test-kernel-starts"

    def __init__(self, path: str) -> None:
        self.path = path
        self.current = None
        self.logged = None

    def setup(self, worker) -> None:
        import os

        from coursekit.grading import kernel

        plugin, path = self, self.path
        orig = kernel.Kernel.__dict__.get("_unwrapped_start") or kernel.Kernel.start
        kernel.Kernel._unwrapped_start = orig

        def start(cls, *args, **kwargs):
            if plugin.logged != plugin.current:
                plugin.logged = plugin.current
                with open(path, "a") as f:
                    f.write(f"{plugin.current} {os.getpid()}\n")
            return orig(*args, **kwargs)

        kernel.Kernel.start = classmethod(start)

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish == "executing":
            self.current = key
            self.logged = None


def starts(counter: Path) -> list[tuple[str, int]]:
    return [(k, int(p)) for k, p in (ln.split() for ln in counter.read_text().splitlines())]


def worker_pids(client) -> dict[str, int]:
    return client.run(os.getpid, on_error="return")


def wait_for(condition, what: str, timeout: float = 120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def course_copy(dst: Path, tag: str) -> Path:
    """A course checkout like this one, with one test cell of notebook 04 changed."""
    for folder in ("solutions", "notebooks"):
        shutil.copytree(ROOT / folder, dst / folder, ignore=shutil.ignore_patterns(".*"))
    (dst / "autograder").mkdir(parents=True)
    for f in ("nbgrader_config.py", "grading.toml"):
        shutil.copy(ROOT / "autograder" / f, dst / "autograder" / f)
    path = dst / "solutions" / A / f"{A}.ipynb"
    nb = json.loads(path.read_text())
    test = next(
        c for c in nb["cells"] if nbgrader_meta(c).get("grade") and c["cell_type"] == "code"
    )
    src = test["source"]
    test["source"] = (src if isinstance(src, str) else "".join(src)) + f"\n# {tag}\n"
    path.write_text(json.dumps(nb, indent=1))
    return dst


class StopAfter:
    """An executor that stops the run (as Ctrl-C would) after `k` results."""

    def __init__(self, inner, k: int) -> None:
        self.inner, self.k = inner, k

    def run(self, tasks):
        import contextlib

        with contextlib.closing(self.inner.run(tasks)) as results:
            for i, res in enumerate(results, 1):
                yield res
                if i >= self.k:
                    raise KeyboardInterrupt


class Killer(threading.Thread):
    """Kill (SIGKILL) the worker process that started a kernel for a job we aim at, while the
    scheduler still has that job on it; up to `times` kills, each on a worker not killed yet."""

    def __init__(self, cluster, after: int, times: int = 1, skip=frozenset()) -> None:
        super().__init__(daemon=True)
        self.cluster, self.after, self.times, self.skip = cluster, after, times, skip
        self.killed: list[tuple[str, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        client = self.cluster.client
        while not self.stop.is_set() and len(self.killed) < self.times:
            dead = {pid for _, pid in self.killed}
            fresh = [
                (k, p)
                for k, p in starts(self.cluster.counter)[self.after :]
                if k not in self.skip and p not in dead
            ]
            if fresh:
                key, pid = fresh[-1]
                addr = [a for a, p in worker_pids(client).items() if p == pid]
                if addr and key in client.processing(workers=addr).get(addr[0], ()):
                    os.kill(pid, signal.SIGKILL)
                    self.killed.append((key, pid))
            time.sleep(0.2)


# --- the cluster --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    require_sandbox()
    import cloudpickle
    import dask
    from distributed import Client, LocalCluster

    counter = tmp_path_factory.mktemp("dask") / "kernel-starts.txt"
    counter.touch()
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the plugin, to the workers
    with dask.config.set({"distributed.scheduler.allowed-failures": 2}):
        cluster = LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    client = Client(cluster, set_as_default=False)
    client.register_plugin(KernelStarts(str(counter)))
    yield SimpleNamespace(
        address=cluster.scheduler_address, client=client, counter=counter, cluster=cluster
    )
    client.close()
    cluster.close()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def bad_workers(dask_cluster, tmp_path_factory):
    """Two `dask worker` processes that must not grade: no bwrap on PATH; another checkout."""
    tmp = tmp_path_factory.mktemp("bad-workers")
    other = course_copy(tmp / "other-course", "changed on this worker")
    envs = {
        "nobwrap": {**os.environ, "PATH": str(BIN)},
        "otherckout": {**os.environ, "COURSEKIT_COURSE_ROOT": str(other)},
    }
    procs = {}
    for name, env in envs.items():
        procs[name] = subprocess.Popen(
            [str(BIN / "dask"), "worker", dask_cluster.address, "--nthreads", "1"]
            + ["--no-dashboard", "--name", name, "--local-directory", str(tmp / name)]
            + ["--death-timeout", "60"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / f"{name}.log", "wb"),
        )

    def joined():
        info = dask_cluster.client.scheduler_info(n_workers=-1)["workers"]
        found = {w["name"]: a for a, w in info.items() if w["name"] in envs}
        return found if len(found) == len(envs) else None

    addrs = wait_for(joined, "the two extra workers to join")
    yield SimpleNamespace(addrs=addrs, pids=worker_pids(dask_cluster.client))
    import psutil

    for proc in procs.values():
        kids = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _mixed_class(folder: Path) -> Path:
    students = {
        name: (DEMO / name / A / f"{A}.ipynb").read_bytes()
        for name in ("ada", "partial", "blank", "crasher", "loops")
    }
    students["hostile"] = submission_from(
        source_notebook(A), {"answer_conv_output_size": TWIN_ATTACKS["numpy_allclose"]}
    )
    return build_class(folder, A, students)


@pytest.fixture(scope="module")
def graded(dask_cluster, bad_workers, tmp_path_factory):
    """The mixed class on the local pool; on the cluster stopped after 2 results; resumed while
    one worker is killed mid-job."""
    work = tmp_path_factory.mktemp("cluster")
    cls = _mixed_class(work / "class")
    kw = {"overrides": LIMITS, "report": False}
    local = grade_class(cls, work / "local", workers=2, **kw)
    log: list[str] = []
    db = f"sqlite:///{work / 'dask' / 'nbgrader' / 'gradebook.db'}"
    with pytest.raises(KeyboardInterrupt):
        stop = StopAfter(DaskExecutor(dask_cluster.address, log=log.append), 2)
        grade_class(cls, work / "dask", executor=stop, **kw)
    first = Ledger(db)
    recorded = {"coursekit-grade-" + k for k, *_ in first.rows()}
    first.close()
    mark = len(starts(dask_cluster.counter))
    killer = Killer(dask_cluster, after=mark, skip=recorded)
    killer.start()
    try:
        second = grade_class(
            cls, work / "dask", executor=DaskExecutor(dask_cluster.address, log=log.append), **kw
        )
    finally:
        killer.stop.set()
        killer.join(timeout=30)
    return SimpleNamespace(
        work=work,
        local=local,
        cluster=second,
        recorded=recorded,
        mark=mark,
        killed=killer.killed,
        log=log,
        db=db,
        starts=starts(dask_cluster.counter),
    )


@pytest.mark.slow
def test_cluster_gives_the_local_pools_csvs(graded):
    for name in ("grades.csv", "exercises.csv"):
        assert (graded.work / "dask" / "out" / name).read_text() == (
            graded.work / "local" / "out" / name
        ).read_text(), name
    statuses = {e.status for s in graded.cluster.submissions for e in s.exercises}
    assert {"passed", "failed", "error", "timeout"} <= statuses, statuses  # a mixed class
    ada = graded.cluster.get("ada")
    assert ada.score == ada.max_score and graded.cluster.get("blank").score == 0


@pytest.mark.slow
def test_a_stopped_run_resumes_without_grading_anything_twice(graded):
    assert 2 <= len(graded.recorded) < len(graded.cluster.submissions)
    keys = [k for k, _ in graded.starts]
    for key in graded.recorded:  # graded before the stop: its kernel started once, in run 1
        assert keys.count(key) == 1 and key not in keys[graded.mark :], key
    ledger = Ledger(graded.db)
    rows = ledger.rows()
    ledger.close()
    assert sorted(s for _, s, _ in rows) == sorted(s.student_id for s in graded.cluster.submissions)
    assert len({k for k, *_ in rows}) == len(rows)


@pytest.mark.slow
def test_a_worker_killed_mid_job_and_the_job_is_graded_elsewhere(graded):
    assert len(graded.killed) == 1, "no worker was killed while it held a job"
    key, pid = graded.killed[0]
    again = [p for k, p in graded.starts[graded.mark :] if k == key]
    assert again[0] == pid and any(p != pid for p in again[1:]), again
    rows = (graded.work / "dask" / "out" / "grades.csv").read_text().splitlines()[1:]
    students = [r.split(",")[0] for r in rows]
    assert (
        sorted(students)
        == sorted(set(students))
        == sorted(s.student_id for s in graded.local.submissions)
    )
    from nbgrader.api import Gradebook

    with Gradebook(graded.db) as gb:
        subs = [s.student.id for s in gb.assignment_submissions(A)]
    assert sorted(subs) == sorted(students)


@pytest.mark.slow
def test_refused_workers_are_named_once_a_run_and_get_no_job(graded, bad_workers):
    for name, why in (
        ("nobwrap", "bubblewrap (bwrap) is not installed"),
        ("otherckout", "differs"),
    ):
        addr = bad_workers.addrs[name]
        lines = [ln for ln in graded.log if ln.startswith(f"worker {addr} refused:")]
        assert len(lines) == 2 and why in lines[0], graded.log  # once in each of the two runs
        assert bad_workers.pids[addr] not in {p for _, p in graded.starts}


@pytest.mark.slow
def test_no_worker_that_can_grade_fails_cleanly(dask_cluster, bad_workers, tmp_path):
    """The submitter's checkout matches none of the workers': one line naming each, no job."""
    mine = course_copy(tmp_path / "course", "changed on the submitter")
    job = Job("solo", A, (DEMO / "blank" / A / f"{A}.ipynb").read_bytes(), "solo")
    task = Task(job, Assignment.load(A, mine), Limits())
    before = len(starts(dask_cluster.counter))
    executor = DaskExecutor(dask_cluster.address, root=mine, log=lambda line: None)
    with pytest.raises(ClusterError) as err:
        list(executor.run([task]))
    msg = str(err.value)
    assert "\n" not in msg and "can grade this course" in msg and "re-run to resume" in msg
    assert "bubblewrap" in msg and msg.count("differs") >= 3, msg  # 2 pool workers + otherckout
    assert len(starts(dask_cluster.counter)) == before


@pytest.mark.slow
def test_a_job_that_kills_its_worker_three_times_is_an_error(dask_cluster, tmp_path):
    cls = build_class(
        tmp_path / "class", A, {"poison": (DEMO / "loops" / A / f"{A}.ipynb").read_bytes()}
    )
    killer = Killer(dask_cluster, after=len(starts(dask_cluster.counter)), times=3)
    killer.start()
    try:
        result = grade_class(
            cls,
            tmp_path,
            executor=DaskExecutor(dask_cluster.address, log=lambda line: None),
            overrides=LIMITS,
            report=False,
        )
    finally:
        killer.stop.set()
        killer.join(timeout=30)
    assert len(killer.killed) == 3
    s = result.get("poison")
    assert s.score == 0 and all(e.status == "error" for e in s.exercises)
    assert "ended its Dask worker 3 times" in s.exercises[0].message, s.exercises[0].message
    key = killer.killed[0][0]
    assert [k for k, _ in starts(dask_cluster.counter)].count(key) == 3  # not tried again


@pytest.mark.slow
@pytest.mark.postgres
def test_two_runs_at_once_on_one_scheduler_and_postgresql(dask_cluster, postgres, tmp_path):
    blank = (DEMO / "blank" / A / f"{A}.ipynb").read_bytes()
    ada = (DEMO / "ada" / A / f"{A}.ipynb").read_bytes()
    classes = {
        "x": build_class(tmp_path / "x", A, {"pg_a": blank, "pg_shared": ada}),
        "y": build_class(tmp_path / "y", A, {"pg_b": blank, "pg_shared": ada}),
    }
    procs = [
        subprocess.Popen(
            [str(BIN / "coursekit"), "autograde", str(folder), "--out", str(tmp_path / f"out_{n}")]
            + ["--runtime", str(tmp_path / f"rt_{n}"), "--db-url", postgres]
            + ["--scheduler", dask_cluster.address, "--quiet", "--no-report"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, folder in classes.items()
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    from nbgrader.api import Gradebook

    mine = {"pg_a", "pg_b", "pg_shared"}
    url = normalize_db_url(postgres)
    with Gradebook(url) as gb:
        subs = [s for s in gb.assignment_submissions(A) if s.student.id in mine]
        assert sorted(s.student.id for s in subs) == sorted(mine)  # none lost, none twice
        cells = len(gb.find_notebook(A, A).grade_cells)
        for s in subs:
            assert [len(nb.grades) for nb in s.notebooks] == [cells], s.student.id
        scores = {s.student.id: s.score for s in subs}
    ledger = Ledger(url)
    rows = [r for r in ledger.rows() if r[1] in mine]
    ledger.close()
    assert sorted(s for _, s, _ in rows) == sorted(mine)
    for n in classes:
        for line in (tmp_path / f"out_{n}" / "grades.csv").read_text().splitlines()[1:]:
            student, _, score, _ = line.split(",")
            assert float(score) == scores[student], (n, line)


# --- bad input ----------------------------------------------------------------------------------


def _one_student(tmp_path: Path) -> Path:
    return build_class(
        tmp_path / "class", A, {"solo": (DEMO / "blank" / A / f"{A}.ipynb").read_bytes()}
    )


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys):
    import dask

    from coursekit.cli import main

    port = free_port()  # nothing listens there
    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
        code = main(
            ["autograde", str(_one_student(tmp_path)), "--out", str(tmp_path / "out")]
            + ["--runtime", str(tmp_path / "rt"), "--scheduler", f"tcp://127.0.0.1:{port}"]
            + ["--quiet", "--no-report"]
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(
        f"coursekit autograde: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"
    )


def test_plain_tcp_to_another_machine_is_refused(tmp_path, capsys):
    from coursekit.cli import main

    # 192.0.2.0/24 is reserved for documentation: the refusal comes before any connection
    code = main(
        ["autograde", str(_one_student(tmp_path)), "--out", str(tmp_path / "out")]
        + ["--runtime", str(tmp_path / "rt"), "--scheduler", "tcp://192.0.2.7:8786", "--quiet"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "refusing plain tcp:// to 192.0.2.7" in err[0], err
    assert "--insecure-plain-tcp" in err[0] and not (tmp_path / "rt").exists()
    assert check_address("tcp://192.0.2.7:8786", allow_plain_tcp=True) == "tcp://192.0.2.7:8786"
    assert check_address("tls://grader0.example.org:8786") == "tls://grader0.example.org:8786"
    assert check_address("127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    for bad in ("http://127.0.0.1:8786", "tcp://"):
        with pytest.raises(ClusterError):
            check_address(bad)
    for spec in ("local:0", "local:x"):
        with pytest.raises(ClusterError, match="local:N"):
            make_executor(spec)
    assert make_executor("local:3").local_workers == 3


# --- the ledger ---------------------------------------------------------------------------------


def test_changing_a_test_cell_changes_only_that_assignments_keys(tmp_path):
    other = "01_loss_surfaces"
    copy = course_copy(tmp_path / "course", "a changed test cell")
    raw = (DEMO / "blank" / A / f"{A}.ipynb").read_bytes()

    def key(root, assignment, student="s1", limits=None, data=raw):
        return task_key(
            Task(
                Job(student, assignment, data, "x"),
                Assignment.load(assignment, root),
                limits or Limits(),
            )
        )

    assert key(ROOT, A) != key(copy, A)  # 04's test cell changed in the copy
    assert key(ROOT, other) == key(copy, other)
    assert key(ROOT, A) != key(ROOT, A, student="s2")  # two students, the same file
    assert key(ROOT, A) != key(ROOT, A, limits=Limits(cell_timeout_s=5))
    assert key(ROOT, A) != key(ROOT, A, data=raw + b" ")
    assert course_fingerprint(ROOT) != course_fingerprint(copy)


def test_the_ledger_keeps_one_row_per_key(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'gb.db'}")
    res = SubmissionResult("s1", A, [], digest="d1", seconds=1.5)
    ledger.record("k1", res)
    ledger.record("k1", SubmissionResult("s1", A, [], error="other run", digest="d1"))
    assert ledger.rows() == [("k1", "s1", A)]
    assert ledger.recorded(["k1", "k2"])["k1"].error == ""  # the first record is kept
    ledger.record("k1", SubmissionResult("s1", A, [], error="forced", digest="d1"), replace=True)
    assert ledger.recorded(["k1"])["k1"].error == "forced"
    ledger.close()
