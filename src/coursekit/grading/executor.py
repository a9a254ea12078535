"""Executors: where submissions are graded. Each takes tasks and yields plain results as they
finish, in any order; only the process that called it writes outputs.

- :class:`LocalExecutor` — this machine: serially for one worker, else a pool of processes
  (``forkserver``: workers start from a clean, thread-free process), one sandbox each.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from collections.abc import Iterator
from dataclasses import dataclass

from .assignment import Assignment
from .collect import Job
from .config import Limits
from .grade import grade_job, not_graded
from .results import SubmissionResult

__all__ = ["Task", "LocalExecutor", "grade_task"]


@dataclass(frozen=True)
class Task:
    """One submission to grade, with everything a worker needs (plain, picklable data)."""

    job: Job
    assignment: Assignment
    limits: Limits
    sandbox: bool = True


def grade_task(task: Task, slot: int = 0) -> SubmissionResult:
    """grade_job, with a grader bug turned into that submission's error (never the class's)."""
    try:
        return grade_job(task.job, task.assignment, task.limits, sandbox=task.sandbox, slot=slot)
    except Exception as exc:  # a grader bug must not stop the class
        return not_graded(
            task.job,
            task.assignment,
            "error",
            f"not graded: internal grader error ({type(exc).__name__}: {exc})",
        )


_SLOT = 0


def _init_worker(slots: mp.Queue) -> None:
    global _SLOT
    _SLOT = slots.get()
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _work(task: Task) -> dict:
    return grade_task(task, _SLOT).to_dict()


class LocalExecutor:
    """Grade on this machine with `workers` processes (1: in this process)."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))

    def run(self, tasks: list[Task]) -> Iterator[SubmissionResult]:
        if self.workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                yield grade_task(task)
            return
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["coursekit.grading.executor"])
        slots = ctx.Queue()
        for i in range(self.workers):
            slots.put(i)
        with cf.ProcessPoolExecutor(
            max_workers=min(self.workers, len(tasks)),
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(slots,),
        ) as pool:
            futures = {pool.submit(_work, task): task for task in tasks}
            for fut in cf.as_completed(futures):
                task = futures[fut]
                try:
                    yield SubmissionResult.from_dict(fut.result())
                except Exception as exc:  # a worker died: this submission only
                    yield not_graded(
                        task.job,
                        task.assignment,
                        "error",
                        f"not graded: the grading worker failed ({exc})",
                    )
