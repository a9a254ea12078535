"""What grading produces: one row per exercise, one record per submission, a class table."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .outputs import csv_cell, safe_text

__all__ = ["STATUSES", "ICONS", "CellRecord", "ExerciseResult", "SubmissionResult", "ClassResult"]

STATUSES = ("passed", "failed", "error", "timeout", "missing")
ICONS = {"passed": "✔", "failed": "✘", "error": "⚠", "timeout": "⏱", "missing": "?"}


@dataclass
class CellRecord:
    """One code cell of the graded notebook as it ran: what ran and what it printed. For a test
    cell `source` is the released (visible) text, never the hidden tests."""

    kind: str  # "code" (ran in the sandbox) or "test" (judged by the grader)
    source: str
    outputs: list[dict] = field(default_factory=list)  # nbformat outputs
    nbgrader: dict = field(default_factory=dict)  # the released cell's nbgrader metadata, if any

    def __post_init__(self) -> None:  # a result file from an older run: its texts made safe too
        for o in self.outputs:
            if isinstance(o, dict) and isinstance(o.get("text"), str):
                o["text"] = safe_text(o["text"])


@dataclass
class ExerciseResult:
    """One graded test cell of one student's notebook (a row of exercises.csv)."""

    student_id: str
    assignment: str
    grade_id: str
    score: float
    max_score: float
    status: str  # one of STATUSES
    message: str = ""
    flags: list[str] = field(default_factory=list)  # tampering detected on this cell
    output: str = ""  # what the visible checks printed (shown in the feedback)

    def __post_init__(
        self,
    ) -> None:  # text from a student, safe to write anywhere (CSV, HTML, JSON)
        self.message = safe_text(self.message, 4000)
        self.output = safe_text(self.output)
        self.flags = [safe_text(f, 1000) for f in self.flags]


@dataclass
class SubmissionResult:
    student_id: str
    assignment: str
    exercises: list[ExerciseResult]
    flags: list[str] = field(default_factory=list)  # tampering with the notebook as a whole
    error: str = ""  # why the notebook could not be graded normally (invalid JSON, crash...)
    digest: str = ""  # SHA-256 of the submitted file: a re-run skips what is already graded
    feedback: str = ""  # path of the feedback HTML
    seconds: float = 0.0
    cells: list[CellRecord] = field(default_factory=list)  # the executed notebook's code cells

    def __post_init__(self) -> None:
        self.error = safe_text(self.error, 4000)
        self.flags = [safe_text(f, 1000) for f in self.flags]

    @property
    def score(self) -> float:
        return sum(e.score for e in self.exercises)

    @property
    def max_score(self) -> float:
        return sum(e.max_score for e in self.exercises)

    def exercise(self, grade_id: str) -> ExerciseResult:
        for e in self.exercises:
            if e.grade_id == grade_id:
                return e
        raise KeyError(grade_id)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        data = dict(data)
        data["exercises"] = [ExerciseResult(**e) for e in data.get("exercises", [])]
        data["cells"] = [CellRecord(**c) for c in data.get("cells", [])]
        return cls(**data)

    @property
    def flagged(self) -> bool:
        return bool(self.flags or any(e.flags for e in self.exercises))

    def all_flags(self) -> list[str]:
        return [*self.flags, *(f for e in self.exercises for f in e.flags)]


@dataclass
class ClassResult:
    out: Path
    submissions: list[SubmissionResult]

    def get(self, student_id: str, assignment: str | None = None) -> SubmissionResult:
        for s in self.submissions:
            if s.student_id == student_id and (assignment is None or s.assignment == assignment):
                return s
        raise KeyError((student_id, assignment))

    def table(self) -> str:
        """The grade table printed at the end of `coursekit autograde`."""
        rows = [("student", "assignment", "score", "status")]
        for s in sorted(self.submissions, key=lambda s: (s.assignment, s.student_id)):
            counts: dict[str, int] = {}
            for e in s.exercises:
                counts[e.status] = counts.get(e.status, 0) + 1
            status = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
            if s.error:
                status = (status + "; " if status else "") + s.error.splitlines()[0][:60]
            if s.flagged:
                status += "  [FLAGGED]"
            rows.append((s.student_id, s.assignment, f"{s.score:g} / {s.max_score:g}", status))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [
            f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows
        ]
        lines.insert(1, "-" * max(len(x) for x in lines))
        return "\n".join(lines)

    def grades_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["student_id", "assignment", "score", "max_score"])
        for s in sorted(self.submissions, key=lambda s: (s.student_id, s.assignment)):
            w.writerow([s.student_id, s.assignment, f"{s.score:g}", f"{s.max_score:g}"])
        return buf.getvalue()

    def exercises_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(
            [
                "student_id",
                "assignment",
                "grade_id",
                "score",
                "max_score",
                "status",
                "message",
                "flags",
            ]
        )
        for s in sorted(self.submissions, key=lambda s: (s.student_id, s.assignment)):
            for e in s.exercises:
                flags = "; ".join([*s.flags, *e.flags])
                w.writerow(
                    [
                        s.student_id,
                        s.assignment,
                        e.grade_id,
                        f"{e.score:g}",
                        f"{e.max_score:g}",
                        e.status,
                        csv_cell(e.message),
                        csv_cell(flags),
                    ]
                )
        return buf.getvalue()
