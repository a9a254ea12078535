"""What a student and an instructor see: nbgrader's extensions per role, for one run only.

`coursekit lab` (make lab) serves a student's Lab: the assignment list and Validate, no
formgrader, no Create Assignment, no course list, no news prompt — from a temporary config
folder, so nobody's own Jupyter configuration changes. The hub's users get the same folders.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from coursekit.roles import lab_extensions, server_extensions, write_role_config

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR_ONLY_LAB = {
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
}
NEWS = "@jupyterlab/apputils-extension:announcements"


def test_each_role_gets_its_extensions(tmp_path):
    student, instructor = lab_extensions("student"), lab_extensions("instructor")
    assert {k for k, off in student.items() if off} == INSTRUCTOR_ONLY_LAB | {NEWS}
    assert {k for k, off in instructor.items() if off} == {NEWS}
    assert not student["@jupyter/nbgrader:assignment-list"]
    assert not student["@jupyter/nbgrader:validate-assignment"]
    assert server_extensions("student") == {
        "nbgrader.server_extensions.assignment_list": True,
        "nbgrader.server_extensions.validate_assignment": True,
        "nbgrader.server_extensions.formgrader": False,
        "nbgrader.server_extensions.course_list": False,
    }
    assert all(server_extensions("instructor").values())
    folder = write_role_config(tmp_path / "s", "student", "c = get_config()\n")
    page = json.loads((folder / "labconfig" / "page_config.json").read_text())
    assert page == {"disabledExtensions": student}
    server = json.loads((folder / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"] == server_extensions("student")
    assert (folder / "nbgrader_config.py").read_text().startswith("c = get_config()")
    with pytest.raises(ValueError, match="unknown role"):
        lab_extensions("admin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:  # not listening yet
        return 0, ""


@pytest.mark.slow
def test_make_lab_serves_a_students_lab_and_leaves_no_config_behind(tmp_path):
    port, token = _free_port(), secrets.token_hex(8)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp_path / "user-config"),  # what "the user's own" would be
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
        TMPDIR=str(tmp_path),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coursekit.cli",
            "lab",
            "--",
            "--no-browser",
            f"--port={port}",
            "--port-retries=0",
            f"--IdentityProvider.token={token}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while _get(f"{base}/api/status?token={token}")[0] != 200:
            assert proc.poll() is None, "coursekit lab exited"
            assert time.monotonic() < deadline, "JupyterLab did not answer in 120 s"
            time.sleep(0.5)  # polling until the server answers
        status, page = _get(f"{base}/lab?token={token}")
        assert status == 200
        config = json.loads(
            re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1)
        )
        assert set(config["disabledExtensions"]) == INSTRUCTOR_ONLY_LAB | {NEWS}
        assert _get(f"{base}/formgrader?token={token}")[0] == 404  # no instructor server side
        assert _get(f"{base}/assignments?course_id=coursekit&token={token}")[0] != 404
        folders = [p for p in tmp_path.glob("coursekit-lab-student-*")]
        assert len(folders) == 1  # the run's own config folder, while it runs
    finally:
        children = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        psutil.wait_procs([psutil.Process(c) for c in children if psutil.pid_exists(c)], timeout=30)
    assert not any(psutil.pid_exists(c) for c in children), "JupyterLab outlived coursekit lab"
    assert not list(tmp_path.glob("coursekit-lab-student-*")), "the run's config folder stayed"
    written = {p.name for p in (tmp_path / "user-config").rglob("*")}
    assert written <= {"migrated"}, (
        f"the user's own config was written: {written}"
    )  # (jupyter's own marker)


def test_another_hub_gets_the_same_folders(tmp_path):
    import stat

    from coursekit.hub import write_user_config

    folders = write_user_config(tmp_path / "cfg", "coursekit", Path("/srv/nbgrader/exchange"))
    assert set(folders) == {"student", "instructor"}
    for role, folder in folders.items():
        text = (folder / "nbgrader_config.py").read_text()
        assert "c.CourseDirectory.course_id = 'coursekit'" in text
        assert "c.Exchange.root = '/srv/nbgrader/exchange'" in text
        assert 'os.environ.get("JUPYTERHUB_USER", "*")' in text  # the hub's name is the id
        page = json.loads((folder / "labconfig" / "page_config.json").read_text())
        assert page["disabledExtensions"] == lab_extensions(role)
        for p in (folder, *folder.rglob("*")):  # every user's server reads them
            mode = stat.S_IMODE(p.stat().st_mode)
            assert mode == (0o755 if p.is_dir() else 0o644), (p, oct(mode))
