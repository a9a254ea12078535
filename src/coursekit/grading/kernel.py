"""The grader's handle on one student kernel: start it, run cells, call the student's names.

The kernel process (``runner.py``) runs inside the sandbox that ``sandbox.py`` describes; this
side talks to it over a pair of pipes (``wire.py``: JSON + raw buffers, never pickle) and treats
every reply as untrusted input. Objects that are not plain data stay in the kernel and come back
as :class:`Remote` proxies.

    with Kernel.start(limits) as k:
        k.run_cell("def f(x): return 2 * x")
        f = k.lookup(["f"])["f"]          # a Remote proxy
        f(21)                              # → 42, computed in the sandbox
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from ..checks import TRACE_CAP, LineCount, Trace
from .config import Limits
from .sandbox import HOME, SandboxUnavailable, Spec, build_spec, sandbox_available
from .wire import Channel, ProtocolError, Timeout, decode, encode

__all__ = ["Kernel", "Remote", "RemoteError", "KernelDied", "MISSING", "remote_error"]


class KernelDied(RuntimeError):
    """The student's kernel exited, crashed, or stopped answering."""


class RemoteError(Exception):
    """The student's code raised: ename, evalue, traceback (student frames only)."""

    def __init__(
        self,
        ename: str,
        evalue: str,
        traceback: list[str] | None = None,
        timeout: bool = False,
        name: str = "",
    ) -> None:
        Exception.__init__(self, f"{ename}: {evalue}")
        self.ename, self.evalue, self.traceback = ename, evalue, traceback or []
        self.timeout, self.name = timeout, name


_REMOTE_TYPES: dict[str, type] = {}


def remote_error(
    ename: str, evalue: str, traceback: list[str], timeout: bool, name: str
) -> RemoteError:
    """A RemoteError that is also an instance of the builtin exception the student's code raised
    (so a test cell's `except ValueError:` works), when that exception is a builtin one."""
    base = getattr(builtins, ename, None)
    cls = RemoteError
    if (
        isinstance(base, type)
        and issubclass(base, Exception)
        and base not in (Exception, BaseException)
    ):
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
    except Exception:  # an exception type with a special constructor
        err = RemoteError(ename, evalue, traceback, timeout, name)
    return err


def exit_reason(code: int) -> str:
    """Why a kernel process with this exit code ended, in words."""
    if code < 0:
        sig = -code
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        extra = " (out of memory or killed)" if sig == signal.SIGKILL else ""
        return f"the kernel was killed by {name}{extra}"
    return f"the kernel exited (exit code {code}: os._exit, sys.exit or a crash)"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()

# Operators a proxy forwards into the sandbox (the student's own __add__ etc. run there).
_BINOPS = ("add", "sub", "mul", "truediv", "floordiv", "pow", "matmul", "mod")


class Remote:
    """A proxy, in the grader, for an object in the student's kernel: call it, read an
    attribute, index it, take len(), use + - * / // ** @ % and unary - on it. It never compares
    equal to anything but itself, and has no truth value: get plain data out of it first."""

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

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]

    def _binop(self, op: str, other: Any, reflected: bool = False) -> Any:
        return self._k.request_object(
            "binop", self._ref, attr=op, key=other, reflected=reflected, name=f"{self._name} {op}"
        )

    def __neg__(self) -> Any:
        return self._k.request_object("neg", self._ref, name=f"-{self._name}")

    def __repr__(self) -> str:
        return f"<student's {self._type}: {self._repr[:80]}>"

    def __bool__(self) -> bool:
        raise TypeError(f"the truth value of the student's {self._type} object is not plain data")

    def __eq__(self, other: Any) -> bool:  # identity only: a student object can't claim equality
        return self is other

    __hash__ = object.__hash__


for _op in _BINOPS:
    setattr(Remote, f"__{_op}__", lambda self, other, _op=_op: self._binop(_op, other))
    setattr(Remote, f"__r{_op}__", lambda self, other, _op=_op: self._binop(_op, other, True))


class Kernel:
    """The grader's side of one sandboxed kernel."""

    def __init__(
        self, proc: subprocess.Popen, chan: Channel, spec: Spec, limits: Limits, log: Path
    ) -> None:
        self.proc, self.chan, self.spec, self.limits, self.log = proc, chan, spec, limits, log
        self.deadline = time.monotonic() + limits.notebook_timeout_s
        self.callbacks: dict[int, Callable] = {}
        self._ids = itertools.count(1)
        self.dead: str = ""
        self._traces: list[Trace] = []
        self._runner_pid: int | None = None
        self.hide: tuple[str, ...] = ()  # packages this kernel can't import (NumPy-only)
        self._line_counts: list[LineCount] = []

    @classmethod
    def start(
        cls,
        limits: Limits,
        *,
        slot: int = 0,
        sandbox: bool = True,
        startup_timeout: float = 60,
        hide: tuple[str, ...] = (),
    ) -> Kernel:
        """A kernel in a sandbox (hide: packages it can't import, for a NumPy-only kernel)."""
        if sandbox:
            ok, why = sandbox_available()
            if not ok:
                raise SandboxUnavailable(why)
        to_kernel_r, to_kernel_w = os.pipe()
        from_kernel_r, from_kernel_w = os.pipe()
        spec = build_spec(limits, slot, sandbox, (to_kernel_r, from_kernel_w), hide)
        log = spec.home.with_suffix(".log")
        with open(log, "wb") as logf:
            proc = subprocess.Popen(
                spec.argv,
                env=spec.env,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                pass_fds=(to_kernel_r, from_kernel_w, *spec.fds),
                start_new_session=True,
                close_fds=True,
                cwd=str(spec.home),
            )
        os.close(to_kernel_r)
        os.close(from_kernel_w)
        for fd in spec.fds:  # bwrap has read what it needed (the seccomp program) or will
            os.close(fd)
        spec.fds = ()
        kernel = cls(
            proc,
            Channel(from_kernel_r, to_kernel_w, max_message=limits.answer_mb << 20),
            spec,
            limits,
            log,
        )
        try:
            msg, _ = kernel.chan.recv(time.monotonic() + startup_timeout)
            if msg.get("op") != "ready":
                raise ProtocolError("bad hello")
        except ProtocolError as exc:
            tail = kernel.log_tail()
            kernel.close()
            raise KernelDied(f"the sandboxed kernel did not start ({exc}): {tail}") from None
        kernel.hide = tuple(hide)
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
        self.spec.cleanup()
        try:
            self.log.unlink()
        except OSError:
            pass

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def kill(self, why: str) -> None:
        self.dead = why
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()

    @contextlib.contextmanager
    def tracing(self, trace: Trace) -> Iterator[Trace]:
        """Within this block every call into the student's code is traced in the sandbox (the
        torch functions and Python modules it used), and the trace merged into `trace`."""
        self._traces.append(trace)
        try:
            yield trace
        finally:
            self._traces.remove(trace)

    @contextlib.contextmanager
    def counting_lines(self, count: LineCount) -> Iterator[LineCount]:
        """Within this block every call into the student's code counts, in the sandbox, the lines
        of the student's own code it runs (checks.count_lines), added to `count`."""
        self._line_counts.append(count)
        try:
            yield count
        finally:
            self._line_counts.remove(count)

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
        raise TypeError(
            f"can't pass a {type(value).__name__} to the student's code (only plain data, "
            "callables and handles)"
        )

    def _decode_value(self, tag: dict) -> Any:
        if tag.get("__missing__") is True:
            return MISSING
        if "__ref__" in tag and isinstance(tag["__ref__"], int):
            return Remote(
                self,
                tag["__ref__"],
                str(tag.get("type", "object"))[:80],
                str(tag.get("repr", ""))[:200],
            )
        raise ProtocolError("unexpected object from the kernel")

    def _exchange(
        self, header: dict, buffers: list[bytes], timeout: float, what: str
    ) -> tuple[dict, list[bytes]]:
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
                why = (
                    exit_reason(code)
                    if code is not None
                    else f"the kernel broke its channel ({exc})"
                )
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
        except Exception as exc:  # the grader's callable failed: tell the kernel
            self.chan.send({"op": "cberror", "message": f"{type(exc).__name__}"})

    def run_cell(self, code: str, timeout: float | None = None) -> tuple[list[dict], dict | None]:
        """Execute a cell of the student's notebook: (outputs, error or None)."""
        timeout = timeout or self.limits.cell_timeout_s
        msg, _ = self._exchange({"op": "exec", "code": code}, [], timeout, "the cell")
        self._check_files()
        if msg.get("op") == "error":  # interrupted outside of the cell's own handling
            return [], {
                "ename": str(msg.get("ename")),
                "evalue": str(msg.get("evalue")),
                "timeout": bool(msg.get("timeout")),
            }
        outputs = msg.get("outputs") if isinstance(msg.get("outputs"), list) else []
        error = msg.get("error") if isinstance(msg.get("error"), dict) else None
        return [o for o in outputs if isinstance(o, dict)], error

    def _check_files(self) -> None:
        """Kill the kernel if its home folder holds more than limits.max_files files and folders
        (the folder's bytes are capped by its RAM disk's size)."""
        if not self.spec.sandboxed:
            return
        home = self._home_seen_from_here()
        if home is None:
            return
        count, todo = 0, [home]
        while todo:  # without recursion: the tree may be deeper than Python's stack
            try:
                with os.scandir(todo.pop()) as entries:
                    for entry in entries:
                        count += 1
                        if entry.is_dir(follow_symlinks=False):
                            todo.append(entry.path)
            except OSError:
                continue
            if count > self.limits.max_files:
                self.kill(
                    f"the notebook left more than {self.limits.max_files} files in its home folder"
                )
                raise KernelDied(self.dead)

    def _home_seen_from_here(self) -> str | None:
        """The sandbox's home folder, through /proc/<the kernel's pid>/root."""
        if self._runner_pid is None:
            try:
                kids = psutil.Process(self.proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                return None
            for p in reversed(kids):
                try:
                    if "coursekit.grading.runner" in " ".join(p.cmdline()):
                        self._runner_pid = p.pid
                        break
                except psutil.Error:
                    continue
        if self._runner_pid is None:
            return None
        return f"/proc/{self._runner_pid}/root{HOME}"

    def lookup(self, names: list[str]) -> dict[str, Any]:
        """The student's values for `names`: plain data, Remote proxies, or MISSING."""
        msg, bufs = self._exchange(
            {"op": "lookup", "names": list(names)}, [], 10.0, "looking up names"
        )
        if msg.get("op") != "result":
            raise KernelDied(f"unexpected reply {msg.get('op')!r}")
        values = decode(msg.get("value"), bufs, self._decode_value)
        if not isinstance(values, dict):
            raise ProtocolError("bad lookup reply")
        out = {}
        for name in names:
            v = values.get(name, MISSING)
            if isinstance(v, Remote):
                v._name = name
            out[name] = v
        return out

    def _merge_trace(self, trace: object) -> None:
        """The sandbox's trace of a call into every open Trace. It is the student's word: a
        missing, malformed or flooded trace is a gap (the check that reads it fails closed)."""
        ops = trace.get("ops") if isinstance(trace, dict) else None
        mods = trace.get("modules") if isinstance(trace, dict) else None
        gaps = trace.get("gaps", []) if isinstance(trace, dict) else []
        for t in self._traces:
            if (
                not isinstance(ops, list)
                or not isinstance(mods, list)
                or not isinstance(gaps, list)
            ):
                t.gap("the call came back without its trace")
                continue
            if len(ops) + len(mods) > TRACE_CAP:
                t.gap(f"more than {TRACE_CAP} operations")
            t.merge(ops[:TRACE_CAP], mods[:TRACE_CAP], gaps[:20])

    def call_keeping_arguments(
        self, fn: Any, args: tuple, kwargs: dict
    ) -> tuple[Any, list, dict] | None:
        """checks.call_keeping_arguments() for a proxy of this kernel: (result, args after the
        call, kwargs after the call), the arguments as the student's code left them."""
        if not isinstance(fn, Remote) or fn._k is not self:
            return None
        return self.request_object(
            "call", fn._ref, args=args, kwargs=kwargs, name=fn._name, state=True
        )

    def request_object(
        self,
        op: str,
        ref: int,
        *,
        args: tuple = (),
        kwargs: dict | None = None,
        attr: str = "",
        key: Any = None,
        reflected: bool = False,
        name: str = "",
        state: bool = False,
    ) -> Any:
        """One operation on an object in the kernel: call, getattr, getitem, len, binop, neg."""
        out: list[bytes] = []
        header: dict = {"op": op, "ref": ref}
        if op == "call":
            header["args"] = encode(list(args), out, self._encode_arg)
            header["kwargs"] = encode(dict(kwargs or {}), out, self._encode_arg)
            if self._traces:
                header["trace"] = True
            if state:
                header["state"] = True
            if self._line_counts:
                header["lines"] = True
        elif op == "getattr":
            header["name"] = attr
        elif op == "getitem":
            header["key"] = encode(key, out, self._encode_arg)
        elif op == "binop":
            header.update(name=attr, key=encode(key, out, self._encode_arg), reflected=reflected)
            if self._traces:
                header["trace"] = True
        msg, bufs = self._exchange(header, out, self.limits.cell_timeout_s, f"`{name}`")
        if msg.get("op") == "error":
            if op == "getattr" and msg.get("ename") == "AttributeError":
                raise AttributeError(f"the student's object has no attribute {attr!r}")
            tb = msg.get("traceback")
            raise remote_error(
                str(msg.get("ename", "Error"))[:100],
                str(msg.get("evalue", ""))[:1000],
                [str(x) for x in tb][:10] if isinstance(tb, list) else [],
                bool(msg.get("timeout")),
                name,
            )
        if msg.get("op") != "result":
            raise ProtocolError("unexpected reply")
        if self._traces and op in ("call", "binop"):
            self._merge_trace(msg.get("trace"))
        if op == "call" and self._line_counts:
            lines = msg.get("lines")  # fail closed: a call that brings back no count ran "a lot"
            n = lines if type(lines) is int and lines >= 0 else 10**9
            for c in self._line_counts:
                c.lines += n
        value = decode(msg.get("value"), bufs, self._decode_value)
        if isinstance(value, Remote):
            value._name = name
        if state:
            after = decode(msg.get("args", []), bufs, self._decode_value)
            kw_after = decode(msg.get("kwargs", {"__dict__": []}), bufs, self._decode_value)
            if not isinstance(after, list) or not isinstance(kw_after, dict):
                raise ProtocolError("bad argument state")
            return value, after, kw_after
        return value
