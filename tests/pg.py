"""A PostgreSQL server from Debian's packages on 127.0.0.1, for the gradebook tests.

In a test module: ``from pg import postgres_server  # noqa: F401`` makes the fixture
``postgres`` (a postgresql:// URL of an empty database) available to its tests. Elsewhere (a
benchmark): ``with running_postgres() as url: ...``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from syspkg import need_system_package

__all__ = ["postgres_server", "running_postgres", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", name="postgres")  # once per test worker
def postgres_server():
    """A PostgreSQL server from Debian's packages on 127.0.0.1, stopped by PID afterwards."""
    if not glob.glob("/usr/lib/postgresql/*/bin"):
        need_system_package("postgresql", "the gradebook on PostgreSQL")
    with running_postgres() as url:
        yield url


@contextlib.contextmanager
def running_postgres():
    """A PostgreSQL server on 127.0.0.1 with an empty database `gradebook` (its URL)."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        raise RuntimeError("no PostgreSQL server installed (Debian: apt-get install postgresql)")
    bindir = Path(bins[-1])
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="coursekit-pg-"))  # not under pytest's root-only folder
    data = base / "data"
    user = []
    if os.geteuid() == 0:  # postgres refuses to run as root: use Debian's postgres user
        shutil.chown(base, "postgres")
        user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*user, str(bindir / "initdb"), "-D", str(data), "-U", "grader", "--auth=trust"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    log = open(base / "pg.log", "wb")
    proc = subprocess.Popen(
        [
            *user,
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(base),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        r = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
        )
        if r.returncode == 0:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"postgres did not start: {(base / 'pg.log').read_text()[-500:]}")
        time.sleep(0.2)
    subprocess.run(
        [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "grader", "gradebook"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        yield f"postgresql://grader@127.0.0.1:{port}/gradebook"
    finally:
        _stop(proc, log, base)


def _stop(proc: subprocess.Popen, log, base: Path) -> None:
    """Stop the server we started, by PID (runuser forks postgres: signal both)."""
    try:
        children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        children = []
    for pid in [proc.pid, *children]:
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)
    log.close()
    shutil.rmtree(base, ignore_errors=True)
