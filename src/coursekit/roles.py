"""What a student and an instructor see in JupyterLab: nbgrader's extensions per role.

nbgrader installs, enabled for everyone, four server extensions (formgrader, assignment_list,
course_list, validate_assignment) and five lab extensions (formgrader, assignment-list,
course-list, create-assignment, validate-assignment). Its documentation switches them off with
``jupyter labextension disable`` / ``jupyter server extension disable``, which edit a config
folder for good. Here the same settings go into a folder of their own, put first on
``JUPYTER_CONFIG_PATH`` for one run (``coursekit lab``) or one hub user (``coursekit hub``):
nobody's own configuration is changed.

- a **student** gets the assignment list (Fetch, Submit, Fetch Feedback) and Validate;
- an **instructor** also gets formgrader, the course list and the Create Assignment side bar;
- nobody gets JupyterLab's "get notified about official Jupyter news?" prompt (its
  announcements plugin is off; it is also what checks for updates).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["ROLES", "lab_extensions", "server_extensions", "write_role_config", "run_lab"]

ROLES = ("student", "instructor")

NBGRADER_LAB = {
    "@jupyter/nbgrader:assignment-list": ("student", "instructor"),
    "@jupyter/nbgrader:validate-assignment": ("student", "instructor"),
    "@jupyter/nbgrader:formgrader": ("instructor",),
    "@jupyter/nbgrader:course-list": ("instructor",),
    "@jupyter/nbgrader:create-assignment": ("instructor",),
}
NBGRADER_SERVER = {
    "nbgrader.server_extensions.assignment_list": ("student", "instructor"),
    "nbgrader.server_extensions.validate_assignment": ("student", "instructor"),
    "nbgrader.server_extensions.formgrader": ("instructor",),
    "nbgrader.server_extensions.course_list": ("instructor",),
}
# JupyterLab's news / update-check notifications: off for every role.
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


def _check(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")


def lab_extensions(role: str) -> dict[str, bool]:
    """page_config's disabledExtensions for `role`: {plugin id: disabled?}."""
    _check(role)
    out = {plugin: role not in roles for plugin, roles in NBGRADER_LAB.items()}
    out[ANNOUNCEMENTS] = True
    return out


def server_extensions(role: str) -> dict[str, bool]:
    """ServerApp.jpserver_extensions for `role`: {module: enabled?}."""
    _check(role)
    return {module: role in roles for module, roles in NBGRADER_SERVER.items()}


def write_role_config(folder: Path, role: str, nbgrader_config: str = "") -> Path:
    """Write a Jupyter config folder for `role` into `folder` (created): labconfig/page_config.json
    (lab extensions), jupyter_server_config.json (server extensions) and, when given, the text of
    an nbgrader_config.py. Put `folder` first on JUPYTER_CONFIG_PATH. Returns `folder`."""
    folder = Path(folder)
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    (folder / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": lab_extensions(role)}, indent=1) + "\n"
    )
    (folder / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": server_extensions(role)}}, indent=1) + "\n"
    )
    if nbgrader_config:
        (folder / "nbgrader_config.py").write_text(nbgrader_config)
    return folder


def run_lab(root: Path, role: str = "student", extra: list[str] | None = None) -> int:
    """JupyterLab on the course at `root` as `role` sees it (``make lab``), on 127.0.0.1; the
    role's config lives in a temporary folder removed when JupyterLab exits."""
    root = Path(root).resolve()
    tmp = Path(tempfile.mkdtemp(prefix=f"coursekit-lab-{role}-"))
    try:
        write_role_config(tmp, role)
        path = [str(tmp), str(root / "autograder")]
        if os.environ.get("JUPYTER_CONFIG_PATH"):
            path.append(os.environ["JUPYTER_CONFIG_PATH"])
        env = {
            **os.environ,
            "JUPYTER_CONFIG_PATH": os.pathsep.join(path),
            "COURSEKIT_COURSE_ROOT": str(root),
        }
        jupyter = Path(sys.executable).parent / "jupyter"
        cmd = [str(jupyter), "lab"] if jupyter.exists() else [sys.executable, "-m", "jupyterlab"]
        cmd += ["--ip=127.0.0.1", f"--ServerApp.root_dir={root}"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        cmd += list(extra or [])
        proc = subprocess.Popen(cmd, env=env, cwd=root)
        # Ctrl-C reaches JupyterLab itself (same terminal); a SIGTERM to this process is passed
        # on to it; this process only waits and cleans up.
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        old_term = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        try:
            return proc.wait()
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
