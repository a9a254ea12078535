"""Where grading results go, and where a re-run finds them: nbgrader's gradebook, the feedback
pages, a per-submission result file (``out/.results/``), and the class tables (grades.csv,
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
                gradebook.ensure_assignment(name, self.db, root, Path(scratch))
        self.cache = out / ".results"
        self.cache.mkdir(exist_ok=True)
        self.results: dict[tuple[str, str], SubmissionResult] = {}

    def _cached(self, job: Job) -> Path:
        return self.cache / f"{job.student_id}__{job.assignment}.json"

    def split(self, jobs: list[Job], resume: bool) -> list[Job]:
        """Hand every job's file to nbgrader's submitted/ folder; keep the results of jobs
        already graded with the same content (`resume`), and return the jobs still to grade."""
        pending = []
        for job in jobs:
            sdir = Path(
                self.coursedir.format_path(
                    self.coursedir.submitted_directory, job.student_id, job.assignment
                )
            )
            sdir.mkdir(parents=True, exist_ok=True)
            (sdir / f"{job.assignment}.ipynb").write_bytes(job.raw)
            old = self._load(job) if resume else None
            if old is None:
                pending.append(job)
                continue
            self.results[(job.student_id, job.assignment)] = old
            gradebook.record(old, self.db)  # the gradebook and the feedback agree with it
            if not (self.out / "feedback" / old.student_id / f"{old.assignment}.html").is_file():
                self.save(old)
        return pending

    def _load(self, job: Job) -> SubmissionResult | None:
        try:
            data = json.loads(self._cached(job).read_text(encoding="utf-8"))
            if data.get("version") == RESULT_VERSION and data["result"]["digest"] == job.digest:
                return SubmissionResult.from_dict(data["result"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def save(self, res: SubmissionResult) -> None:
        """Record one graded submission: gradebook, feedback page, result file."""
        gradebook.record(res, self.db)
        try:
            res.feedback = str(
                feedback.render_feedback(
                    res, self.assignments[res.assignment], self.coursedir, self.api, self.out
                )
            )
        except Exception as exc:  # feedback is not worth a lost grade
            res.error = (res.error + "; " if res.error else "") + f"feedback not written: {exc}"
        write_atomic(
            self.cache / f"{res.student_id}__{res.assignment}.json",
            json.dumps({"version": RESULT_VERSION, "result": res.to_dict()}),
        )
        self.results[(res.student_id, res.assignment)] = res

    def finish(self, jobs: list[Job], warnings: list[str]) -> ClassResult:
        """The class tables, in the jobs' order."""
        ordered = [
            self.results[(j.student_id, j.assignment)]
            for j in jobs
            if (j.student_id, j.assignment) in self.results
        ]
        result = ClassResult(self.out, ordered)
        write_atomic(self.out / "grades.csv", result.grades_csv())
        write_atomic(self.out / "exercises.csv", result.exercises_csv())
        if warnings:
            write_atomic(self.out / "skipped.txt", "\n".join(warnings) + "\n")
        return result
