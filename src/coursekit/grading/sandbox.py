"""The sandbox a student's kernel runs in: bubblewrap, an unprivileged uid, resource limits.

The sandbox (Debian's `bwrap`): new network, PID, IPC and UTS namespaces (no network; the
student's processes die with the notebook); a read-only view of the system, Python and the
coursekit library; a private, empty, writable home folder; nothing of solutions/, the
autograder's folders, the gradebook or other students' files. As root, the kernel runs as an
unprivileged uid of its own with no capabilities (leased machine-wide, one per grading process,
so concurrent grading runs never share one; left-over processes of that uid are ended before
the next student's kernel starts); otherwise in a user namespace as the calling user. Resource
limits: address space for data (memory), processes and threads of that uid, file size, CPU
time; wall-clock limits are kept by the grader (kernel.py).

This module only describes the sandbox (:func:`build_spec` → the command line, environment and
home folder of one kernel); :mod:`coursekit.grading.kernel` starts it and talks to it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from .config import Limits

__all__ = ["Spec", "SandboxUnavailable", "build_spec", "sandbox_available", "lease_uid", "pids_of"]

UID_BASE = 61000
UID_RANGE = 1000
HOME = "/home/student"


class SandboxUnavailable(RuntimeError):
    pass


_LEASED: list[int] = []  # the uid this process leased (its lock stays held until exit)


def lease_uid(slot: int = 0) -> int:
    """A sandbox uid that only this process uses: an exclusive lock file per uid, held for the
    process's life; the first lease is kept, whatever `slot` is asked next. The search starts at
    UID_BASE + slot, so a lone run's uids are predictable."""
    if _LEASED:
        return _LEASED[0]
    import fcntl

    folder = Path(tempfile.gettempdir()) / "coursekit-uids"
    folder.mkdir(mode=0o700, exist_ok=True)
    for i in range(UID_RANGE):
        uid = UID_BASE + (slot + i) % UID_RANGE
        fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _LEASED.append(uid)  # fd stays open: the lock lives as long as this process
        return uid
    raise SandboxUnavailable(f"all {UID_RANGE} sandbox uids are in use by other grading runs")


def pids_of(uid: int) -> list[int]:
    """Processes whose real uid is `uid`."""
    out = []
    for p in psutil.process_iter(["uids"]):
        uids = p.info.get("uids")
        if uids is not None and uids.real == uid:
            out.append(p.pid)
    return out


def clear_uid(uid: int, wait: float = 10.0) -> None:
    """End whatever still runs as `uid` (a previous student's stray processes) and wait until
    the kernel has released them: they would count against the next student's process cap."""
    end = time.monotonic() + wait
    while True:
        pids = pids_of(uid)
        if not pids or time.monotonic() > end:
            return
        for pid in pids:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        time.sleep(0.05)


def _bwrap() -> str | None:
    return shutil.which("bwrap")


def sandbox_available() -> tuple[bool, str]:
    """Can a sandbox be made here? (ok, reason if not)."""
    if _bwrap() is None:
        return (
            False,
            "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)",
        )
    reason = _probe(os.geteuid() == 0)
    return (not reason), (f"bubblewrap cannot create a sandbox here: {reason}" if reason else "")


@functools.cache
def _probe(root: bool) -> str:
    cmd = [_bwrap(), *(_ns_args(root)), "--ro-bind", "/", "/", "true"]
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return (
        "" if r.returncode == 0 else (r.stderr.decode(errors="replace").strip() or "bwrap failed")
    )


def _ns_args(root: bool) -> list[str]:
    args = [
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
    ]
    if not root:
        args.append("--unshare-user")
    return args


def _dirs_for(path: Path) -> list[str]:
    """bwrap arguments creating each parent folder of `path` world-traversable."""
    out: list[str] = []
    parts = path.parts
    for i in range(2, len(parts)):
        out += ["--perms", "0755", "--dir", str(Path(*parts[:i]))]
    return out


def _python_paths() -> list[Path]:
    """What the kernel needs read-only: the Python installation, the venv, coursekit's source.
    (Never sys.path[0]: that is the caller's folder, which may hold anything.)"""
    import coursekit

    paths = {
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix).resolve(),
        Path(coursekit.__file__).resolve().parent,
    }
    out: list[Path] = []
    for p in sorted(paths, key=lambda p: len(p.parts)):
        if not any(p == q or q in p.parents for q in out):
            out.append(p)
    return out


def _data_dir() -> Path | None:
    from ..data import find_dataset

    found = find_dataset("mnist")
    if found is None:
        return None
    env = os.environ.get("COURSEKIT_DATA")
    if env and (found == Path(env) or Path(env) in found.parents):
        return Path(env).resolve()
    return found.resolve()


@functools.cache
def _fontlists() -> tuple[Path, ...]:
    """matplotlib's font list (built if missing): copied into each kernel's config folder, so
    that no kernel spends seconds scanning the system's fonts."""
    try:
        import matplotlib
        import matplotlib.font_manager

        return tuple(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))
    except Exception:  # plots are optional for grading
        return ()


def remove_tree(path: Path) -> None:
    """Remove a folder the student's code filled, however deep or odd (shutil.rmtree recurses
    and gives up on a very deep tree; `rm -rf` does not)."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    except (OSError, RecursionError):
        subprocess.run(
            ["rm", "-rf", "--one-file-system", "--", str(path)], capture_output=True, check=False
        )


# --- seccomp: the kernel keyring is a store of the uid's that survives the sandbox ------------------
#
# add_key / request_key / keyctl are refused (EPERM) inside the sandbox, so nothing a student
# leaves in the uid's keyrings can reach the next student graded under the same uid. A small
# classic-BPF program, handed to bwrap's --seccomp.

_SECCOMP_ARCH = {  # machine: (AUDIT_ARCH_*, syscalls to refuse, x32 bit to refuse or 0)
    "x86_64": (0xC000003E, (248, 249, 250), 0x40000000),
    "aarch64": (0xC00000B7, (217, 218, 219), 0),
}


def seccomp_program() -> bytes | None:
    """The filter for this machine, or None where it is not known (then no filter is used)."""
    import platform
    import struct

    arch = _SECCOMP_ARCH.get(platform.machine())
    if arch is None:
        return None
    audit, refused, x32 = arch
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, JMP|JGE|K, RET|K
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    checks = ([(jge, x32)] if x32 else []) + [(jeq, nr) for nr in refused]
    n = len(checks)
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, audit), (ret, 0, 0, deny), (ld, 0, 0, 0)]
    for i, (op, k) in enumerate(checks):
        prog.append((op, n - i, 0, k))  # true: jump to the deny below the allow
    prog += [(ret, 0, 0, allow), (ret, 0, 0, deny)]
    return b"".join(struct.pack("=HBBI", *f) for f in prog)


@dataclass
class Spec:
    """How to start one kernel: its command line, environment, the host folder of its log, and
    the file descriptors the command line names (passed to the process, closed after start)."""

    argv: list[str]
    env: dict[str, str]
    home: Path
    fds: tuple[int, ...] = ()
    sandboxed: bool = True

    def cleanup(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = ()
        remove_tree(self.home)


NUMPY_ONLY = "graded with NumPy only"
# what `import torch` says in a NumPy-only kernel (after the package's name)
NUMPY_ONLY_TAIL = (
    " is not available here: this exercise is graded with NumPy only, so no ready-made "
    "implementation can be called"
)
HIDDEN_PACKAGES = ("torch", "functorch", "torchgen", "scipy")  # what a NumPy-only kernel lacks


@functools.cache
def _stub_dir() -> Path:
    """A package that refuses to be imported: bound over torch's, scipy's in a NumPy-only kernel."""
    folder = Path(tempfile.mkdtemp(prefix="coursekit-stub-"))
    stub = folder / "__init__.py"
    stub.write_text(f"raise ImportError(__name__.split('.')[0] + {NUMPY_ONLY_TAIL!r})\n")
    folder.chmod(0o755)
    stub.chmod(0o644)
    return folder


def _package_dirs(names: tuple[str, ...]) -> list[Path]:
    import importlib.util

    out = []
    for name in names:
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if found is not None and found.submodule_search_locations:
            out += [Path(p) for p in found.submodule_search_locations]
    return out


def build_spec(
    limits: Limits, slot: int, sandbox: bool, pass_fds: tuple[int, int], hide: tuple[str, ...] = ()
) -> Spec:
    """How to start a kernel. hide: packages that kernel can't import (a NumPy-only kernel)."""
    home = Path(tempfile.mkdtemp(prefix="coursekit-kernel-"))
    root = os.geteuid() == 0
    uid = UID_BASE + slot
    if root and sandbox:
        uid = lease_uid(slot)
        if not hide:  # a submission's first kernel: a previous student's strays go (a NumPy-only
            clear_uid(uid)  # kernel starts beside that one, under the same uid)
    data = _data_dir()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": HOME if sandbox else str(home),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": (HOME if sandbox else str(home)) + "/.config/matplotlib",
        "NBGRADER_EXECUTION": "autograde",
        "COURSEKIT_HEADLESS": "1",
        "COURSEKIT_OFFLINE": "1",
        "COURSEKIT_OUTPUT_KB": str(limits.output_kb),
        "COURSEKIT_ANSWER_MB": str(limits.answer_mb),
        "OMP_NUM_THREADS": str(limits.cpu_threads),
        "MKL_NUM_THREADS": str(limits.cpu_threads),
        "OPENBLAS_NUM_THREADS": str(limits.cpu_threads),
        "TQDM_DISABLE": "1",
        "TQDM_MININTERVAL": "60",
    }
    if data is not None:
        env["COURSEKIT_DATA"] = str(data)
    py = [sys.executable, "-m", "coursekit.grading.runner", str(pass_fds[0]), str(pass_fds[1])]

    # Resource limits are set by util-linux's prlimit, inherited by everything the kernel starts
    # (no preexec_fn: forking from a threaded grader must stay safe).
    cpu = int(limits.notebook_timeout_s * max(1, limits.cpu_threads) * 2 + 60)
    prlimit = [
        shutil.which("prlimit") or "/usr/bin/prlimit",
        f"--data={limits.memory_mb * 2**20}",
        f"--fsize={limits.file_mb * 2**20}",
        f"--cpu={cpu}",
        "--core=0",
    ]
    if root and sandbox:  # a per-user process cap only works for a uid of the sandbox's own
        prlimit.append(f"--nproc={limits.max_processes}")
    prlimit.append("--")

    if not sandbox:
        return Spec(prlimit + py, env, home, sandboxed=False)

    os.chmod(home, 0o700)
    fds: list[int] = []
    argv = [*prlimit, _bwrap(), *_ns_args(root)]
    program = seccomp_program()
    if program is not None:
        r, w = os.pipe()
        os.write(w, program)  # a few dozen bytes: fits the pipe's buffer
        os.close(w)
        fds.append(r)
        argv += ["--seccomp", str(r)]
    for sysdir in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.exists(sysdir):
            argv += (
                ["--symlink", os.readlink(sysdir), sysdir]
                if os.path.islink(sysdir)
                else ["--ro-bind", sysdir, sysdir]
            )
    for etc in (
        "/etc/ld.so.cache",
        "/etc/fonts",
        "/etc/alternatives",
        "/etc/localtime",
        "/etc/mime.types",
    ):
        if os.path.exists(etc):
            argv += ["--ro-bind", etc, etc]
    # /tmp and the home folder are RAM disks of a fixed size: what a notebook writes is capped
    # (bytes, and files with them), counted nowhere else, and gone with the sandbox.
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "1777", "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp"]
    binds = _python_paths() + ([data] if data is not None else [])
    for path in binds:
        argv += _dirs_for(path) + ["--ro-bind", str(path), str(path)]
    for pkg in _package_dirs(hide):  # an empty package whose import raises ImportError
        argv += ["--ro-bind", str(_stub_dir()), str(pkg)]
    argv += ["--perms", "0755", "--dir", "/home"]
    argv += ["--perms", "0777", "--size", str(limits.disk_mb << 20), "--tmpfs", HOME]
    config = f"{HOME}/.config/matplotlib"
    argv += ["--perms", "0777", "--dir", f"{HOME}/.config", "--perms", "0777", "--dir", config]
    for f in _fontlists():  # matplotlib's font list, so that no kernel rebuilds it
        argv += ["--ro-bind", str(f), f"{config}/{f.name}"]
    argv += ["--chdir", "/"]
    if root:
        argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        argv += [
            "--",
            shutil.which("setpriv") or "/usr/bin/setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
        ]
    else:
        argv += ["--"]
    argv += py
    return Spec(argv, env, home, tuple(fds))
