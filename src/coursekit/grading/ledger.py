"""The job ledger: which submissions are graded, with what, and their results — the source of
truth for "already graded", in the gradebook's own database.

Each job is keyed by a content hash (:func:`task_key`) of everything its result depends on:
the student and assignment, the submitted file, the released and the source notebook
(``Assignment.fingerprint``), the limits, whether it ran in the sandbox, and coursekit's
version. A re-run skips the keys already recorded; changing one test cell changes that
assignment's fingerprint, so only that assignment's submissions are graded again.

The table (``coursekit_jobs``) sits next to nbgrader's in the same database: SQLite for one
machine, PostgreSQL for a cluster (``--db-url``). Only the submitting process writes it (workers
return plain results); two runs that record the same key keep one row.

    >>> ledger = Ledger("sqlite:///autograder/gradebook.db")
    >>> ledger.recorded([task_key(t) for t in tasks])   # key → SubmissionResult
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TypeVar

from .results import SubmissionResult

__all__ = ["LEDGER_VERSION", "TABLE", "Ledger", "task_key", "retrying"]

LEDGER_VERSION = 1
TABLE = "coursekit_jobs"
T = TypeVar("T")


def task_key(task) -> str:
    """The content hash of one job (a :class:`~coursekit.grading.executor.Task`): SHA-256 of the
    student, the assignment, the submitted bytes, the released + source notebooks, the limits,
    the sandbox flag and coursekit's version."""
    from .. import __version__
    from .store import RESULT_VERSION

    parts = {
        "ledger": LEDGER_VERSION,
        "result": RESULT_VERSION,
        "coursekit": __version__,
        "student": task.job.student_id,
        "assignment": task.job.assignment,
        "submission": task.job.digest,
        "notebooks": task.assignment.fingerprint,
        "limits": asdict(task.limits),
        "sandbox": bool(task.sandbox),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def retrying(fn: Callable[[], T], attempts: int = 6, also: tuple = ()) -> T:
    """Run a database write, again after a conflict with a concurrent run (two runs creating
    the same row or table at once, SQLite's "database is locked"); `also`: more exception
    types that mean such a conflict."""
    from nbgrader.api import InvalidEntry  # nbgrader's wrapper of IntegrityError/FlushError
    from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

    for i in range(attempts):
        try:
            return fn()
        except (IntegrityError, OperationalError, DBAPIError, InvalidEntry, *also):
            if i == attempts - 1:
                raise
            time.sleep(0.05 * 2**i)
    raise AssertionError("unreachable")


class Ledger:
    """The ledger table at `db_url` (an SQLAlchemy URL; created when missing)."""

    def __init__(self, db_url: str) -> None:
        import sqlalchemy as sa

        self.engine = sa.create_engine(db_url)
        self.meta = sa.MetaData()
        self.table = sa.Table(
            TABLE,
            self.meta,
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("student_id", sa.String(128), nullable=False, index=True),
            sa.Column("assignment", sa.String(128), nullable=False, index=True),
            sa.Column("submission", sa.String(64), nullable=False),  # SHA-256 of the file
            sa.Column("score", sa.Float, nullable=False),
            sa.Column("max_score", sa.Float, nullable=False),
            sa.Column("error", sa.Text, nullable=False, default=""),
            sa.Column("seconds", sa.Float, nullable=False, default=0.0),
            sa.Column("recorded_at", sa.DateTime, nullable=False),
            sa.Column("result", sa.LargeBinary, nullable=False),  # zlib(JSON of to_dict())
        )
        retrying(lambda: self.meta.create_all(self.engine, checkfirst=True))

    def close(self) -> None:
        self.engine.dispose()

    def recorded(self, keys: Iterable[str]) -> dict[str, SubmissionResult]:
        """The recorded results among `keys`."""
        import sqlalchemy as sa

        keys = list(keys)
        found: dict[str, SubmissionResult] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                rows = conn.execute(
                    sa.select(self.table.c.key, self.table.c.result).where(
                        self.table.c.key.in_(chunk)
                    )
                )
                for key, blob in rows:
                    try:
                        found[key] = SubmissionResult.from_dict(json.loads(zlib.decompress(blob)))
                    except (ValueError, TypeError, KeyError, zlib.error):
                        pass  # unreadable: graded again
        return found

    def record(self, key: str, result: SubmissionResult, *, replace: bool = False) -> None:
        """Record one graded job. A key already there is kept (another run recorded the same
        content), unless `replace` (a forced re-grade)."""
        import sqlalchemy as sa

        row = {
            "key": key,
            "student_id": result.student_id,
            "assignment": result.assignment,
            "submission": result.digest,
            "score": float(result.score),
            "max_score": float(result.max_score),
            "error": result.error,
            "seconds": float(result.seconds),
            "recorded_at": datetime.now(UTC).replace(tzinfo=None),
            "result": zlib.compress(json.dumps(result.to_dict()).encode(), 6),
        }

        def write() -> None:
            with self.engine.begin() as conn:
                exists = conn.execute(
                    sa.select(self.table.c.key).where(self.table.c.key == key)
                ).first()
                if exists is None:
                    conn.execute(self.table.insert().values(**row))
                elif replace:
                    conn.execute(self.table.update().where(self.table.c.key == key).values(**row))

        retrying(write)  # a concurrent insert of the same key: the retry finds it and keeps it

    def rows(self) -> list[tuple[str, str, str]]:
        """(key, student_id, assignment) of every recorded job."""
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            t = self.table.c
            return [tuple(r) for r in conn.execute(sa.select(t.key, t.student_id, t.assignment))]
