"""autograde(): collect → integrity → execute in the sandbox → verdicts → gradebook → feedback.

The steps, each a module of this package:

    collect     submissions folder or LMS zip → jobs (student, assignment, file)
    assignment  the released notebook and its tests, read once per assignment
    integrity   a submission against the release → the cells to run + tampering flags
    sandbox     the bubblewrap sandbox a kernel runs in; kernel: the grader's handle on it
    verdict     each test cell judged in the grader, the student's names as proxies
    grade       one submission: its plan run and judged
    executor    where submissions are graded: this machine's processes, or a Dask cluster
                (cluster: `executor="local:N"` or a scheduler address)
    ledger      each job's result under the content hash of what it depends on
    store       gradebook, ledger, feedback, result files, class tables (written here only)

A result per submission is recorded in the ledger as soon as it is done, so an interrupted run
resumes where it stopped, and a re-run with the same files changes nothing.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from pathlib import Path

from ..errors import CoursekitError
from ..notebooks import ASSIGNMENTS, course_root, release_path, source_path
from .assignment import Assignment
from .collect import CollectError, collect
from .config import load_settings
from .executor import LocalExecutor, Task
from .results import ClassResult, SubmissionResult
from .sandbox import sandbox_available
from .store import ResultStore

__all__ = ["GradingError", "autograde"]


class GradingError(CoursekitError):
    """Bad input for a whole run (missing folder, empty zip...): one readable line."""


def autograde(
    submissions: str | Path,
    out: str | Path,
    *,
    workers: int | None = None,
    sandbox: bool = True,
    db_url: str | None = None,
    resume: bool = True,
    progress: bool = False,
    root: str | Path | None = None,
    runtime: str | Path | None = None,
    overrides: dict | None = None,
    executor: str | object | None = None,
    insecure_plain_tcp: bool = False,
    report: bool = True,
    skip_show_only: bool = True,
) -> ClassResult:
    """Grade every submission under `submissions` and write grades.csv, exercises.csv and
    feedback/<student>/<assignment>.html into `out`; scores go into nbgrader's gradebook.

    submissions: a folder <student_id>/<assignment>/<assignment>.ipynb, or an LMS .zip.
    workers: notebooks graded at once (default: number of cores).
    sandbox: run student code in the bubblewrap sandbox (False only for trusted code).
    db_url: the gradebook (default: the course's autograder/gradebook.db, or
        <runtime>/gradebook.db when `runtime` is given).
    runtime: where nbgrader's run-time folders go (submitted/, autograded/, feedback/);
        default: the course's autograder/ (tests pass a temporary folder).
    resume: skip submissions already graded with the same content.
    skip_show_only: leave out the instructor's cells tagged show-only (pictures, widget demos;
        checked at release to define nothing later cells read): faster, same verdicts.
    overrides: [limits] settings for this run, over autograder/grading.toml's (e.g.
        {"cell_timeout_s": 10}).
    report: also write out/report.html and out/report/*.csv (coursekit.report).
    executor: where to grade — None: this machine (`workers` processes); "local:N": a Dask
        LocalCluster of N workers on 127.0.0.1; "tls://HOST:8786" (or tcp:// on loopback, or
        anywhere with `insecure_plain_tcp`): a Dask scheduler; or an object with .run(tasks).
    Returns a ClassResult: result.get(student, assignment).exercise(grade_id) → ExerciseResult
    with .score, .max_score, .status ('passed'|'failed'|'error'|'timeout'|'missing'), .message, .flags.
    """
    root = _course(root)
    settings = load_settings(root)
    if overrides:
        settings = replace(settings, limits=replace(settings.limits, **overrides))
    known = [
        a for a in ASSIGNMENTS if source_path(a, root).is_file() and release_path(a, root).is_file()
    ]
    try:
        jobs, warnings = collect(
            Path(submissions),
            known,
            settings.zip_pattern,
            max_file_mb=settings.limits.submission_mb,
            max_total_mb=settings.limits.class_mb,
        )
    except CollectError as exc:
        raise GradingError(str(exc)) from None
    if isinstance(executor, str):
        from .cluster import make_executor

        executor = make_executor(executor, root=root, allow_plain_tcp=insecure_plain_tcp)
    elif executor is None:
        executor = LocalExecutor(workers or os.cpu_count() or 1)
    if not getattr(executor, "remote", False):  # a remote cluster's workers check their own
        _require_sandbox(sandbox)
    assignments = {
        a: Assignment.load(a, root, skip_show_only=skip_show_only)
        for a in sorted({j.assignment for j in jobs})
    }
    store = ResultStore(
        Path(out).resolve(),
        root,
        assignments,
        db_url=db_url,
        runtime=Path(runtime).resolve() if runtime is not None else None,
    )
    tasks = [
        Task(j, assignments[j.assignment], settings.limits_for(j.assignment), sandbox) for j in jobs
    ]
    tasks = store.split(tasks, resume)
    unique, twins = _unique(tasks)
    with (
        _Progress(len(tasks), progress, executor) as bar,
        contextlib.closing(executor.run(unique)) as results,
    ):
        for res in results:
            store.save(res)
            bar.tick(res)
            for student in twins.pop((res.student_id, res.assignment), []):
                copy = _for_student(res, student)  # the same bytes, the same release: graded once
                store.save(copy)
                bar.tick(copy)
    result = store.finish(jobs, warnings)
    if report:
        from ..report import write_report

        try:
            write_report(result, root=root)
        except Exception as exc:  # the grades are written: a report is not worth a failed run
            import sys

            print(
                f"coursekit: the class report was not written ({type(exc).__name__}: {exc}); "
                "the grades, feedback and gradebook are complete — run `coursekit report` again",
                file=sys.stderr,
            )
    return result


def _unique(tasks: list[Task]) -> tuple[list[Task], dict[tuple[str, str], list[str]]]:
    """The tasks to grade, one per distinct (assignment, submitted bytes, notebooks, limits), and
    for each graded one the other students who submitted the very same file:
    {(student, assignment): [students with the same submission]}."""
    first: dict[tuple, Task] = {}
    twins: dict[tuple[str, str], list[str]] = {}
    unique = []
    for t in tasks:
        key = (t.job.assignment, t.job.digest, t.assignment.fingerprint, repr(t.limits), t.sandbox)
        rep = first.setdefault(key, t)
        if rep is t:
            unique.append(t)
        else:
            twins.setdefault((rep.job.student_id, rep.job.assignment), []).append(t.job.student_id)
    return unique, twins


def _for_student(res: SubmissionResult, student: str) -> SubmissionResult:
    """`res` as the result of `student`, who submitted the same file."""
    d = res.to_dict()
    d.update(student_id=student, feedback="", seconds=0.0)
    for e in d["exercises"]:
        e["student_id"] = student
    return SubmissionResult.from_dict(d)


def _course(root: str | Path | None) -> Path:
    try:
        return Path(root).resolve() if root else course_root()
    except FileNotFoundError as exc:
        raise GradingError(str(exc)) from None


def _require_sandbox(sandbox: bool) -> None:
    if not sandbox:
        return
    ok, why = sandbox_available()
    if not ok:
        raise GradingError(
            f"{why}. Student code must not run unsandboxed: it could read the hidden tests and "
            "change grades. To grade trusted notebooks anyway, pass --no-sandbox."
        )


class _Progress:
    """A tqdm bar over the graded notebooks (done / total, failed, and the workers alive when
    the executor counts them), when asked for."""

    def __init__(self, total: int, show: bool, executor: object = None) -> None:
        self.bar = None
        self.failed = 0
        self.executor = executor
        if show and total:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="grading", unit="notebook")

    def tick(self, res: SubmissionResult) -> None:
        if res.error or any(e.status in ("error", "timeout") for e in res.exercises):
            self.failed += 1
        if self.bar is not None:
            self.bar.update(1)
            alive = getattr(self.executor, "alive", None)
            if alive is None:
                self.bar.set_postfix(failed=self.failed)
            else:
                self.bar.set_postfix(failed=self.failed, workers=alive)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
