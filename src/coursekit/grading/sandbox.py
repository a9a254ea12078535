"""The student's kernel in a bubblewrap sandbox, and the grader's handle on it.

The sandbox (Debian's `bwrap`): new network, PID, IPC and UTS namespaces (no network; the
student's processes die with the notebook); a read-only view of the system, Python and the
coursekit library; a private, empty, writable home folder; nothing of solutions/, the
autograder's folders, the gradebook or other students' files. As root, the kernel runs as an
unprivileged uid of its own with no capabilities (leased machine-wide, one per grading process,
so concurrent grading runs never share one; left-over processes of that uid are ended before
the next student's kernel starts); otherwise in a user
namespace as the calling user. Resource limits: address space for data (memory), processes and
threads of that uid, file size, CPU time; wall-clock limits are kept by the grader.

    with Kernel.start(limits, slot=0) as k:
        k.run_cell("def f(x): return 2 * x")
        f = k.lookup(["f"])["f"]          # a Remote proxy
        f(21)                              # → 42, computed in the sandbox
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Limits
from .wire import Channel, ProtocolError, Timeout, decode, encode

__all__ = ["Kernel", "Remote", "RemoteError", "KernelDied", "SandboxUnavailable", "sandbox_available"]

UID_BASE = 61000
UID_RANGE = 1000
HOME = "/home/student"
_LEASE: dict[str, Any] = {}


def _lease_uid(slot: int) -> int:
    """A sandbox uid that only this process uses: an exclusive lock file per uid, held for the
    process's life. Starts at UID_BASE + slot, so a lone run's uids are predictable."""
    if "uid" in _LEASE:
        return int(_LEASE["uid"])
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
        _LEASE.update(uid=uid, fd=fd)
        return uid
    raise SandboxUnavailable(f"all {UID_RANGE} sandbox uids are in use by other grading runs")


def _pids_of(uid: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _clear_uid(uid: int, wait: float = 10.0) -> None:
    """End whatever still runs as `uid` (a previous student's stray processes) and wait until
    the kernel has released them: they would count against the next student's process cap."""
    end = time.monotonic() + wait
    while True:
        pids = _pids_of(uid)
        if not pids or time.monotonic() > end:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


class SandboxUnavailable(RuntimeError):
    pass


class KernelDied(RuntimeError):
    """The student's kernel exited, crashed, or stopped answering."""


class RemoteError(Exception):
    """The student's code raised: ename, evalue, traceback (student frames only)."""

    def __init__(self, ename: str, evalue: str, traceback: list[str] | None = None, timeout: bool = False,
                 name: str = "") -> None:
        Exception.__init__(self, f"{ename}: {evalue}")
        self.ename, self.evalue, self.traceback, self.timeout, self.name = ename, evalue, traceback or [], timeout, name


_REMOTE_TYPES: dict[str, type] = {}


def remote_error(ename: str, evalue: str, traceback: list[str], timeout: bool, name: str) -> RemoteError:
    """A RemoteError that is also an instance of the builtin exception the student's code raised
    (so a test cell's `except ValueError:` works), when that exception is a builtin one."""
    base = getattr(__import__("builtins"), ename, None)
    cls = RemoteError
    if isinstance(base, type) and issubclass(base, Exception) and base not in (Exception, BaseException):
        if ename not in _REMOTE_TYPES:
            try:
                _REMOTE_TYPES[ename] = type(f"Remote{ename}", (RemoteError, base), {})
            except TypeError:  # incompatible layouts (rare builtins): plain RemoteError
                _REMOTE_TYPES[ename] = RemoteError
        cls = _REMOTE_TYPES[ename]
    try:
        err = cls.__new__(cls)
        RemoteError.__init__(err, ename, evalue, traceback, timeout, name)
        str(err)
    except Exception:  # noqa: BLE001 - an exception type with a special constructor
        err = RemoteError(ename, evalue, traceback, timeout, name)
    return err


def _bwrap() -> str | None:
    return shutil.which("bwrap")


_PROBE: dict[bool, str] = {}


def sandbox_available() -> tuple[bool, str]:
    """Can a sandbox be made here? (ok, reason if not)."""
    if _bwrap() is None:
        return False, "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    root = os.geteuid() == 0
    if root not in _PROBE:
        cmd = [_bwrap(), *(_ns_args(root)), "--ro-bind", "/", "/", "true"]
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=20)
            _PROBE[root] = "" if r.returncode == 0 else (r.stderr.decode(errors="replace").strip() or "bwrap failed")
        except Exception as exc:  # noqa: BLE001
            _PROBE[root] = str(exc)
    reason = _PROBE[root]
    return (not reason), (f"bubblewrap cannot create a sandbox here: {reason}" if reason else "")


def _ns_args(root: bool) -> list[str]:
    args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session"]
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

    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(coursekit.__file__).resolve().parent}
    keep = sorted(paths, key=lambda p: len(p.parts))
    out: list[Path] = []
    for p in keep:
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


_FONTLIST: list[Path] = []


def _seed_matplotlib_cache(target: Path) -> None:
    """Copy matplotlib's font list into the kernel's config folder: without it every kernel
    spends seconds scanning the system's fonts."""
    if not _FONTLIST:
        try:
            import matplotlib
            import matplotlib.font_manager  # noqa: F401 - builds the cache if missing

            _FONTLIST.extend(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))
        except Exception:  # noqa: BLE001
            return
    target.mkdir(parents=True, exist_ok=True)
    for f in _FONTLIST:
        shutil.copyfile(f, target / f.name)


@dataclass
class _Spec:
    argv: list[str]
    env: dict[str, str]
    home: Path


def _build(limits: Limits, slot: int, sandbox: bool, pass_fds: tuple[int, int]) -> _Spec:
    home = Path(tempfile.mkdtemp(prefix="coursekit-kernel-"))
    root = os.geteuid() == 0
    uid = UID_BASE + slot
    if root and sandbox:
        uid = _lease_uid(slot)
        _clear_uid(uid)
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
    prlimit = [shutil.which("prlimit") or "/usr/bin/prlimit",
               f"--data={limits.memory_mb * 2**20}", f"--fsize={limits.file_mb * 2**20}",
               f"--cpu={cpu}", "--core=0"]
    if root and sandbox:  # a per-user process cap only works for a uid of the sandbox's own
        prlimit.append(f"--nproc={limits.max_processes}")
    prlimit.append("--")

    if not sandbox:
        return _Spec(prlimit + py, env, home)

    _seed_matplotlib_cache(home / ".config" / "matplotlib")
    if root:
        for dirpath, _, files in os.walk(home):
            os.chown(dirpath, uid, uid)
            for f in files:
                os.chown(os.path.join(dirpath, f), uid, uid)
    os.chmod(home, 0o700)
    argv = [*prlimit, _bwrap(), *_ns_args(root)]
    for sysdir in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.exists(sysdir):
            argv += (["--symlink", os.readlink(sysdir), sysdir] if os.path.islink(sysdir)
                     else ["--ro-bind", sysdir, sysdir])
    for etc in ("/etc/ld.so.cache", "/etc/fonts", "/etc/alternatives", "/etc/localtime", "/etc/mime.types"):
        if os.path.exists(etc):
            argv += ["--ro-bind", etc, etc]
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    binds = _python_paths() + ([data] if data is not None else [])
    for path in binds:
        argv += _dirs_for(path) + ["--ro-bind", str(path), str(path)]
    argv += ["--perms", "0755", "--dir", "/home", "--bind", str(home), HOME, "--chdir", "/"]
    if root:
        argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        argv += ["--", shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}",
                 "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    else:
        argv += ["--"]
    argv += py
    return _Spec(argv, env, home)


def _exit_reason(code: int) -> str:
    if code < 0:
        sig = -code
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        extra = " (out of memory or killed)" if sig == signal.SIGKILL else ""
        return f"the kernel was killed by {name}{extra}"
    return f"the kernel exited (exit code {code}: os._exit, sys.exit or a crash)"


class Remote:
    """A proxy, in the grader, for an object in the student's kernel."""

    __slots__ = ("_k", "_ref", "_type", "_repr", "_name")

    def __init__(self, kernel: Kernel, ref: int, type_name: str, text: str, name: str = "") -> None:
        self._k, self._ref, self._type, self._repr, self._name = kernel, ref, type_name, text, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._k.request_object("call", self._ref, args=args, kwargs=kwargs, name=self._name)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return self._k.request_object("getattr", self._ref, attr=attr, name=f"{self._name}.{attr}")

    def __getitem__(self, key: Any) -> Any:
        return self._k.request_object("getitem", self._ref, key=key, name=f"{self._name}[...]")

    def __len__(self) -> int:
        n = self._k.request_object("len", self._ref, name=f"len({self._name})")
        if type(n) is not int or n < 0:
            raise TypeError(f"len() of {self._name} did not return an int")
        return n

    def __iter__(self):  # noqa: ANN204
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"<student's {self._type}: {self._repr[:80]}>"

    def __bool__(self) -> bool:
        raise TypeError(f"the truth value of the student's {self._type} object is not plain data")

    def __eq__(self, other: Any) -> bool:  # identity only: a student object can't claim equality
        return self is other

    __hash__ = object.__hash__


class Kernel:
    """The grader's side of one sandboxed kernel."""

    def __init__(self, proc: subprocess.Popen, chan: Channel, spec: _Spec, limits: Limits, log: Path) -> None:
        self.proc, self.chan, self.spec, self.limits, self.log = proc, chan, spec, limits, log
        self.deadline = time.monotonic() + limits.notebook_timeout_s
        self.callbacks: dict[int, Callable] = {}
        self._ids = itertools.count(1)
        self.dead: str = ""
        self.tracer_stack: list = []

    @classmethod
    def start(cls, limits: Limits, *, slot: int = 0, sandbox: bool = True, startup_timeout: float = 60) -> Kernel:
        if sandbox:
            ok, why = sandbox_available()
            if not ok:
                raise SandboxUnavailable(why)
        to_kernel_r, to_kernel_w = os.pipe()
        from_kernel_r, from_kernel_w = os.pipe()
        spec = _build(limits, slot, sandbox, (to_kernel_r, from_kernel_w))
        log = spec.home.with_suffix(".log")
        with open(log, "wb") as logf:
            proc = subprocess.Popen(
                spec.argv, env=spec.env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                pass_fds=(to_kernel_r, from_kernel_w), start_new_session=True, close_fds=True,
                cwd=str(spec.home),
            )
        os.close(to_kernel_r)
        os.close(from_kernel_w)
        kernel = cls(proc, Channel(from_kernel_r, to_kernel_w), spec, limits, log)
        try:
            msg, _ = kernel.chan.recv(time.monotonic() + startup_timeout)
            if msg.get("op") != "ready":
                raise ProtocolError("bad hello")
        except ProtocolError as exc:
            tail = kernel.log_tail()
            kernel.close()
            raise KernelDied(f"the sandboxed kernel did not start ({exc}): {tail}") from None
        return kernel

    def log_tail(self, n: int = 400) -> str:
        try:
            return self.log.read_bytes()[-n:].decode(errors="replace").strip()
        except OSError:
            return ""

    # --- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.chan.send({"op": "quit"})
            except ProtocolError:
                pass
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self.kill(self.dead or "closed")  # whatever is left: the whole process group
        for fd in (self.chan.rfd, self.chan.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.spec.home, ignore_errors=True)
        try:
            self.log.unlink()
        except OSError:
            pass

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def kill(self, why: str) -> None:
        self.dead = why
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()

    # --- requests ------------------------------------------------------------------------------

    def _remaining(self, timeout: float) -> float:
        return min(timeout, self.deadline - time.monotonic())

    def _encode_arg(self, value: Any) -> dict:
        if isinstance(value, Remote):
            if value._k is not self:
                raise TypeError("a handle from another kernel")
            return {"__ref__": value._ref}
        if callable(value):
            cid = next(self._ids)
            self.callbacks[cid] = value
            return {"__cb__": cid, "name": getattr(value, "__name__", "callback")}
        raise TypeError(f"can't pass a {type(value).__name__} to the student's code (only plain data, "
                        "callables and handles)")

    def _decode_value(self, tag: dict) -> Any:
        if tag.get("__missing__") is True:
            return _MISSING
        if "__ref__" in tag and isinstance(tag["__ref__"], int):
            return Remote(self, tag["__ref__"], str(tag.get("type", "object"))[:80],
                          str(tag.get("repr", ""))[:200])
        raise ProtocolError("unexpected object from the kernel")

    def _exchange(self, header: dict, buffers: list[bytes], timeout: float, what: str) -> tuple[dict, list[bytes]]:
        """Send a request; serve callbacks until the reply. Raises KernelDied / RemoteError."""
        if self.dead:
            raise KernelDied(self.dead)
        left = self._remaining(timeout)
        if left <= 0:
            self.kill(f"the notebook ran out of its {self.limits.notebook_timeout_s:g} s")
            raise KernelDied(self.dead)
        header = dict(header, timeout=left)
        try:
            self.chan.send(header, buffers)
        except ProtocolError:
            self.kill("the kernel stopped (it crashed or exited)")
            raise KernelDied(self.dead) from None
        hard = time.monotonic() + left + 5.0
        while True:
            try:
                msg, bufs = self.chan.recv(hard)
            except Timeout:
                self.kill(f"{what} did not stop within {left:g} s and could not be interrupted")
                raise KernelDied(self.dead) from None
            except ProtocolError as exc:
                try:
                    code = self.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    code = None
                why = _exit_reason(code) if code is not None else f"the kernel broke its channel ({exc})"
                self.kill(why)
                raise KernelDied(self.dead) from None
            if msg.get("op") == "callback":
                self._serve_callback(msg, bufs)
                continue
            return msg, bufs

    def _serve_callback(self, msg: dict, bufs: list[bytes]) -> None:
        try:
            fn = self.callbacks[int(msg.get("cb"))]
            args = decode(msg.get("args", []), bufs, self._decode_value)
            kwargs = decode(msg.get("kwargs", {"__dict__": []}), bufs, self._decode_value)
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise ProtocolError("bad callback arguments")
            value = fn(*args, **{str(k): v for k, v in kwargs.items()})
            out: list[bytes] = []
            self.chan.send({"op": "cbreturn", "value": encode(value, out, self._encode_arg)}, out)
        except (KernelDied, RemoteError):
            raise
        except Exception as exc:  # noqa: BLE001 - the grader's callable failed: tell the kernel
            self.chan.send({"op": "cberror", "message": f"{type(exc).__name__}"})

    def run_cell(self, code: str, timeout: float | None = None) -> tuple[list[dict], dict | None]:
        """Execute a cell of the student's notebook: (outputs, error or None)."""
        timeout = timeout or self.limits.cell_timeout_s
        msg, _ = self._exchange({"op": "exec", "code": code}, [], timeout, "the cell")
        if msg.get("op") == "error":  # interrupted outside of the cell's own handling
            return [], {"ename": str(msg.get("ename")), "evalue": str(msg.get("evalue")), "timeout": bool(msg.get("timeout"))}
        outputs = msg.get("outputs") if isinstance(msg.get("outputs"), list) else []
        error = msg.get("error") if isinstance(msg.get("error"), dict) else None
        return [o for o in outputs if isinstance(o, dict)], error

    def lookup(self, names: list[str]) -> dict[str, Any]:
        """The student's values for `names`: plain data, Remote proxies, or MISSING."""
        msg, bufs = self._exchange({"op": "lookup", "names": list(names)}, [], 10.0, "looking up names")
        if msg.get("op") != "result":
            raise KernelDied(f"unexpected reply {msg.get('op')!r}")
        values = decode(msg.get("value"), bufs, self._decode_value)
        if not isinstance(values, dict):
            raise ProtocolError("bad lookup reply")
        out = {}
        for name in names:
            v = values.get(name, _MISSING)
            if isinstance(v, Remote):
                v._name = name
            out[name] = v
        return out

    def request_object(self, op: str, ref: int, *, args: tuple = (), kwargs: dict | None = None,
                       attr: str = "", key: Any = None, name: str = "") -> Any:
        out: list[bytes] = []
        header: dict = {"op": op, "ref": ref}
        if op == "call":
            header["args"] = encode(list(args), out, self._encode_arg)
            header["kwargs"] = encode(dict(kwargs or {}), out, self._encode_arg)
            if self.tracer_stack:
                header["trace"] = True
        elif op == "getattr":
            header["name"] = attr
        elif op == "getitem":
            header["key"] = encode(key, out, self._encode_arg)
        msg, bufs = self._exchange(header, out, self.limits.cell_timeout_s, f"`{name}`")
        if msg.get("op") == "error":
            if op == "getattr" and msg.get("ename") == "AttributeError":
                raise AttributeError(f"the student's object has no attribute {attr!r}")
            raise remote_error(str(msg.get("ename", "Error"))[:100], str(msg.get("evalue", ""))[:1000],
                               [str(x) for x in msg.get("traceback", [])][:10] if isinstance(msg.get("traceback"), list) else [],
                               bool(msg.get("timeout")), name)
        if msg.get("op") != "result":
            raise ProtocolError("unexpected reply")
        trace = msg.get("trace")
        if self.tracer_stack and isinstance(trace, dict):
            ops, mods = trace.get("ops", []), trace.get("modules", [])
            if isinstance(ops, list) and isinstance(mods, list):
                for t in self.tracer_stack:
                    t.merge(ops[:10000], mods[:10000])
        value = decode(msg.get("value"), bufs, self._decode_value)
        if isinstance(value, Remote):
            value._name = name
        return value


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


_MISSING = _Missing()
MISSING = _MISSING
