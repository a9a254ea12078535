"""A classroom on this machine: JupyterHub serving the course (``coursekit hub``, ``make hub``).

    coursekit hub                      # http://127.0.0.1:8000: the roster's students + instructor
    coursekit hub --port 0             # any free port (printed)
    coursekit hub --remove-users       # delete the Unix users (and homes) it created, then exit

What it sets up, from the course folder and ``autograder/roster.csv`` (student_id, first_name,
last_name, email — the roster ``coursekit export`` reads):

- **JupyterHub** (with npm's ``configurable-http-proxy``) on 127.0.0.1 only: the hub, its proxy's
  API and every user's server listen on the loopback address. Its database, cookie secret and
  passwords are kept in the state folder (``.hub/`` in the course, mode 0700).
- **Login**: JupyterHub's SharedPasswordAuthenticator (the successor of DummyAuthenticator's
  shared password): the roster's students with one password, the instructor (a hub admin) with
  another. Anyone who has the students' password can log in as any student: a local trial
  only; the README says how to use the LTI or Native authenticator for a real class.
- **Spawner**: as root, each student is a Unix user (created from the roster; home mode 0700),
  and JupyterHub's LocalProcessSpawner starts their server as that user, inside a bubblewrap
  *view* of the machine: the system and Python read-only, the homes folder (other homes stay
  closed by their modes), their own home and the exchange writable, a private /tmp, nothing of
  the course folder (solutions/, the gradebook) or of /root. The instructor's server runs as
  the owner of the course folder, on the course. Not root: a one-line notice, and a
  single-user trial — every server runs as you, each hub user in a folder of its own.
- **nbgrader**: the course id and the exchange (:func:`coursekit.grading.exchange.prepare_exchange`,
  nbgrader's documented permissions); nbgrader's lab extensions per role
  (:mod:`coursekit.roles`): students get the assignment list and Validate, the instructor
  formgrader and Create Assignment too. The instructor's instructor commands —
  ``coursekit release --exchange``, ``collect``, ``autograde``, ``release-feedback`` — run in a
  terminal of the instructor's server, or anywhere on this machine with the same course.
"""

from __future__ import annotations

import functools
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import CoursekitError

__all__ = [
    "HubError",
    "HubPlan",
    "prepare_hub",
    "configure",
    "run_hub",
    "remove_users",
    "find_proxy",
    "roster_students",
    "write_user_config",
    "USER_MARK",
]

USER_MARK = "coursekit hub user"  # the GECOS field of every Unix user coursekit hub creates
_UNIX_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
STUDENT_PASSWORD_ENV = "COURSEKIT_HUB_STUDENT_PASSWORD"
INSTRUCTOR_PASSWORD_ENV = "COURSEKIT_HUB_INSTRUCTOR_PASSWORD"


class HubError(CoursekitError):
    """The classroom can't be set up (roster, proxy, users, ports): one readable line."""


@dataclass
class HubPlan:
    """Everything the hub's configuration needs, saved as <state>/hub.json."""

    course: str  # the course folder (the instructor's server runs there)
    course_id: str
    state: str
    exchange: str
    port: int
    hub_port: int
    proxy_api_port: int
    proxy: str  # configurable-http-proxy
    instructor: str
    students: list[str]
    multi_user: bool  # root: one Unix user per student, servers in a bubblewrap view
    home_base: str
    lab_args: list[str] = field(default_factory=list)
    python: str = sys.executable

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config_dir(self, role: str) -> Path:
        return Path(self.state) / "config" / role

    def home(self, user: str) -> Path:
        if self.multi_user:
            return Path(pwd.getpwnam(user).pw_dir)
        return Path(self.state) / "trial" / user

    @classmethod
    def load(cls, path: str | Path) -> HubPlan:
        return cls(**json.loads(Path(path).read_text()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_proxy() -> str | None:
    """configurable-http-proxy: on PATH, or in npm's global prefix."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    npm = shutil.which("npm")
    if npm:
        try:
            prefix = subprocess.run(
                [npm, "prefix", "-g"], capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            prefix = ""
        cand = Path(prefix) / "bin" / "configurable-http-proxy" if prefix else None
        if cand and cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return None


def roster_students(roster: Path, multi_user: bool) -> list[str]:
    from .export import ExportError, read_roster

    if not roster.is_file():
        raise HubError(
            f"no roster at {roster}: a CSV with the columns student_id, first_name, last_name, "
            "email (one row per student)"
        )
    try:
        people = read_roster(roster)
    except ExportError as exc:
        raise HubError(str(exc)) from None
    if not people:
        raise HubError(f"{roster} lists no students")
    if multi_user:
        for sid in people:
            if not _UNIX_NAME.match(sid):
                raise HubError(
                    f"{roster}: student_id {sid!r} can't be a Unix user name (lowercase letters, "
                    "digits, _ and -, starting with a letter, at most 32)"
                )
    return list(people)


def _passwords(state: Path) -> dict[str, str]:
    """The students' and the instructor's passwords: from the environment, else made once and
    kept in <state>/passwords.json (mode 0600)."""
    path = state / "passwords.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    out = {
        "student": os.environ.get(STUDENT_PASSWORD_ENV)
        or saved.get("student")
        or secrets.token_urlsafe(9),
        "instructor": os.environ.get(INSTRUCTOR_PASSWORD_ENV)
        or saved.get("instructor")
        or secrets.token_urlsafe(32),
    }
    if len(out["student"]) < 8:
        raise HubError(f"{STUDENT_PASSWORD_ENV} must be at least 8 characters")
    if len(out["instructor"]) < 32:
        raise HubError(f"{INSTRUCTOR_PASSWORD_ENV} must be at least 32 characters")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(out, f)
    return out


def ensure_unix_user(name: str, home_base: Path) -> bool:
    """A Unix user `name` with a private home under `home_base`; True when created here (marked
    with USER_MARK, so that remove_users deletes only those)."""
    try:
        pwd.getpwnam(name)
        return False
    except KeyError:
        pass
    home_base.mkdir(parents=True, exist_ok=True)
    os.chmod(home_base, 0o755)
    cmd = [
        "useradd",
        "--create-home",
        "--home-dir",
        str(home_base / name),
        "--shell",
        "/bin/bash",
        "--user-group",
        "--comment",
        USER_MARK,
        name,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise HubError(f"useradd {name} failed: {r.stderr.strip() or r.returncode}")
    os.chmod(home_base / name, 0o700)  # Debian's default home mode lets everyone read it
    return True


def remove_users(names: list[str]) -> list[str]:
    """Delete the Unix users among `names` that coursekit hub created (USER_MARK), with their
    homes, after ending their processes. Returns the names removed."""
    import psutil

    removed = []
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_gecos.split(",")[0] != USER_MARK:
            continue  # not ours: never touched
        for p in psutil.process_iter(["uids"]):
            uids = p.info.get("uids")
            if uids is not None and uids.real == entry.pw_uid:
                try:
                    p.kill()
                except psutil.Error:
                    pass
        psutil.wait_procs(
            [
                p
                for p in psutil.process_iter(["uids"])
                if p.info.get("uids") and p.info["uids"].real == entry.pw_uid
            ],
            timeout=10,
        )
        r = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
        if r.returncode not in (0, 12):  # 12: the home could not be removed (mail spool etc.)
            raise HubError(f"userdel {name} failed: {r.stderr.strip() or r.returncode}")
        shutil.rmtree(entry.pw_dir, ignore_errors=True)
        removed.append(name)
    return removed


def _nbgrader_config(course_id: str, exchange: Path) -> str:
    return (
        "\n".join(
            [
                "# nbgrader for this hub's users (written by `coursekit hub`)",
                "import os",
                "c = get_config()  # noqa: F821",
                f"c.CourseDirectory.course_id = {course_id!r}",
                f"c.Exchange.root = {str(exchange)!r}",
                "# the student id is the hub's user name (the Unix user may be another: TLJH's",
                "# jupyter-<name>, Kubernetes' jovyan, or the one user of a trial)",
                'c.CourseDirectory.student_id = os.environ.get("JUPYTERHUB_USER", "*")',
            ]
        )
        + "\n"
    )


def write_user_config(folder: Path, course_id: str, exchange: Path) -> dict[str, Path]:
    """One Jupyter config folder per role under `folder` (student/, instructor/): nbgrader's
    extensions for the role, the course id and the exchange; world-readable. A hub puts the
    user's role's folder first on JUPYTER_CONFIG_PATH. Returns {role: folder}."""
    from .roles import ROLES, write_role_config

    out = {}
    for role in ROLES:
        dest = write_role_config(Path(folder) / role, role, _nbgrader_config(course_id, exchange))
        for dirpath, _, files in os.walk(dest):
            os.chmod(dirpath, 0o755)
            for f in files:
                os.chmod(os.path.join(dirpath, f), 0o644)
        out[role] = dest
    return out


def prepare_hub(
    course: Path,
    *,
    port: int = 8000,
    roster: Path | None = None,
    instructor: str = "instructor",
    state: Path | None = None,
    exchange: Path | None = None,
    home_base: Path = Path("/home"),
    lab_args: list[str] | None = None,
) -> HubPlan:
    """Check the roster and the tools, make the exchange, the Unix users (as root) and each
    role's configuration; write <state>/hub.json and <state>/jupyterhub_config.py."""
    from .grading.config import nbgrader_config
    from .grading.exchange import prepare_exchange

    course = Path(course).resolve()
    multi = os.geteuid() == 0
    roster = Path(roster) if roster else course / "autograder" / "roster.csv"
    students = roster_students(roster, multi)
    if not _UNIX_NAME.match(instructor):
        raise HubError(f"instructor name {instructor!r} is not a valid user name")
    if instructor in students:
        raise HubError(f"{instructor!r} is both the instructor and a student in {roster}")
    if not (Path(sys.executable).parent / "jupyterhub").is_file():
        raise HubError(
            "JupyterHub is not installed in this environment: pip install 'coursekit[hub]' "
            "(make setup installs it)"
        )
    proxy = find_proxy()
    if proxy is None:
        raise HubError(
            "configurable-http-proxy is not installed (JupyterHub's proxy, from npm): run "
            "`make system-deps` or `npm install -g configurable-http-proxy`"
        )
    if multi:
        from .grading.sandbox import sandbox_available

        ok, why = sandbox_available()
        if not ok:
            raise HubError(f"students' servers run in a bubblewrap view: {why}")
    cfg = nbgrader_config(course)
    course_id = str(cfg.CourseDirectory.course_id)
    state = Path(state).resolve() if state else course / ".hub"
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700 if multi else 0o755)
    _passwords(state)
    exchange = Path(exchange).resolve() if exchange else Path(str(cfg.Exchange.root)).resolve()
    prepare_exchange(exchange, course_id)
    plan = HubPlan(
        course=str(course),
        course_id=course_id,
        state=str(state),
        exchange=str(exchange),
        port=port or _free_port(),
        hub_port=_free_port(),
        proxy_api_port=_free_port(),
        proxy=proxy,
        instructor=instructor,
        students=students,
        multi_user=multi,
        home_base=str(Path(home_base).resolve()),
        lab_args=list(lab_args or []),
    )
    if multi:
        for sid in students:
            ensure_unix_user(sid, Path(plan.home_base))
    else:
        for user in [*students, instructor]:
            (state / "trial" / user).mkdir(parents=True, exist_ok=True)
    write_user_config(state / "config", course_id, exchange)
    (state / "jupyterhub").mkdir(exist_ok=True)
    os.chmod(state / "jupyterhub", 0o700)
    (state / "hub.json").write_text(json.dumps(asdict(plan), indent=1) + "\n")
    (state / "jupyterhub_config.py").write_text(
        "# JupyterHub for this course, written by `coursekit hub` (its settings: hub.json)\n"
        "from coursekit.hub import configure\n\n"
        f"configure(c, {str(state / 'hub.json')!r})  # noqa: F821\n"
    )
    return plan


def configure(c, plan_path: str) -> None:
    """JupyterHub's configuration `c` for the plan at `plan_path` (jupyterhub_config.py)."""
    from jupyterhub.authenticators.shared import SharedPasswordAuthenticator

    plan = HubPlan.load(plan_path)
    state = Path(plan.state)
    passwords = json.loads((state / "passwords.json").read_text())
    c.JupyterHub.ip = "127.0.0.1"
    c.JupyterHub.port = plan.port
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = plan.hub_port
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub' / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub" / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub" / "jupyterhub.pid")
    c.ConfigurableHTTPProxy.command = [plan.proxy]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{plan.proxy_api_port}"
    c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub" / "jupyterhub-proxy.pid")
    c.JupyterHub.authenticator_class = SharedPasswordAuthenticator
    c.SharedPasswordAuthenticator.user_password = passwords["student"]
    c.SharedPasswordAuthenticator.admin_password = passwords["instructor"]
    c.Authenticator.admin_users = {plan.instructor}
    c.Authenticator.allowed_users = set(plan.students)
    c.JupyterHub.spawner_class = _spawner_class()
    c.CourseSpawner.plan_path = plan_path
    c.Spawner.cmd = [str(Path(plan.python).parent / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.ip = "127.0.0.1"
    c.Spawner.start_timeout = 180  # a busy 2-core machine
    c.Spawner.http_timeout = 180


def _dirs_for(path: Path) -> list[str]:
    """bwrap arguments that create each parent folder of `path`, world-traversable (as the
    grader's sandbox does for the Python it binds)."""
    out: list[str] = []
    for i in range(2, len(path.parts)):
        out += ["--perms", "0755", "--dir", str(Path(*path.parts[:i]))]
    return out


def _python_paths(python: str) -> list[Path]:
    """What a student's server needs of this Python, read-only: the installation, the venv and
    coursekit's own source (an editable install lives in the course folder)."""
    import coursekit

    prefix = Path(python).resolve().parent.parent
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), prefix}
    paths.add(Path(coursekit.__file__).resolve().parent)
    out: list[Path] = []
    for p in sorted(paths, key=lambda p: len(p.parts)):
        if not any(p == q or q in p.parents for q in out):
            out.append(p)
    return out


def view_argv(plan: HubPlan, user: str) -> list[str]:
    """The bubblewrap command line a student's server starts under (as root): a view of the
    machine in which only the student's home and the exchange are writable, then setpriv to
    the student's uid with no capabilities."""
    entry = pwd.getpwnam(user)
    argv = [
        shutil.which("bwrap") or "bwrap",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
    ]
    for sysdir in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(sysdir):
            argv += ["--symlink", os.readlink(sysdir), sysdir]
        elif os.path.exists(sysdir):
            argv += ["--ro-bind", sysdir, sysdir]
    argv += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "1777", "--tmpfs", "/tmp"]
    ro = [*_python_paths(plan.python), plan.config_dir("student")]
    data = os.environ.get("COURSEKIT_DATA")
    if data and Path(data).is_dir():
        ro.append(Path(data).resolve())
    for path in ro:
        argv += _dirs_for(Path(path)) + ["--ro-bind", str(path), str(path)]
    home_base, home, exchange = Path(plan.home_base), Path(entry.pw_dir), Path(plan.exchange)
    argv += _dirs_for(home_base) + ["--ro-bind", str(home_base), str(home_base)]
    argv += ["--bind", str(home), str(home)]
    argv += _dirs_for(exchange) + ["--bind", str(exchange), str(exchange)]
    # (not the home: bwrap changes folder without the capabilities that would let root in)
    argv += ["--chdir", "/"]
    argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    argv += [
        "--",
        shutil.which("setpriv") or "/usr/bin/setpriv",
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--init-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
        # then, as the student, into their home (nbgrader fetches into the working folder)
        "/bin/sh",
        "-c",
        'cd "$HOME" && exec "$@"',
        "sh",
    ]
    return argv


@functools.cache
def _spawner_class():
    from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
    from traitlets import Unicode

    class CourseSpawner(LocalProcessSpawner):
        """LocalProcessSpawner for this course: each student as their Unix user in a bubblewrap
        view, the instructor as the course folder's owner on the course, per-role config."""

        plan_path = Unicode("", config=True, help="coursekit hub's hub.json")

        @property
        def plan(self) -> HubPlan:
            return HubPlan.load(self.plan_path)

        @property
        def role(self) -> str:
            return "instructor" if self.user.name == self.plan.instructor else "student"

        def account(self) -> pwd.struct_passwd:
            plan = self.plan
            if not plan.multi_user:
                return pwd.getpwuid(os.getuid())
            if self.role == "instructor":
                return pwd.getpwuid(Path(plan.course).stat().st_uid)
            return pwd.getpwnam(self.user.name)

        def _in_view(self) -> bool:
            return self.plan.multi_user and self.role == "student"

        def make_preexec_fn(self, name):
            if self._in_view() or not self.plan.multi_user:
                return None  # bwrap + setpriv switch users (or nothing to switch)
            return set_user_setuid(self.account().pw_name)

        def user_env(self, env):
            acct, plan = self.account(), self.plan
            env["USER"] = acct.pw_name
            env["SHELL"] = acct.pw_shell or "/bin/bash"
            env["HOME"] = acct.pw_dir if plan.multi_user else str(plan.home(self.user.name))
            return env

        def get_env(self):
            env = super().get_env()
            plan = self.plan
            bindir = str(Path(plan.python).parent)
            env["PATH"] = bindir + os.pathsep + env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
            env["LANG"] = env.get("LANG") or "C.UTF-8"
            path = [str(plan.config_dir(self.role))]
            if self.role == "instructor":
                path.append(str(Path(plan.course) / "autograder"))
                env["COURSEKIT_COURSE_ROOT"] = plan.course
                env["COURSEKIT_EXCHANGE"] = plan.exchange
            env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(path)
            if os.environ.get("COURSEKIT_DATA"):
                env["COURSEKIT_DATA"] = os.environ["COURSEKIT_DATA"]
            return env

        def get_args(self):
            args = list(super().get_args())
            if self.account().pw_uid == 0:
                args.append("--allow-root")
            return args + list(self.plan.lab_args)

        async def start(self):
            plan = self.plan
            if self.role == "instructor":
                self.notebook_dir = plan.course
            else:
                self.notebook_dir = str(plan.home(self.user.name))
            singleuser = str(Path(plan.python).parent / "jupyterhub-singleuser")
            self.cmd = (view_argv(plan, self.user.name) if self._in_view() else []) + [singleuser]
            return await super().start()

    return CourseSpawner


def __getattr__(name: str):  # CourseSpawner needs jupyterhub: made when first asked for
    if name == "CourseSpawner":
        return _spawner_class()
    raise AttributeError(name)


def run_hub(plan: HubPlan) -> None:
    """Say who can log in, then become JupyterHub (this process: stop it with Ctrl-C or by its
    PID; JupyterHub stops the users' servers and its proxy as it exits)."""
    state = Path(plan.state)
    passwords = json.loads((state / "passwords.json").read_text())
    if not plan.multi_user:
        print(
            "coursekit hub: not root, so a single-user trial: every user's server runs as "
            f"{pwd.getpwuid(os.getuid()).pw_name}, and students can read one another's files "
            "(run as root for one Unix user per student)",
            file=sys.stderr,
        )
    print(f"coursekit hub: {plan.url}  (course {plan.course_id}, exchange {plan.exchange})")
    print(f"  students: {', '.join(plan.students)}  password: {passwords['student']}")
    print(f"  instructor: {plan.instructor}  password: {passwords['instructor']}")
    print("  (a local trial: anyone with the students' password can log in as any student)")
    sys.stdout.flush()
    hub = Path(plan.python).parent / "jupyterhub"
    os.chdir(state / "jupyterhub")
    os.execv(str(hub), [str(hub), "-f", str(state / "jupyterhub_config.py")])
