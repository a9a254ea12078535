"""One submission, graded: its plan run in a sandboxed kernel, each test judged by the grader.

:func:`grade_job` never raises for anything the submission does: a broken notebook, a crash, a
timeout or a dead kernel become that submission's statuses and messages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import Iterator

from .assignment import Assignment
from .collect import Job
from .config import Limits
from .integrity import NotebookUnreadable, Plan, plan_submission, read_notebook
from .kernel import Kernel, KernelDied
from .outputs import OutputBudget, safe_text
from .results import ICONS, CellRecord, ExerciseResult, SubmissionResult
from .sandbox import HIDDEN_PACKAGES, NUMPY_ONLY_TAIL, SandboxUnavailable
from .verdict import Pending, Verdict, evaluate_hidden, evaluate_visible

__all__ = ["grade_job", "not_graded", "same_threads"]


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


@contextlib.contextmanager
def same_threads(n: int) -> Iterator[None]:
    """torch in this (the grader's) process uses the student's kernel's `n` threads meanwhile.

    A test's reference values are computed here and compared with the student's, computed in
    the kernel: with another thread count torch sums in another order, and a few Adam steps
    turn those last-bit differences into a wrong verdict for a correct answer (seen: notebook
    05's train_one_epoch graded in one process on 2 cores, the kernel on 1 thread)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def grade_job(
    job: Job, assignment: Assignment, limits: Limits, *, sandbox: bool = True, slot: int = 0
) -> SubmissionResult:
    """Grade one submission of `assignment` under `limits` (in a sandbox unless told not to);
    the grader's side of the verdicts with the kernel's thread count (same_threads)."""
    with same_threads(limits.cpu_threads):
        missed: set[str] = set()
        result = _grade_job(job, assignment, limits, sandbox=sandbox, slot=slot, missed=missed)
        if missed and assignment.skip_show_only:
            # a cell of the student's read a name that only a skipped show-only cell defines (the
            # release check sees the instructor's cells, not what a student adds): grade again
            # with every cell, as the student's own run had them
            full = dataclasses.replace(assignment, skip_show_only=False)
            result = _grade_job(job, full, limits, sandbox=sandbox, slot=slot)
        return result


_NAME_ERROR = re.compile(r"name '([A-Za-z_][A-Za-z0-9_]*)' is not defined")


def _reads_skipped(error: dict | None, skipped: frozenset[str]) -> str:
    """The skipped name a cell's NameError is about ('' if none)."""
    if not error or error.get("ename") != "NameError":
        return ""
    m = _NAME_ERROR.search(str(error.get("evalue", "")))
    return m.group(1) if m and m.group(1) in skipped else ""


def _grade_job(
    job: Job,
    assignment: Assignment,
    limits: Limits,
    *,
    sandbox: bool = True,
    slot: int = 0,
    missed: set[str] | None = None,
) -> SubmissionResult:
    """Grade one submission of `assignment` under `limits` (in a sandbox unless told not to).

    The notebook runs cell by cell; each test's visible checks run in their place. The hidden
    tests run after the last cell, so that no cell of the student's sees what they passed in; if
    the kernel died before they could run, they run in a second kernel that replays the cells up
    to them (what ran before a crash still counts)."""
    t0 = time.monotonic()
    if job.error:  # a problem with this entry found when it was collected
        return not_graded(job, assignment, "error", f"not graded: {job.error}")
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
    budget = OutputBudget(limits.total_output_kb, limits.images_kb)
    verdicts: dict[int, Verdict] = {}  # plan index → verdict of a test
    pending: dict[int, Pending] = {}  # plan index → a test waiting for its hidden part
    records: dict[int, CellRecord] = {}
    dead = ""
    clean = CleanRoom(plan, limits, slot, sandbox)
    skipped = assignment.show_only_names if assignment.skip_show_only else frozenset()
    try:
        for i, cell in enumerate(plan.cells):
            if cell.kind == "code":
                record = CellRecord(
                    "code", cell.source, [], dict(assignment.meta.get(cell.grade_id, {}))
                )
                if not dead:
                    try:
                        outputs, error = kernel.run_cell(cell.source)
                        name = _reads_skipped(error, skipped)
                        if name and missed is not None:
                            missed.add(name)
                        record.outputs = budget.filter(outputs)
                        if error and error.get("timeout"):
                            record.outputs.append(
                                _stream(f"⏱ stopped: {safe_text(error.get('evalue'), 500)}\n")
                            )
                    except KernelDied as exc:
                        dead = str(exc)
                        record.outputs = [_stream(f"⚠ the kernel stopped here: {dead}\n")]
                result.cells.append(record)
                continue
            records[i] = CellRecord("test", cell.source, [], dict(cell.test.meta))
            result.cells.append(records[i])
            if dead:
                verdicts[i] = Verdict(
                    _dead_status(dead), f"not graded: {dead} (in an earlier cell)"
                )
                continue
            k = clean.kernel() if cell.test.numpy_only else kernel
            if isinstance(k, str):
                verdicts[i] = Verdict("error", f"not graded: {k}")
                continue
            first = evaluate_visible(k, cell.test)
            if isinstance(first, Pending):
                pending[i] = first
            else:
                verdicts[i] = first
            dead = kernel.dead
        _hidden_parts(plan, pending, verdicts, limits, slot, sandbox)
    finally:
        kernel.close()
        clean.close()
    for i, cell in enumerate(plan.cells):
        if cell.kind != "test":
            continue
        v = verdicts[i]
        output = budget.filter([_stream(v.output)]) if v.output else []
        message = safe_text(v.message, 4000)
        score = cell.points if v.status == "passed" else 0.0
        result.exercises.append(
            ExerciseResult(
                job.student_id,
                job.assignment,
                cell.grade_id,
                score,
                cell.points,
                v.status,
                message,
                list(cell.flags),
                "".join(o.get("text", "") for o in output),
            )
        )
        line = f"{ICONS[v.status]} {v.status}: {score:g} / {cell.points:g}" + (
            f" — {message}" if message else ""
        )
        records[i].outputs = output + [
            _stream(line + "\n", "stderr" if v.status != "passed" else "stdout")
        ]
    notes = budget.notes()
    if notes and result.cells:
        result.cells[-1].outputs.extend(notes)
    result.seconds = round(time.monotonic() - t0, 2)
    return result


CLEAN_PRELUDE = """
import math
import numpy as np


class _NumPyOnly:  # what a student's `torch.…` / `F.…` / `scipy.…` finds in a NumPy-only kernel
    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        raise ImportError(self._name + NUMPY_ONLY_TAIL)

    def __call__(self, *args, **kwargs):
        self.__getattr__("__call__")


torch = nn = F = _NumPyOnly("torch")
scipy = _NumPyOnly("scipy")
""".replace("NUMPY_ONLY_TAIL", repr(NUMPY_ONLY_TAIL))


class CleanRoom:
    """A submission's NumPy-only kernel (torch and scipy can't be imported): started when a test
    tagged `numpy-only` first needs it, with the student's own cells (answers and the cells they
    added, outputs discarded) run in it. Its verdicts don't depend on a trace the student's
    process could falsify: what isn't there can't be called."""

    def __init__(self, plan: Plan, limits: Limits, slot: int, sandbox: bool) -> None:
        self.plan, self.limits, self.slot, self.sandbox = plan, limits, slot, sandbox
        self._kernel: Kernel | None = None
        self._why = ""

    def kernel(self) -> Kernel | str:
        """The kernel, or why there is none."""
        if self._kernel is None and not self._why:
            try:
                k = Kernel.start(
                    self.limits, slot=self.slot, sandbox=self.sandbox, hide=HIDDEN_PACKAGES
                )
            except (KernelDied, SandboxUnavailable, OSError) as exc:
                self._why = f"the NumPy-only kernel could not start ({exc})"
                return self._why
            try:
                k.run_cell(CLEAN_PRELUDE)
                for cell in self.plan.cells:
                    if cell.kind == "code" and cell.origin == "student":
                        k.run_cell(cell.source)
            except KernelDied as exc:
                self._why = f"the student's cells stopped the NumPy-only kernel ({exc})"
                k.close()
                return self._why
            self._kernel = k
        if self._kernel is not None and self._kernel.dead:
            return f"the NumPy-only kernel stopped ({self._kernel.dead})"
        return self._kernel if self._kernel is not None else self._why

    def close(self) -> None:
        if self._kernel is not None:
            self._kernel.close()


def _hidden_parts(
    plan: Plan,
    pending: dict[int, Pending],
    verdicts: dict[int, Verdict],
    limits: Limits,
    slot: int,
    sandbox: bool,
) -> None:
    """The hidden tests of `pending`, in order, after the notebook's last cell; where the kernel
    is dead, in a kernel that replays the notebook's cells up to them (twice at most)."""
    for attempt in range(3):
        todo = sorted(i for i in pending if i not in verdicts)
        if not todo:
            return
        if attempt:  # a fresh kernel, replaying the notebook up to the tests still to judge
            try:
                kernel = Kernel.start(limits, slot=slot, sandbox=sandbox)
                clean = CleanRoom(plan, limits, slot, sandbox)
            except (KernelDied, SandboxUnavailable, OSError) as exc:
                for i in todo:
                    verdicts[i] = Verdict(
                        "error",
                        f"not graded: the kernel for the hidden tests could not start ({exc})",
                        pending[i].output,
                    )
                return
        try:
            if attempt:
                _replay(plan, todo, pending, verdicts, kernel, clean)
            else:
                for i in todo:
                    if not pending[i].kernel.dead:
                        verdicts[i] = evaluate_hidden(pending[i])
        finally:
            if attempt:
                kernel.close()
                clean.close()
    for i in pending:
        if i not in verdicts:
            verdicts[i] = Verdict(
                "error",
                "not graded: the kernel stopped again and again before the hidden tests could run",
                pending[i].output,
            )


def _replay(
    plan: Plan,
    todo: list[int],
    pending: dict[int, Pending],
    verdicts: dict[int, Verdict],
    kernel: Kernel,
    clean: CleanRoom,
) -> None:
    """Run the plan's code cells (outputs discarded) up to each test of `todo`, then that test
    whole — its visible checks again, for their names, then the hidden tests."""
    last = max(todo)
    for i, cell in enumerate(plan.cells[: last + 1]):
        if kernel.dead:
            return
        if cell.kind == "code":
            try:
                kernel.run_cell(cell.source)
            except KernelDied:
                return
        elif i in todo:
            k = clean.kernel() if cell.test.numpy_only else kernel
            if isinstance(k, str):
                verdicts[i] = Verdict("error", f"not graded: {k}", pending[i].output)
                continue
            first = evaluate_visible(k, cell.test)
            if isinstance(first, Pending):
                if k.dead:
                    return
                v = evaluate_hidden(first)
            else:  # passed the first time, not now: say so rather than guess
                v = Verdict(
                    first.status, f"on a second run (the kernel had stopped): {first.message}"
                )
            if k.dead and v.status != "passed":
                return  # died during it: try again in the next kernel
            verdicts[i] = Verdict(v.status, v.message, pending[i].output)
