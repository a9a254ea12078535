"""Collect: a folder or an LMS .zip of submissions → one job per (student, assignment)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import CoursekitError

__all__ = ["Job", "CollectError", "collect"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$")


class CollectError(CoursekitError):
    """The submissions as a whole can't be read (message for the instructor)."""


@dataclass
class Job:
    student_id: str
    assignment: str
    raw: bytes  # the submitted file, as submitted (empty when `error` says why it can't be used)
    origin: str  # where it came from (for messages)
    error: str = ""  # a problem with this entry alone: it is graded 0 with this reason

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.raw + self.error.encode()).hexdigest()


def _valid_id(value: str) -> bool:
    return bool(_ID.fullmatch(value)) and value not in (".", "..")


def _shown(name: str) -> str:
    """A name from the submissions, safe to print (escapes, newlines and odd characters shown)."""
    return ascii(name)[1:-1] if not name.isprintable() or not name.isascii() else name


class _Budget:
    """The class's total size cap, spent as entries are read."""

    def __init__(self, file_bytes: int, total_bytes: int) -> None:
        self.file_bytes, self.left, self.total = file_bytes, total_bytes, total_bytes

    def read(self, stream: BinaryIO) -> bytes | str:
        """The stream's bytes, or why not (over one file's cap, or the class's)."""
        cap = min(self.file_bytes, self.left)
        chunks, size = [], 0
        while True:
            chunk = stream.read(min(1 << 20, cap + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                if cap < self.file_bytes:
                    return (
                        f"not read: the class's submissions together are over {self.total >> 20} MB"
                    )
                return f"larger than {self.file_bytes >> 20} MB: refused"
        self.left -= size
        return b"".join(chunks)


def collect(
    path: Path,
    assignments: list[str],
    zip_pattern: str,
    *,
    max_file_mb: int = 20,
    max_total_mb: int = 1024,
) -> tuple[list[Job], list[str]]:
    """Jobs for every submission under `path`, and warnings about files that were skipped.

    Folder layout: <student_id>/<assignment>/<assignment>.ipynb. A .zip: files named by
    `zip_pattern` (a regex with groups `student` and `assignment`) anywhere in the archive.
    Only the course's `assignments` are collected; anything else is a warning. A bad entry is
    that entry's problem, never the class's: a symbolic link or special file, a file over
    `max_file_mb`, two files for one student are that student's error row (graded 0 with the
    reason); an id that is not an id is a warning. Files are read one at a time, within
    `max_total_mb` for the whole class.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise CollectError(f"no such file or folder: {path}")
    budget = _Budget(max_file_mb << 20, max_total_mb << 20)
    if path.is_symlink():
        raise CollectError(f"{path} is a symbolic link: give the folder or the .zip itself")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise CollectError(f"{path} is neither a folder of submissions nor a .zip file")
        jobs, warnings = _from_zip(path, assignments, zip_pattern, budget)
    else:
        jobs, warnings = _from_folder(path, assignments, budget)
    if not jobs:
        raise CollectError(
            f"no submissions found in {path}: expected <student_id>/<assignment>/<assignment>.ipynb "
            f"(or a .zip of <student_id>_<assignment>.ipynb) for one of: {', '.join(assignments)}"
            + (f" ({len(warnings)} files skipped: {warnings[0]})" if warnings else "")
        )
    by_key: dict[tuple[str, str], list[Job]] = {}
    for job in jobs:
        by_key.setdefault((job.student_id, job.assignment), []).append(job)
    out = []
    for (student, assignment), found in by_key.items():
        if len(found) == 1:
            out.append(found[0])
            continue
        where = " and ".join(_shown(j.origin) for j in found)
        out.append(
            Job(
                student,
                assignment,
                b"",
                where,
                error=f"two or more submissions for {student} / {assignment} ({where}): "
                "none was graded; hand in one",
            )
        )
    return sorted(out, key=lambda j: (j.assignment, j.student_id)), warnings


def _from_folder(
    root: Path, assignments: list[str], budget: _Budget
) -> tuple[list[Job], list[str]]:
    jobs, warnings = [], []
    for student_dir in sorted(root.iterdir()):
        if student_dir.name.startswith("."):
            continue
        if not _valid_id(student_dir.name):
            warnings.append(
                f"{_shown(str(student_dir))}: {_shown(student_dir.name)!r} is not a valid "
                "student id (letters, digits, _ . @ + -): skipped"
            )
            continue
        student = student_dir.name
        if student_dir.is_symlink():  # refused for each assignment it claims to hold
            try:
                claimed = sorted(a for a in os.listdir(student_dir) if a in assignments)
            except OSError:
                claimed = []
            for a in claimed:
                jobs.append(
                    Job(
                        student,
                        a,
                        b"",
                        str(student_dir),
                        error=f"the student's folder {student_dir.name} is a symbolic link: refused",
                    )
                )
            if not claimed:
                warnings.append(f"{_shown(str(student_dir))}: a symbolic link, skipped")
            continue
        if not student_dir.is_dir():
            continue
        for adir in sorted(student_dir.iterdir()):
            if adir.name.startswith(".") or not (adir.is_dir() or adir.is_symlink()):
                continue
            if adir.name not in assignments:
                warnings.append(f"{_shown(str(adir))}: not an assignment of this course")
                continue
            nb = adir / f"{adir.name}.ipynb"
            if adir.is_symlink() or nb.is_symlink():
                what = adir if adir.is_symlink() else nb
                jobs.append(
                    Job(
                        student,
                        adir.name,
                        b"",
                        str(nb),
                        error=f"{what.name} is a symbolic link, not the submitted file: refused",
                    )
                )
                continue
            if not nb.exists():
                warnings.append(f"{_shown(str(adir))}: no {adir.name}.ipynb inside")
                continue
            if not stat.S_ISREG(nb.lstat().st_mode):
                jobs.append(
                    Job(
                        student,
                        adir.name,
                        b"",
                        str(nb),
                        error=f"{nb.name} is not a regular file (a device, a pipe or a folder): refused",
                    )
                )
                continue
            try:
                with open(nb, "rb") as f:
                    raw = budget.read(f)
            except OSError as exc:
                raw = f"could not be read ({exc.strerror or exc})"
            if isinstance(raw, str):
                jobs.append(Job(student, adir.name, b"", str(nb), error=f"{nb.name} {raw}"))
            else:
                jobs.append(Job(student, adir.name, raw, str(nb)))
    return jobs, warnings


def _from_zip(
    path: Path, assignments: list[str], pattern: str, budget: _Budget
) -> tuple[list[Job], list[str]]:
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
                m = rx.fullmatch(name)
                if not m:
                    warnings.append(
                        f"{_shown(name)}: does not match the pattern <student_id>_<assignment>.ipynb"
                    )
                    continue
                assignment, student = m.group("assignment"), m.group("student")
                if assignment not in assignments:
                    warnings.append(
                        f"{_shown(name)}: {_shown(assignment)!r} is not an assignment of this course"
                    )
                    continue
                if not _valid_id(student):
                    warnings.append(
                        f"{_shown(name)}: {_shown(student)!r} is not a valid student id "
                        "(letters, digits, _ . @ + -): skipped"
                    )
                    continue
                mode = (info.external_attr >> 16) & 0o170000
                if mode and not stat.S_ISREG(mode):
                    jobs.append(
                        Job(
                            student,
                            assignment,
                            b"",
                            f"{path}:{name}",
                            error=f"{name} is a symbolic link or special file in the zip: refused",
                        )
                    )
                    continue
                try:
                    with zf.open(info) as f:
                        raw = budget.read(f)
                except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                    raw = f"could not be read from the zip ({exc})"
                if isinstance(raw, str):
                    jobs.append(
                        Job(student, assignment, b"", f"{path}:{name}", error=f"{name} {raw}")
                    )
                else:
                    jobs.append(Job(student, assignment, raw, f"{path}:{name}"))
    except zipfile.BadZipFile as exc:
        raise CollectError(f"{path} is not a readable zip file ({exc})") from None
    return jobs, warnings
