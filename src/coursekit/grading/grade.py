"""One submission, graded: its plan run in a sandboxed kernel, each test judged by the grader.

:func:`grade_job` never raises for anything the submission does: a broken notebook, a crash, a
timeout or a dead kernel become that submission's statuses and messages.
"""

from __future__ import annotations

import time

from .assignment import Assignment
from .collect import Job
from .config import Limits
from .integrity import NotebookUnreadable, plan_submission, read_notebook
from .kernel import Kernel, KernelDied
from .results import ICONS, CellRecord, ExerciseResult, SubmissionResult
from .sandbox import SandboxUnavailable
from .verdict import evaluate_test

__all__ = ["grade_job", "not_graded"]


def not_graded(job: Job, assignment: Assignment, status: str, message: str) -> SubmissionResult:
    """Every exercise of the submission with one status and message (it could not be graded)."""
    ex = [
        ExerciseResult(job.student_id, job.assignment, t.grade_id, 0.0, t.points, status, message)
        for t in assignment.tests
    ]
    return SubmissionResult(job.student_id, job.assignment, ex, error=message, digest=job.digest)


def _stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def _dead_status(why: str) -> str:
    return "timeout" if ("did not stop" in why or "ran out" in why) else "error"


def grade_job(
    job: Job, assignment: Assignment, limits: Limits, *, sandbox: bool = True, slot: int = 0
) -> SubmissionResult:
    """Grade one submission of `assignment` under `limits` (in a sandbox unless told not to)."""
    t0 = time.monotonic()
    try:
        sub = read_notebook(job.raw)
    except NotebookUnreadable as exc:
        return not_graded(job, assignment, "error", f"not graded: {exc}")
    plan = plan_submission(sub, assignment)
    if plan.error:
        return not_graded(
            job,
            assignment,
            "missing" if "empty" in plan.error else "error",
            f"not graded: {plan.error}",
        )
    result = SubmissionResult(
        job.student_id, job.assignment, [], flags=list(plan.flags), digest=job.digest
    )
    try:
        kernel = Kernel.start(limits, slot=slot, sandbox=sandbox)
    except (KernelDied, SandboxUnavailable, OSError) as exc:
        return not_graded(
            job, assignment, "error", f"not graded: the kernel could not start ({exc})"
        )
    dead = ""
    try:
        for cell in plan.cells:
            if cell.kind == "code":
                record = CellRecord(
                    "code", cell.source, [], dict(assignment.meta.get(cell.grade_id, {}))
                )
                if not dead:
                    try:
                        outputs, error = kernel.run_cell(cell.source)
                        record.outputs = outputs
                        if error and error.get("timeout"):
                            record.outputs.append(_stream(f"⏱ stopped: {error.get('evalue')}\n"))
                    except KernelDied as exc:
                        dead = str(exc)
                        record.outputs = [_stream(f"⚠ the kernel stopped here: {dead}\n")]
                result.cells.append(record)
                continue
            test = cell.test
            if dead:  # a test cell after the kernel died
                status, message, output = (
                    _dead_status(dead),
                    f"not graded: {dead} (in an earlier cell)",
                    "",
                )
            else:
                v = evaluate_test(kernel, test)
                status, message, output = v.status, v.message, v.output
                dead = kernel.dead
            score = cell.points if status == "passed" else 0.0
            result.exercises.append(
                ExerciseResult(
                    job.student_id,
                    job.assignment,
                    cell.grade_id,
                    score,
                    cell.points,
                    status,
                    message,
                    list(cell.flags),
                    output,
                )
            )
            verdict = f"{ICONS[status]} {status}: {score:g} / {cell.points:g}" + (
                f" — {message}" if message else ""
            )
            outputs = ([_stream(output)] if output else []) + [
                _stream(verdict + "\n", "stderr" if status != "passed" else "stdout")
            ]
            result.cells.append(CellRecord("test", cell.source, outputs, dict(test.meta)))
    finally:
        kernel.close()
    result.seconds = round(time.monotonic() - t0, 2)
    return result
