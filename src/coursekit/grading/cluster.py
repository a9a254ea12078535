"""Grading on a Dask cluster: the same grader on many machines (``distributed`` on PyPI).

    coursekit autograde class/ --cluster local:4                 # a trial: 4 workers, 127.0.0.1
    coursekit autograde class/ --scheduler tls://grader0:8786   # machines running `dask worker`

The submitting process stays the only one that writes (gradebook, ledger, feedback, CSVs): a
Dask worker receives a :class:`~coursekit.grading.executor.Task` (plain data: the submitted
bytes, the assignment, the limits), calls :func:`~coursekit.grading.executor.grade_task` —
which starts the sandboxed kernel exactly as on one machine — and returns
``SubmissionResult.to_dict()``. Student code never runs in a worker process.

Before a worker gets a job, a worker plugin (:class:`CourseCheck`, registered by each run and
run by every worker that joins or restarts) checks there that bubblewrap makes a sandbox and
that the worker's course checkout (``solutions/`` + ``notebooks/``) and coursekit's code hash
to the submitter's; only then does the worker get the run's Dask resource, so jobs go only to
workers that can take them. A refused worker is named in one line; a run with no worker that can grade
fails with one line (what was graded stays in the ledger: re-run to resume).

Faults: a worker killed mid-job (or a machine gone) → Dask gives the job to another worker; a
job that ends its worker :data:`KILLS` times → recorded as ``error``; the scheduler restarting
→ the client reconnects and sends again what had not come back. A job's Dask key is its ledger
key, so two runs submitting the same job at once share one grading.

Plain ``tcp://`` is refused to anything but a loopback address unless the caller allows it
(``--insecure-plain-tcp``): across machines, use ``tls://`` with Dask's
``distributed.comm.tls`` settings (README: *Grading on several machines*).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import queue
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from distributed.diagnostics.plugin import WorkerPlugin

from ..errors import CoursekitError
from .executor import Task, grade_task
from .grade import not_graded
from .ledger import task_key
from .results import SubmissionResult

__all__ = [
    "KILLS",
    "ClusterError",
    "CourseCheck",
    "DaskExecutor",
    "course_fingerprint",
    "grader_fingerprint",
    "make_executor",
    "worker_problem",
]

KILLS = 3  # a job that ends its worker this many times is recorded as an error
_SKIP = {"__pycache__", ".ipynb_checkpoints"}


class ClusterError(CoursekitError):
    """The cluster can't grade this run (unreachable scheduler, no worker that can take the
    jobs, a refused address): one readable line."""


# --- what a worker must share with the submitter ------------------------------------------------


def _tree_hash(h, base: Path, folder: str, pattern: str = "*") -> None:
    top = base / folder
    if not top.is_dir():
        h.update(f"{folder}: missing\0".encode())
        return
    for path in sorted(top.rglob(pattern)):
        rel = path.relative_to(base)
        if not path.is_file() or _SKIP & set(rel.parts) or path.name.startswith("."):
            continue
        h.update(str(rel.as_posix()).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())


def course_fingerprint(root: Path | None = None) -> str:
    """SHA-256 of the course checkout's solutions/ and notebooks/ (every file, by path)."""
    from ..notebooks import course_root

    root = Path(root) if root else course_root()
    h = hashlib.sha256()
    for folder in ("solutions", "notebooks"):
        _tree_hash(h, root, folder)
    return h.hexdigest()


def grader_fingerprint() -> str:
    """coursekit's version and a SHA-256 of its code (the grader a worker would run)."""
    import coursekit

    h = hashlib.sha256(coursekit.__version__.encode() + b"\0")
    pkg = Path(coursekit.__file__).resolve().parent
    _tree_hash(h, pkg.parent, pkg.name, "*.py")
    return f"{coursekit.__version__}+{h.hexdigest()[:16]}"


def worker_problem(course: str, grader: str, sandbox: bool) -> str:
    """Why this machine can't grade for a submitter with these fingerprints ('' if it can)."""
    from ..notebooks import course_root

    try:
        root = course_root()
    except FileNotFoundError as exc:
        return f"no course checkout here ({str(exc).splitlines()[0]})"
    if sandbox:
        from .sandbox import sandbox_available

        ok, why = sandbox_available()
        if not ok:
            return why
    mine = grader_fingerprint()
    if mine != grader:
        return f"its coursekit differs from the submitter's ({mine} here, {grader} there)"
    here = course_fingerprint(root)
    if here != course:
        return (
            f"its course checkout {root} differs from the submitter's (solutions/ + notebooks/ "
            f"hash {here[:12]} here, {course[:12]} there)"
        )
    return ""


_VERDICTS: dict[str, str] = {}  # in a worker process: resource name → problem ('' = can grade)


class CourseCheck(WorkerPlugin):
    """Run on every worker (now, and as workers join or restart): check that its machine can
    grade this course; if so give it the run's resource (one job at a time), else note why not."""

    idempotent = True  # a second run of the same course leaves the workers' resources alone

    def __init__(self, course: str, grader: str, sandbox: bool) -> None:
        self.course, self.grader, self.sandbox = course, grader, sandbox
        self.resource = f"coursekit-{course[:12]}-{grader[-8:]}" + ("" if sandbox else "-nosandbox")
        self.name = self.resource

    async def setup(self, worker) -> None:
        try:
            problem = await asyncio.to_thread(
                worker_problem, self.course, self.grader, self.sandbox
            )
        except Exception as exc:  # a broken worker is refused, not a crash of the plugin
            problem = f"the check failed ({type(exc).__name__}: {exc})"
        _VERDICTS[self.resource] = problem
        if problem:
            return
        await worker.set_resources(**{self.resource: 1})
        # The scheduler looks for waiting jobs a worker can take when the worker starts
        # running, not when its resources change: say "running" again.
        from distributed.core import Status

        if worker.status == Status.running:
            worker.status = Status.paused
            worker.status = Status.running


def _verdict(resource: str) -> str | None:
    return _VERDICTS.get(resource)


# --- what runs in a worker ----------------------------------------------------------------------


def _identity(value):
    return value


def _grade_remote(job, assignment, limits, sandbox: bool) -> dict:
    """In a Dask worker: grade one job (the sandboxed kernel as on one machine), plain data back."""
    return grade_task(Task(job, assignment, limits, sandbox)).to_dict()


# --- addresses ----------------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: not resolved here, so not known to be loopback


def check_address(address: str, allow_plain_tcp: bool = False) -> str:
    """The scheduler address, checked: tcp:// or tls://; plain tcp:// only to a loopback
    address unless `allow_plain_tcp`. Raises ClusterError (nothing is contacted)."""
    if "://" not in address:
        address = "tcp://" + address
    parts = urlsplit(address)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname:
        raise ClusterError(
            f"{address!r} is not a Dask scheduler address (tls://HOST:8786, or tcp://127.0.0.1:8786)"
        )
    if parts.scheme == "tcp" and not _loopback(parts.hostname) and not allow_plain_tcp:
        raise ClusterError(
            f"refusing plain tcp:// to {parts.hostname}: grades, submissions and hidden tests "
            "would cross the network unencrypted. Use tls:// (Dask's distributed.comm.tls "
            "settings, see the README), or pass --insecure-plain-tcp on a network you trust"
        )
    return address


def make_executor(
    spec: str, *, root: Path | None = None, allow_plain_tcp: bool = False
) -> DaskExecutor:
    """`local:N` → a LocalCluster of N worker processes on 127.0.0.1; else a scheduler address."""
    if spec.startswith("local:") or spec == "local":
        n = spec.partition(":")[2] or "2"
        if not n.isdigit() or int(n) < 1:
            raise ClusterError(f"--cluster {spec!r}: expected local:N with N ≥ 1 worker processes")
        return DaskExecutor(local_workers=int(n), root=root)
    return DaskExecutor(check_address(spec, allow_plain_tcp), root=root)


# --- the executor -------------------------------------------------------------------------------


def _stderr(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(f"coursekit autograde: {line}", file=sys.stderr)  # above a progress bar


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class DaskExecutor:
    """Grade on a Dask cluster: the scheduler at `address`, or a LocalCluster of
    `local_workers` processes on 127.0.0.1 started (and stopped) by :meth:`run`.

    `root`: the submitter's course checkout (workers must match it). `wait_s`: how long to wait
    for a worker that can grade (at the start, or when none is left) before giving up.
    `alive`: workers that can grade, for the progress bar (None outside a run)."""

    def __init__(
        self,
        address: str | None = None,
        *,
        local_workers: int | None = None,
        root: Path | None = None,
        wait_s: float = 60.0,
        connect_timeout: float | None = None,
        log: Callable[[str], None] = _stderr,
    ) -> None:
        if (address is None) == (local_workers is None):
            raise ValueError("give a scheduler address or a number of local workers")
        self.address, self.local_workers, self.root = address, local_workers, root
        self.wait_s, self.connect_timeout, self.log = wait_s, connect_timeout, log
        self.alive: int | None = None
        self.refused: dict[str, str] = {}  # worker address → why it can't grade
        self._check: CourseCheck | None = None
        self._scheduler_id: str | None = None

    @property
    def remote(self) -> bool:
        """Grading happens on other machines' workers (they check their own sandbox)."""
        return self.local_workers is None

    # -- connecting --

    def _connect(self):
        import dask
        from distributed import Client, LocalCluster

        cluster = None
        timeout = self.connect_timeout
        if timeout is None:
            timeout = dask.utils.parse_timedelta(
                dask.config.get("distributed.comm.timeouts.connect"), "s"
            )
        if self.local_workers:
            with dask.config.set({"distributed.scheduler.allowed-failures": KILLS - 1}):
                cluster = LocalCluster(
                    n_workers=self.local_workers,
                    processes=True,
                    threads_per_worker=1,
                    host="127.0.0.1",
                    protocol="tcp",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            self.address = cluster.scheduler_address
        try:
            client = Client(self.address, timeout=timeout, set_as_default=False)
        except Exception as exc:  # OSError / TimeoutError / a TLS set-up error
            if cluster is not None:
                cluster.close()
            raise ClusterError(
                f"cannot reach the Dask scheduler at {self.address} ({_first_line(exc)}); "
                "is `dask scheduler` running there, and is the address right?"
            ) from None
        return client, cluster

    def _setup_scheduler(self, client) -> None:
        """Tell a scheduler (at the start, and again after it restarted) about this run: the
        check every worker runs, and the policy that a job ending its worker KILLS times is an
        error."""
        client.register_plugin(self._check)
        try:
            client.run_on_scheduler(
                lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", KILLS - 1)
            )
        except Exception as exc:
            self.log(
                f"could not set the scheduler's allowed-failures ({_first_line(exc)}); "
                "start it with DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=2"
            )

    def _workers(self, client) -> dict | None:
        """The scheduler's workers (None while it can't be reached); a scheduler seen for the
        first time (a restart) is set up for this run first."""
        try:
            info = client.scheduler_info(n_workers=-1)
            if info.get("id") != self._scheduler_id:
                self._setup_scheduler(client)
                self._scheduler_id = info.get("id")
                info = client.scheduler_info(n_workers=-1)
        except Exception:  # reconnecting: the client tries by itself
            return None
        return info.get("workers", {})

    # -- which workers can grade --

    def _survey(self, client, resource: str) -> list[str] | None:
        """The workers that hold the run's resource (None while the scheduler can't be
        reached); name (once) each worker that refused."""
        workers = self._workers(client)
        if workers is None:  # can't be reached just now: nothing is known
            return None
        capable = [a for a, w in workers.items() if (w.get("resources") or {}).get(resource)]
        unknown = [a for a in workers if a not in capable and a not in self.refused]
        verdicts: dict[str, object] = {}
        if unknown:
            try:
                verdicts = client.run(_verdict, resource, workers=unknown, on_error="return")
            except Exception:  # a worker left while asked: ask again next time
                verdicts = {}
        for addr, v in verdicts.items():
            if isinstance(v, BaseException):
                v = f"it cannot run coursekit's check ({_first_line(v)})"
            if v:  # None: not checked yet; '': can grade (its resource is on the way)
                self.refused[addr] = v
                self.log(f"worker {addr} refused: {v}")
        self.alive = len(capable)
        return capable

    def _await_workers(self, client, resource: str, left: int, *, fail_fast: bool) -> None:
        """Wait up to wait_s for a worker that can grade; else a ClusterError. `fail_fast`: give
        up at once when every connected worker refused (at the start of a run; later, the
        workers that could grade may be restarting)."""
        since = time.monotonic()
        while not self._survey(client, resource):
            workers = self._workers(client) or {}
            everyone_refused = bool(workers) and all(a in self.refused for a in workers)
            waited = time.monotonic() - since > self.wait_s
            if (everyone_refused and fail_fast) or waited:
                why = (
                    "; ".join(f"{a}: {self.refused[a]}" for a in sorted(workers))
                    if everyone_refused
                    else f"no worker joined within {self.wait_s:g} s "
                    f"(start one with `dask worker {self.address} --nthreads 1`)"
                )
                raise ClusterError(
                    f"no Dask worker at {self.address} can grade this course ({why}); "
                    f"{left} submission(s) not graded — what was graded is kept, re-run to resume"
                )
            time.sleep(0.25)

    # -- grading --

    def run(self, tasks: list[Task]) -> Iterator[SubmissionResult]:
        """Grade `tasks` on the cluster; yield each result as it comes back (any order)."""
        if not tasks:
            return
        self.refused = {}
        client, cluster = self._connect()
        try:
            self._check = CourseCheck(
                course_fingerprint(self.root),
                grader_fingerprint(),
                any(t.sandbox for t in tasks),
            )
            self._scheduler_id = None
            resource = self._check.resource
            self._await_workers(client, resource, len(tasks), fail_fast=True)
            yield from self._grade(client, tasks, resource)
        finally:
            self.alive = None
            try:
                client.close(timeout=10)
            except Exception:
                pass
            if cluster is not None:
                try:
                    cluster.close(timeout=30)
                except Exception:
                    pass

    def _grade(self, client, tasks: list[Task], resource: str) -> Iterator[SubmissionResult]:
        todo = deque(tasks)
        inflight: dict[str, tuple[object, Task]] = {}  # Dask key → (future, task)
        assignments: dict[str, object] = {}  # fingerprint → future holding the Assignment
        done: queue.Queue = queue.Queue()
        last_survey = time.monotonic()

        def submit(task: Task) -> None:
            a = task.assignment
            afut = assignments.get(a.fingerprint)
            if afut is None:  # once per assignment; recomputed by Dask if its worker dies
                afut = client.submit(_identity, a, key=f"coursekit-assignment-{a.fingerprint}")
                assignments[a.fingerprint] = afut
            key = f"coursekit-grade-{task_key(task)}"
            fut = client.submit(
                _grade_remote,
                task.job,
                afut,
                task.limits,
                task.sandbox,
                key=key,
                resources={resource: 1},
            )
            inflight[key] = (fut, task)
            fut.add_done_callback(done.put)

        def refill() -> None:
            # two jobs per worker that can grade: one running, one waiting there, so no worker
            # idles while this process records a result (few more: a worker that dies takes
            # only the jobs it holds with it)
            while todo and len(inflight) < 2 * max(1, self.alive or 0):
                submit(todo.popleft())

        while todo or inflight:
            refill()
            try:
                fut = done.get(timeout=1.0)
            except queue.Empty:
                fut = None
            if time.monotonic() - last_survey > 2.0 or fut is None:
                last_survey = time.monotonic()
                if self._survey(client, resource) == [] and inflight:
                    self.log("no worker that can grade is connected; waiting for one")
                    self._await_workers(
                        client, resource, len(todo) + len(inflight), fail_fast=False
                    )
            if fut is None or fut.key not in inflight or inflight[fut.key][0] is not fut:
                continue
            _, task = inflight.pop(fut.key)
            status = fut.status
            if status in ("finished", "error"):
                refill()  # before this result is recorded (which takes a while)
                yield self._result(fut, task)
            else:  # cancelled: the connection to the scheduler was lost — send it again
                self._reconnected(client, len(todo) + len(inflight) + 1)
                assignments.clear()
                todo.appendleft(task)
            fut.release()

    @staticmethod
    def _result(fut, task: Task) -> SubmissionResult:
        """A finished or failed future's SubmissionResult."""
        from distributed.scheduler import KilledWorker

        if fut.status == "finished":
            try:
                return SubmissionResult.from_dict(fut.result())
            except Exception as exc:
                why = f"its result could not be read ({_first_line(exc)})"
        else:
            exc = fut.exception()
            if isinstance(exc, KilledWorker):
                last = getattr(exc.last_worker, "address", exc.last_worker)
                why = (
                    f"grading this submission ended its Dask worker {exc.allowed_failures + 1} "
                    f"times (the last: {last}); it is not tried again"
                )
            else:
                why = f"the Dask worker failed ({_first_line(exc)})"
        return not_graded(task.job, task.assignment, "error", f"not graded: {why}")

    def _reconnected(self, client, left: int) -> None:
        """Wait for the client to reconnect to the scheduler (it tries by itself)."""
        deadline = time.monotonic() + max(self.wait_s, 30.0)
        while client.status != "running":
            if client.status in ("closed", "closing") or time.monotonic() > deadline:
                raise ClusterError(
                    f"lost the Dask scheduler at {self.address}; {left} submission(s) not "
                    "graded — what was graded is kept, re-run to resume"
                )
            time.sleep(0.25)
