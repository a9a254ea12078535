"""autograde(): collect → integrity → execute in the sandbox → verdicts → gradebook → feedback.

The steps, each a module of this package:

    collect     submissions folder or LMS zip → jobs (student, assignment, file)
    assignment  the released notebook and its tests, read once per assignment
    integrity   a submission against the release → the cells to run + tampering flags
    sandbox     the bubblewrap sandbox a kernel runs in; kernel: the grader's handle on it
    verdict     each test cell judged in the grader, the student's names as proxies
    grade       one submission: its plan run and judged
    executor    where submissions are graded (this machine's processes)
    store       gradebook, feedback, result files, class tables (written here only)

A result per submission is saved as soon as it is done (out/.results/), so an interrupted run
resumes where it stopped, and a re-run with the same files changes nothing.
"""

from __future__ import annotations

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
    overrides: [limits] settings for this run, over autograder/grading.toml's (e.g.
        {"cell_timeout_s": 10}).
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
        jobs, warnings = collect(Path(submissions), known, settings.zip_pattern)
    except CollectError as exc:
        raise GradingError(str(exc)) from None
    _require_sandbox(sandbox)
    assignments = {a: Assignment.load(a, root) for a in sorted({j.assignment for j in jobs})}
    store = ResultStore(
        Path(out).resolve(),
        root,
        assignments,
        db_url=db_url,
        runtime=Path(runtime).resolve() if runtime is not None else None,
    )
    pending = store.split(jobs, resume)
    tasks = [
        Task(j, assignments[j.assignment], settings.limits_for(j.assignment), sandbox)
        for j in pending
    ]
    executor = LocalExecutor(workers or os.cpu_count() or 1)
    with _Progress(len(tasks), progress) as bar:
        for res in executor.run(tasks):
            store.save(res)
            bar.tick(res)
    return store.finish(jobs, warnings)


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
    """A tqdm bar over the graded notebooks (done / total, failed), when asked for."""

    def __init__(self, total: int, show: bool) -> None:
        self.bar = None
        self.failed = 0
        if show and total:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="grading", unit="notebook")

    def tick(self, res: SubmissionResult) -> None:
        if res.error or any(e.status in ("error", "timeout") for e in res.exercises):
            self.failed += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(failed=self.failed)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
