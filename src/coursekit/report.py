"""The instructor's view of a graded class: ``OUT/report.html`` and the same numbers as CSV.

    coursekit report autograder/out            # also written by `coursekit autograde`

From a :class:`~coursekit.grading.results.ClassResult` (what ``autograde`` returns), or from an
out folder (its ``grades.csv`` says which submissions belong to the class; their records are read
from ``out/.results/``). The page (:mod:`coursekit.report_html`) shows, per assignment:

- the score distribution, mean, median, and how many were graded, missing, late, flagged;
- each exercise's passed / failed / error / timeout / missing counts (the numbers of
  ``exercises.csv``, counted the same way);
- the class's mistakes: each exercise's failing messages grouped by the mistake they *name*
  (:func:`named_hint`: the text after "matches a known mistake:", or the check's diagnosis with
  the check's name, numbers, shapes and values left out), most frequent first;
- the students who need a look (flagged, not graded, timeouts, kernels that died, zero scores);
- grading time per notebook;
- similar submissions (:mod:`coursekit.similarity`): evidence for a human, never a penalty.

Beside it, ``OUT/report/*.csv`` hold what each figure and table shows.

Late submissions: the results hold no submission times, so lateness is given — ``late=`` (a set
of student ids, or of (student_id, assignment) pairs) or ``coursekit report --late FILE`` (one
``student_id[,assignment]`` per line). Missing: students of the roster (``autograder/roster.csv``,
see :mod:`coursekit.export`), or failing a roster the students graded for any assignment, who
have no submission for this one.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .errors import CoursekitError
from .grading.results import STATUSES, ClassResult, SubmissionResult

__all__ = [
    "ReportError",
    "AssignmentSummary",
    "ExerciseCounts",
    "MistakeGroup",
    "LookRow",
    "ClassReport",
    "named_hint",
    "load_result",
    "read_late",
    "build_report",
    "write_report",
]


class ReportError(CoursekitError):
    """The out folder can't be reported on (no grades.csv, unreadable late list...)."""


@dataclass
class AssignmentSummary:
    assignment: str
    max_score: float
    scores: list[float]  # one per graded submission
    missing: int  # known students without a submission
    late: int
    flagged: int

    @property
    def graded(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.scores) if self.scores else 0.0

    def histogram(self) -> list[tuple[float, float, int]]:
        """(from, to, students) bins: one per possible score (k - 0.5 to k + 0.5) when scores
        are whole points up to 30, else 20 equal bins (the last includes its upper end)."""
        top = self.max_score or max(self.scores, default=1.0) or 1.0
        if (
            top <= 30
            and float(top).is_integer()
            and all(float(s).is_integer() for s in self.scores)
        ):
            counts = [0] * (int(top) + 1)
            for s in self.scores:
                counts[min(int(top), max(0, int(s)))] += 1
            return [(k - 0.5, k + 0.5, c) for k, c in enumerate(counts)]
        n, width = 20, top / 20
        counts = [0] * n
        for s in self.scores:
            counts[min(n - 1, max(0, int(s / width)))] += 1
        return [(i * width, (i + 1) * width, c) for i, c in enumerate(counts)]


@dataclass
class ExerciseCounts:
    assignment: str
    grade_id: str
    max_score: float
    counts: dict[str, int]  # status → submissions

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class MistakeGroup:
    assignment: str
    grade_id: str
    status: str
    mistake: str  # the named hint, as most of the group's messages say it
    students: list[str]
    share: float  # of the assignment's graded submissions
    example: str = ""  # one full message of the group (first line)


@dataclass
class LookRow:
    student_id: str
    assignment: str
    score: float
    max_score: float
    reasons: list[str]
    feedback: str = ""  # relative link to the feedback page, when it exists


@dataclass
class ClassReport:
    out: Path
    generated: str
    summaries: list[AssignmentSummary]
    exercises: list[ExerciseCounts]
    mistakes: list[MistakeGroup]
    look: list[LookRow]
    times: list[tuple[str, str, float]]  # (student, assignment, seconds)
    similar: list = field(default_factory=list)  # similarity.SimilarPair, best first
    notes: list[str] = field(default_factory=list)


# --- the mistake a message names ----------------------------------------------------------------

_KNOWN = "matches a known mistake:"
_HIDDEN = "a hidden test failed: "
_DETAIL = re.compile(r"\s(?:Expected|Largest difference)\b.*$")  # checks append values last
_PAREN_NUM = re.compile(r"\s*\((?=[^()]*(?<![A-Za-z_\d])\d)[^()]*\)")  # "(rel_error = 3e-01)"
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?")
_EXCEPTION = re.compile(r"^[A-Z]\w*(?:Error|Exception|Warning|Interrupt|Exit)$")


def _check_label_end(text: str) -> int:
    """Where the check's own label ends ("conv_output_size(7, 3, stride=3): ..."): the index after
    the first ': ' outside brackets and quotes, or 0 when there is none."""
    depth, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in '`"':
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == ":" and depth == 0 and text[i + 1 : i + 2] == " ":
            return i + 2
    return 0


def named_hint(message: str, status: str = "failed") -> str:
    """The mistake a grader's message names, without what varies between students.

    "Correia's example, 2x2 max pooling: your result matches a known mistake: this is avg pooling,
    not max pooling." → "this is avg pooling, not max pooling"; "a hidden test failed:
    conv_output_size: the values are wrong (rel_error = 3e-01, ...). Largest difference ..." →
    "the values are wrong". A failed check loses its label (the text before its first ': '), the
    values it quotes ("Expected ..., got ...", parenthesised numbers), and its final full stop;
    an error or a timeout keeps its wording (it names the student's function) with the same
    details dropped. Group by :func:`mistake_key` of this text.
    """
    text = (message or "").strip().splitlines()[0].strip() if (message or "").strip() else ""
    if text.startswith(_HIDDEN):
        text = text[len(_HIDDEN) :]
    if _KNOWN in text:
        text = text.split(_KNOWN, 1)[1]
    elif status == "failed":
        cut = _check_label_end(text)
        if cut and not _EXCEPTION.match(text[: cut - 2]):
            text = text[cut:]
    text = _DETAIL.sub("", text)
    text = _PAREN_NUM.sub("", text)
    text = re.sub(r"\s+", " ", text).strip().rstrip(".;:, ").strip()
    return text or (message or "").strip()[:120] or status


def mistake_key(hint: str) -> str:
    """Two hints that differ only in numbers or case name the same mistake."""
    return re.sub(r"\s+", " ", _NUMBER.sub("#", hint.lower())).strip()


# --- reading an out folder --------------------------------------------------------------------


def load_result(out: str | Path) -> ClassResult:
    """The ClassResult of a grading run, from its out folder: the submissions of grades.csv, as
    recorded in out/.results/ (a result cached there for a student no longer in the class is
    left out)."""
    from .grading.store import RESULT_VERSION

    out = Path(out).resolve()
    grades = out / "grades.csv"
    if not grades.is_file():
        raise ReportError(
            f"{out} has no grades.csv: grade a class into it first (coursekit autograde)"
        )
    with grades.open(newline="", encoding="utf-8") as fh:
        rows = [(r["student_id"], r["assignment"]) for r in csv.DictReader(fh)]
    subs = []
    for student, assignment in rows:
        path = out / ".results" / f"{student}__{assignment}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReportError(
                f"{path}: the result of {student} / {assignment} is unreadable ({exc})"
            ) from None
        if data.get("version") != RESULT_VERSION:
            raise ReportError(
                f"{path}: written by another version of coursekit; re-grade with --force"
            )
        subs.append(SubmissionResult.from_dict(data["result"]))
    return ClassResult(out, subs)


def read_late(path: str | Path) -> set[tuple[str, str | None]]:
    """A late list: one ``student_id`` (late for every assignment) or ``student_id,assignment``
    per line; blank lines, ``#`` comments and a header line ``student_id,...`` are skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot read the late list {path}: {exc.strerror or exc}") from None
    late: set[tuple[str, str | None]] = set()
    for row in csv.reader(io.StringIO(text)):
        row = [c.strip() for c in row]
        if not row or not row[0] or row[0].startswith("#") or row[0] == "student_id":
            continue
        late.add((row[0], row[1] if len(row) > 1 and row[1] else None))
    return late


def _late_set(late: Iterable | None) -> set[tuple[str, str | None]]:
    out: set[tuple[str, str | None]] = set()
    for item in late or ():
        if isinstance(item, str):
            out.add((item, None))
        else:
            student, assignment = item
            out.add((str(student), assignment))
    return out


# --- the numbers ------------------------------------------------------------------------------


def _is_late(late: set, student: str, assignment: str) -> bool:
    return (student, None) in late or (student, assignment) in late


def _reasons(s: SubmissionResult) -> list[str]:
    reasons = [f"flagged: {f}" for f in s.all_flags()]
    if s.error:
        reasons.append(s.error.splitlines()[0])
    later = "(in an earlier cell)"  # a test not run because an earlier cell stopped the notebook
    timeouts = [e.grade_id for e in s.exercises if e.status == "timeout" and later not in e.message]
    if timeouts:
        reasons.append("timeout in " + ", ".join(timeouts))
    died = next(
        (e for e in s.exercises if e.status == "error" and "kernel stopped" in e.message), None
    )
    if died is not None:
        reasons.append(f"the kernel died in {died.grade_id}")
    stopped = next((e for e in s.exercises if later in e.message), None)
    if stopped is not None and died is None and not s.error:
        why = stopped.message.splitlines()[0].replace(later, "").strip()
        reasons.append(f"from {stopped.grade_id} on, {why}")
    if s.max_score > 0 and s.score == 0:
        reasons.append("zero score")
    return reasons


def _feedback_link(out: Path, s: SubmissionResult) -> str:
    rel = Path("feedback") / s.student_id / f"{s.assignment}.html"
    return rel.as_posix() if (out / rel).is_file() else ""


def _mistakes(subs: list[SubmissionResult], assignment: str) -> list[MistakeGroup]:
    graded = len(subs)
    groups: dict[tuple[str, str, str], dict] = {}
    order: dict[str, int] = {}
    for s in subs:
        for n, e in enumerate(s.exercises):
            order.setdefault(e.grade_id, n)
            if e.status == "passed":
                continue
            hint = named_hint(e.message, e.status)
            g = groups.setdefault(
                (e.grade_id, e.status, mistake_key(hint)),
                {"students": [], "hints": defaultdict(int), "example": e.message},
            )
            g["students"].append(s.student_id)
            g["hints"][hint] += 1
    out = []
    for (gid, status, _), g in groups.items():
        hint = max(g["hints"].items(), key=lambda kv: (kv[1], -len(kv[0])))[0]
        example = (g["example"] or "").strip().splitlines()
        out.append(
            MistakeGroup(
                assignment,
                gid,
                status,
                hint,
                sorted(g["students"]),
                len(g["students"]) / graded if graded else 0.0,
                example[0] if example else "",
            )
        )
    out.sort(key=lambda m: (order.get(m.grade_id, 0), -len(m.students), m.mistake))
    return out


def build_report(
    result: ClassResult,
    *,
    late: Iterable | None = None,
    roster: Iterable[str] | None = None,
    root: str | Path | None = None,
    similarity: bool = True,
    top_pairs: int = 10,
    cache: Path | None = None,
) -> ClassReport:
    """The numbers of the report (nothing written).

    late: student ids (late for every assignment) or (student_id, assignment) pairs.
    roster: the class's student ids (for the missing counts); default: everyone graded.
    root: the course (for the starter code and solutions the similarity search discounts).
    cache: where the similarity search keeps tokenised answers between runs (a JSON file).
    """
    late_set = _late_set(late)
    out = Path(result.out)
    by_assignment: dict[str, list[SubmissionResult]] = defaultdict(list)
    for s in result.submissions:
        by_assignment[s.assignment].append(s)
    known = set(roster or ()) | {s.student_id for s in result.submissions}

    summaries, exercises, mistakes, similar, notes = [], [], [], [], []
    for assignment in sorted(by_assignment):
        subs = by_assignment[assignment]
        submitted = {s.student_id for s in subs}
        summaries.append(
            AssignmentSummary(
                assignment,
                max((s.max_score for s in subs), default=0.0),
                [s.score for s in subs],
                len(known - submitted),
                sum(_is_late(late_set, s.student_id, assignment) for s in subs),
                sum(s.flagged for s in subs),
            )
        )
        per: dict[str, ExerciseCounts] = {}
        for s in subs:
            for e in s.exercises:
                c = per.setdefault(
                    e.grade_id,
                    ExerciseCounts(assignment, e.grade_id, e.max_score, dict.fromkeys(STATUSES, 0)),
                )
                c.counts[e.status] = c.counts.get(e.status, 0) + 1
        exercises += per.values()
        mistakes += _mistakes(subs, assignment)
        if similarity:
            similar += _similar(subs, assignment, root, top_pairs, notes, cache)

    look = [
        LookRow(s.student_id, s.assignment, s.score, s.max_score, r, _feedback_link(out, s))
        for s in sorted(result.submissions, key=lambda s: (s.assignment, s.student_id))
        if (r := _reasons(s))
    ]
    times = [(s.student_id, s.assignment, float(s.seconds)) for s in result.submissions]
    return ClassReport(
        out,
        datetime.now().strftime("%Y-%m-%d %H:%M"),
        summaries,
        exercises,
        mistakes,
        look,
        times,
        similar,
        notes,
    )


def _similar(subs, assignment, root, top, notes, cache) -> list:
    from .similarity import boilerplate_for, find_similar

    try:
        boilerplate = boilerplate_for(assignment, Path(root) if root else None)
    except (OSError, ValueError) as exc:  # no release/solution here: compare without discounts
        notes.append(f"{assignment}: starter code and solution not found ({exc}); not discounted")
        boilerplate = {}
    return find_similar(subs, boilerplate, top=top, cache=cache)


# --- the files ----------------------------------------------------------------------------------


def _csv(path: Path, header: list[str], rows: Iterable[Iterable]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _g(x: float) -> str:
    return f"{x:.4g}"


def write_csvs(report: ClassReport, folder: Path) -> list[Path]:
    """The figures' and tables' numbers, one CSV each, into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "assignments.csv": (
            ["assignment", "graded", "missing", "late", "flagged", "mean", "median", "max_score"],
            [
                [s.assignment, s.graded, s.missing, s.late, s.flagged, _g(s.mean), _g(s.median)]
                + [_g(s.max_score)]
                for s in report.summaries
            ],
        ),
        "score_histogram.csv": (
            ["assignment", "score_from", "score_to", "students"],
            [
                [s.assignment, _g(a), _g(b), n]
                for s in report.summaries
                for a, b, n in s.histogram()
            ],
        ),
        "exercise_status.csv": (
            ["assignment", "grade_id", "max_score", *STATUSES, "total"],
            [
                [e.assignment, e.grade_id, _g(e.max_score), *(e.counts.get(k, 0) for k in STATUSES)]
                + [e.total]
                for e in report.exercises
            ],
        ),
        "mistakes.csv": (
            ["assignment", "grade_id", "status", "mistake", "students", "share", "student_ids"],
            [
                [m.assignment, m.grade_id, m.status, m.mistake, len(m.students), _g(m.share)]
                + ["; ".join(m.students)]
                for m in report.mistakes
            ],
        ),
        "needs_a_look.csv": (
            ["student_id", "assignment", "score", "max_score", "reasons"],
            [
                [r.student_id, r.assignment, _g(r.score), _g(r.max_score), "; ".join(r.reasons)]
                for r in report.look
            ],
        ),
        "grading_time.csv": (
            ["student_id", "assignment", "seconds"],
            [[s, a, f"{t:.2f}"] for s, a, t in report.times],
        ),
        "similar.csv": (
            ["assignment", "student_a", "student_b", "tokens_in_common", "share_a", "share_b"],
            [
                [p.assignment, p.a, p.b, p.overlap, f"{p.share[0]:.3f}", f"{p.share[1]:.3f}"]
                for p in report.similar
            ],
        ),
    }
    paths = []
    for name, (header, rows) in files.items():
        _csv(folder / name, header, rows)
        paths.append(folder / name)
    return paths


def write_report(
    result: ClassResult | str | Path,
    *,
    late: Iterable | None = None,
    roster: str | Path | None = None,
    root: str | Path | None = None,
    similarity: bool = True,
) -> Path:
    """Write OUT/report.html and OUT/report/*.csv for a ClassResult or an out folder; returns
    the page's path. roster: a roster CSV (default: the course's autograder/roster.csv when it
    exists)."""
    from .grading.store import write_atomic
    from .report_html import render

    if not isinstance(result, ClassResult):
        result = load_result(result)
    report = build_report(
        result,
        late=late,
        roster=_roster_ids(roster, root),
        root=root,
        similarity=similarity,
        cache=Path(result.out) / "report" / ".fingerprints.json",
    )
    out = Path(result.out)
    write_csvs(report, out / "report")
    page = out / "report.html"
    write_atomic(page, render(report))
    return page


def _roster_ids(roster: str | Path | None, root: str | Path | None) -> set[str] | None:
    from .export import default_roster, read_roster

    path = Path(roster) if roster else default_roster(root)
    if path is None or not path.is_file():
        if roster:
            raise ReportError(f"no roster at {roster}")
        return None
    return set(read_roster(path))
