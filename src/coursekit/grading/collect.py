"""Collect: a folder or an LMS .zip of submissions → one job per (student, assignment)."""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import CoursekitError

__all__ = ["Job", "CollectError", "collect"]

MAX_NOTEBOOK_BYTES = 50 * 2**20
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$")


class CollectError(CoursekitError):
    """The submissions as a whole can't be read (message for the instructor)."""


@dataclass
class Job:
    student_id: str
    assignment: str
    raw: bytes  # the submitted file, as submitted
    origin: str  # where it came from (for messages)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def _check_id(value: str, what: str, origin: str) -> str:
    if not _ID.match(value) or value in (".", ".."):
        raise CollectError(
            f"{origin}: {what} {value!r} is not a valid id (letters, digits, _ . @ + -)"
        )
    return value


def collect(path: Path, assignments: list[str], zip_pattern: str) -> tuple[list[Job], list[str]]:
    """Jobs for every submission under `path`, and warnings about files that were skipped.

    Folder layout: <student_id>/<assignment>/<assignment>.ipynb. A .zip: files named by
    `zip_pattern` (a regex with groups `student` and `assignment`) anywhere in the archive.
    Only the course's `assignments` are collected; anything else is a warning, not an error.
    """
    path = Path(path)
    if not path.exists():
        raise CollectError(f"no such file or folder: {path}")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise CollectError(f"{path} is neither a folder of submissions nor a .zip file")
        jobs, warnings = _from_zip(path, assignments, zip_pattern)
    else:
        jobs, warnings = _from_folder(path, assignments)
    if not jobs:
        raise CollectError(
            f"no submissions found in {path}: expected <student_id>/<assignment>/<assignment>.ipynb "
            f"(or a .zip of <student_id>_<assignment>.ipynb) for one of: {', '.join(assignments)}"
            + (f" ({len(warnings)} files skipped: {warnings[0]})" if warnings else "")
        )
    seen: dict[tuple[str, str], str] = {}
    for job in jobs:
        key = (job.student_id, job.assignment)
        if key in seen:
            raise CollectError(
                f"two submissions for {key[0]} / {key[1]}: {seen[key]} and {job.origin}"
            )
        seen[key] = job.origin
    return sorted(jobs, key=lambda j: (j.assignment, j.student_id)), warnings


def _from_folder(root: Path, assignments: list[str]) -> tuple[list[Job], list[str]]:
    jobs, warnings = [], []
    for student_dir in sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
    ):
        for adir in sorted(
            p for p in student_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            if adir.name not in assignments:
                warnings.append(f"{adir}: not an assignment of this course")
                continue
            nb = adir / f"{adir.name}.ipynb"
            if not nb.is_file():
                warnings.append(f"{adir}: no {adir.name}.ipynb inside")
                continue
            if nb.stat().st_size > MAX_NOTEBOOK_BYTES:
                warnings.append(f"{nb}: larger than {MAX_NOTEBOOK_BYTES // 2**20} MB, skipped")
                continue
            student = _check_id(student_dir.name, "student id", str(student_dir))
            jobs.append(Job(student, adir.name, nb.read_bytes(), str(nb)))
    return jobs, warnings


def _from_zip(path: Path, assignments: list[str], pattern: str) -> tuple[list[Job], list[str]]:
    rx = re.compile(pattern)
    jobs, warnings = [], []
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            if not infos:
                raise CollectError(f"{path} is an empty zip file")
            for info in infos:
                name = info.filename
                base = name.rsplit("/", 1)[-1]
                if base.startswith(".") or "__MACOSX" in name:
                    continue
                m = rx.match(name)
                if not m:
                    warnings.append(
                        f"{name}: does not match the pattern <student_id>_<assignment>.ipynb"
                    )
                    continue
                assignment = m.group("assignment")
                if assignment not in assignments:
                    warnings.append(f"{name}: {assignment!r} is not an assignment of this course")
                    continue
                if info.file_size > MAX_NOTEBOOK_BYTES:
                    warnings.append(
                        f"{name}: larger than {MAX_NOTEBOOK_BYTES // 2**20} MB, skipped"
                    )
                    continue
                student = _check_id(m.group("student"), "student id", name)
                jobs.append(Job(student, assignment, zf.read(info), f"{path}:{name}"))
    except zipfile.BadZipFile as exc:
        raise CollectError(f"{path} is not a readable zip file ({exc})") from None
    return jobs, warnings
