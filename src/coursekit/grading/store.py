"""Where grading results go, and where a re-run finds them: nbgrader's gradebook, the feedback
pages, the job ledger (:mod:`~coursekit.grading.ledger`: each job's result under its content
hash, in the gradebook's database — the source of truth for what a re-run skips), a copy of
each result in ``out/.results/`` (for ``coursekit report``), and the class tables (grades.csv,
exercises.csv). Only the process that runs :func:`~coursekit.grading.pipeline.autograde`
writes here.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from . import feedback, gradebook
from .assignment import Assignment
from .collect import Job
from .config import nbgrader_config
from .ledger import Ledger, retrying, task_key
from .release import ReleaseError
from .results import ClassResult, SubmissionResult

__all__ = ["ResultStore", "RESULT_VERSION", "write_atomic"]

RESULT_VERSION = 2


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class ResultStore:
    """The outputs of one grading run in `out`, scores in the gradebook at `db_url` (default:
    the course's, or <runtime>/gradebook.db), nbgrader's folders under `runtime` (default: the
    course's autograder/)."""

    def __init__(
        self,
        out: Path,
        root: Path,
        assignments: dict[str, Assignment],
        *,
        db_url: str | None = None,
        runtime: Path | None = None,
    ) -> None:
        from nbgrader.apps.api import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        self.out, self.root, self.assignments = out, root, assignments
        out.mkdir(parents=True, exist_ok=True)
        cfg = nbgrader_config(root, db_url)
        if runtime is not None:
            runtime.mkdir(parents=True, exist_ok=True)
            cfg.CourseDirectory.submitted_directory = str(runtime / "submitted")
            cfg.CourseDirectory.autograded_directory = str(runtime / "autograded")
            cfg.CourseDirectory.feedback_directory = str(runtime / "feedback")
            if db_url is None:
                cfg.CourseDirectory.db_url = f"sqlite:///{runtime / 'gradebook.db'}"
        self.db = str(cfg.CourseDirectory.db_url)
        cfg.NbGraderAPI.log_level = logging.ERROR
        self.coursedir = CourseDirectory(config=cfg)
        self.api = NbGraderAPI(coursedir=self.coursedir, config=cfg)
        with tempfile.TemporaryDirectory(prefix="coursekit-release-") as scratch:
            for name in assignments:
                # a concurrent run may be creating the same assignment: look again, then retry
                retrying(
                    lambda name=name: gradebook.ensure_assignment(
                        name, self.db, root, Path(scratch)
                    ),
                    attempts=4,
                    also=(ReleaseError,),
                )
        self.ledger = Ledger(self.db)
        self.copies = out / ".results"  # each result as a file, for `coursekit report`
        self.copies.mkdir(exist_ok=True)
        self.keys: dict[tuple[str, str], str] = {}
        self.replace = False
        self.results: dict[tuple[str, str], SubmissionResult] = {}

    def split(self, tasks: list, resume: bool) -> list:
        """Hand every task's file to nbgrader's submitted/ folder; keep the results the ledger
        holds for the same content (`resume`), and return the tasks still to grade."""
        self.replace = not resume
        keys = [task_key(t) for t in tasks]
        known = self.ledger.recorded(keys) if resume else {}
        pending = []
        for task, key in zip(tasks, keys):
            job = task.job
            self.keys[(job.student_id, job.assignment)] = key
            sdir = Path(
                self.coursedir.format_path(
                    self.coursedir.submitted_directory, job.student_id, job.assignment
                )
            )
            sdir.mkdir(parents=True, exist_ok=True)
            (sdir / f"{job.assignment}.ipynb").write_bytes(job.raw)
            old = known.get(key)
            if old is None:
                pending.append(task)
                continue
            self.results[(job.student_id, job.assignment)] = old
            retrying(lambda old=old: gradebook.record(old, self.db))  # the gradebook agrees
            page = self.out / "feedback" / old.student_id / f"{old.assignment}.html"
            if page.is_file():
                old.feedback = str(page)
                if not self._copy_path(old).is_file():  # an unchanged copy stays untouched
                    self._copy(old)
            else:
                self.save(old)
        return pending

    def save(self, res: SubmissionResult) -> None:
        """Record one graded submission: gradebook, feedback page, then the ledger (last: a job
        is recorded once everything else of it is written)."""
        retrying(lambda: gradebook.record(res, self.db))
        try:
            res.feedback = str(
                feedback.render_feedback(
                    res, self.assignments[res.assignment], self.coursedir, self.api, self.out
                )
            )
        except Exception as exc:  # feedback is not worth a lost grade
            res.error = (res.error + "; " if res.error else "") + f"feedback not written: {exc}"
        self._copy(res)
        key = self.keys.get((res.student_id, res.assignment))
        if key is not None:
            self.ledger.record(key, res, replace=self.replace)
        self.results[(res.student_id, res.assignment)] = res

    def _copy_path(self, res: SubmissionResult) -> Path:
        return self.copies / f"{res.student_id}__{res.assignment}.json"

    def _copy(self, res: SubmissionResult) -> None:
        write_atomic(
            self._copy_path(res),
            json.dumps({"version": RESULT_VERSION, "result": res.to_dict()}),
        )

    def finish(self, jobs: list[Job], warnings: list[str]) -> ClassResult:
        """The class tables, in the jobs' order."""
        ordered = [
            self.results[(j.student_id, j.assignment)]
            for j in jobs
            if (j.student_id, j.assignment) in self.results
        ]
        self.ledger.close()
        result = ClassResult(self.out, ordered)
        write_atomic(self.out / "grades.csv", result.grades_csv())
        write_atomic(self.out / "exercises.csv", result.exercises_csv())
        if warnings:
            write_atomic(self.out / "skipped.txt", "\n".join(warnings) + "\n")
        return result
