"""The student's kernel, inside the sandbox: `python -m coursekit.grading.runner RFD WFD`.

It executes the student's cells in an IPython shell and answers the grader's requests about
the names the notebook defined: look a name up, call it, read an attribute, index it. Results
go back as plain data (see wire.py); other objects stay here and go back as handles.

Nothing here decides a grade: everything this process says is treated by the grader as the
student's own answer, so tampering with this process can only change what the student answers.
"""

from __future__ import annotations

import _thread
import contextlib
import io
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

MAX_TEXT = int(os.environ.get("COURSEKIT_OUTPUT_KB", "256")) * 1024
MAX_IMAGES = 2 * 2**20
TRACE_SENT = 20_000  # names of a trace sent back (more: the grader sees a flood, a gap)
MAX_ANSWER = (
    int(os.environ.get("COURSEKIT_ANSWER_MB", "64")) * 2**20 - 2**20
)  # headroom for framing
BINOPS = ("add", "sub", "mul", "truediv", "floordiv", "pow", "matmul", "mod")


class CappedText(io.TextIOBase):
    """A stream that keeps the first MAX_TEXT characters of what is written to it."""

    def __init__(self, name: str, sink: list) -> None:
        self.name, self.sink = name, sink
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        s = str(s)
        room = MAX_TEXT - self.kept
        if room > 0:
            part = s[:room]
            self.kept += len(part)
            if (
                self.sink
                and self.sink[-1].get("output_type") == "stream"
                and self.sink[-1]["name"] == self.name
            ):
                self.sink[-1]["text"] += part
            else:
                self.sink.append({"output_type": "stream", "name": self.name, "text": part})
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class Watchdog:
    """The kernel's clock: one thread, started before any student code runs, that interrupts the
    main thread when the armed deadline passes. (A timer thread per cell would need a new thread
    each time, which a student who used up the process cap could then prevent.)"""

    def __init__(self, target: int | None = None) -> None:
        self._target = target or threading.main_thread().ident
        self._cond = threading.Condition()
        self._due: float | None = None
        self.fired = False
        threading.Thread(target=self._loop, name="coursekit-watchdog", daemon=True).start()

    def _loop(self) -> None:
        now, kill, target = time.monotonic, signal.pthread_kill, self._target

        def interrupt() -> None:  # a real SIGINT: it also ends a blocking sleep or read
            try:
                kill(target, signal.SIGINT)
            except OSError:
                _thread.interrupt_main()

        with self._cond:
            while True:
                if self._due is None:
                    self._cond.wait()
                    continue
                left = self._due - now()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._due = None
                self.fired = True
                interrupt()

    @contextlib.contextmanager
    def armed(self, seconds: float):
        """Nested use keeps the earlier (outer) deadline if it comes first."""
        with self._cond:
            outer = self._due
            due = time.monotonic() + seconds
            self._due = due if outer is None else min(outer, due)
            self.fired = False
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._due = outer
                self._cond.notify()


class Runner:
    def __init__(self, rfd: int, wfd: int) -> None:
        from .wire import Channel

        self.chan = Channel(rfd, wfd, max_message=MAX_ANSWER + 2**20)
        self.handles: dict[int, Any] = {}
        self.outputs: list[dict] = []
        self.display_text = 0
        self.image_bytes = 0
        self.watchdog = Watchdog()
        self._shell = None

    # --- the IPython shell -------------------------------------------------------------------

    @property
    def shell(self):
        if self._shell is None:
            self._shell = make_shell(self)
        return self._shell

    def _display(self, kind: str, data: dict) -> None:
        keep = {}
        for mime in ("text/plain", "image/png"):
            if mime in data:
                value = data[mime]
                if mime == "image/png":
                    size = len(value) if isinstance(value, (str, bytes)) else 0
                    if self.image_bytes + size > MAX_IMAGES:
                        continue
                    self.image_bytes += size
                    if isinstance(value, bytes):
                        import base64

                        value = base64.b64encode(value).decode()
                keep[mime] = str(value)[: MAX_TEXT if mime == "text/plain" else MAX_IMAGES]
        if "text/plain" in keep:  # displayed text shares the cell's text budget with print()
            room = max(MAX_TEXT - self.display_text, 0)
            self.display_text += len(keep["text/plain"])
            keep["text/plain"] = keep["text/plain"][:room]
            if not keep["text/plain"]:
                del keep["text/plain"]
        if keep:
            out = {"output_type": kind, "data": keep, "metadata": {}}
            if kind == "execute_result":
                out["execution_count"] = None
            self.outputs.append(out)

    # --- time limits ---------------------------------------------------------------------------

    @property
    def timed_out(self) -> bool:
        return self.watchdog.fired

    def deadline(self, seconds: float):
        """Interrupt the main thread (KeyboardInterrupt) after `seconds`."""
        return self.watchdog.armed(seconds)

    # --- values --------------------------------------------------------------------------------

    def _handle(self, obj: Any) -> dict:
        hid = id(obj)
        self.handles[hid] = obj
        try:
            text = repr(obj)
        except Exception:
            text = f"<{type(obj).__name__}>"
        return {
            "__ref__": hid,
            "type": type(obj).__name__,
            "repr": text[:200],
            "callable": callable(obj),
        }

    def _callback(self, tag: dict) -> Any:
        if "__ref__" in tag:
            try:
                return self.handles[tag["__ref__"]]
            except (KeyError, TypeError):
                raise ValueError("unknown handle") from None
        if "__cb__" in tag:
            cid = tag["__cb__"]

            def callback(*args: Any, **kwargs: Any) -> Any:
                return self._call_grader(cid, args, kwargs)

            callback.__name__ = str(tag.get("name", "callback"))
            return callback
        raise ValueError("unknown tag")

    def _enc(self, value: Any, buffers: list) -> Any:
        from .wire import encode

        return encode(value, buffers, self._handle)

    def _dec(self, data: Any, buffers: list) -> Any:
        from .wire import decode

        return decode(data, buffers, self._callback)

    def _call_grader(self, cid: int, args: tuple, kwargs: dict) -> Any:
        bufs: list = []
        self.chan.send(
            {
                "op": "callback",
                "cb": cid,
                "args": self._enc(list(args), bufs),
                "kwargs": self._enc(dict(kwargs), bufs),
            },
            bufs,
        )
        while True:
            msg, bufs = self.chan.recv()
            if msg.get("op") == "cbreturn":
                return self._dec(msg.get("value"), bufs)
            if msg.get("op") == "cberror":
                raise RuntimeError(str(msg.get("message", "the grader's function failed")))
            self.dispatch(msg, bufs)  # a nested request made by the grader's function

    # --- requests ------------------------------------------------------------------------------

    def serve(self) -> None:
        self.chan.send({"op": "ready", "pid": os.getpid()})
        while True:
            msg, bufs = self.chan.recv()
            if msg.get("op") == "quit":
                return
            self.dispatch(msg, bufs)

    def dispatch(self, msg: dict, bufs: list) -> None:
        op = msg.get("op")
        try:
            if op == "exec":
                self.op_exec(msg)
            elif op == "lookup":
                self.op_lookup(msg)
            elif op in ("call", "getattr", "getitem", "len", "binop", "neg"):
                self.op_object(msg, bufs)
            else:
                self.chan.send(
                    {"op": "error", "ename": "ProtocolError", "evalue": f"unknown op {op!r}"}
                )
        except KeyboardInterrupt:
            self.chan.send(
                {"op": "error", "ename": "TimeoutError", "evalue": "interrupted", "timeout": True}
            )

    def op_exec(self, msg: dict) -> None:
        self.outputs = []
        self.display_text = 0
        code = str(msg.get("code", ""))
        timeout = float(msg.get("timeout", 60))
        out = CappedText("stdout", self.outputs)
        err = CappedText("stderr", self.outputs)
        error = None
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            with self.deadline(timeout):
                result = self.shell.run_cell(code, store_history=True)
            exc = result.error_in_exec or result.error_before_exec
            if exc is not None:
                error = {"ename": type(exc).__name__, "evalue": str(exc)[:2000]}
        except KeyboardInterrupt:
            error = {"ename": "KeyboardInterrupt", "evalue": ""}
        finally:
            sys.stdout, sys.stderr = old
        for stream in (out, err):
            if stream.dropped:
                self.outputs.append(
                    {
                        "output_type": "stream",
                        "name": "stderr",
                        "text": f"\n[{stream.dropped} more characters of output were cut]\n",
                    }
                )
        if error and error["ename"] == "KeyboardInterrupt" and self.timed_out:
            error = {
                "ename": "TimeoutError",
                "evalue": f"the cell ran longer than {timeout:g} s",
                "timeout": True,
            }
        self.chan.send({"op": "done", "outputs": self.outputs, "error": error})

    def op_lookup(self, msg: dict) -> None:
        ns = self.shell.user_ns
        bufs: list = []
        values = {}
        for name in msg.get("names", []):
            name = str(name)
            if name in ns and not name.startswith("_"):
                values[name] = self._enc(ns[name], bufs)
            else:
                values[name] = {"__missing__": True}
        self.chan.send(
            {"op": "result", "value": {"__dict__": [[k, v] for k, v in values.items()]}}, bufs
        )

    @staticmethod
    def _traced(msg: dict, fn: Any) -> tuple[Any, Any]:
        """fn(), traced when the grader asked for it: (value, trace or None)."""
        if not msg.get("trace"):
            return fn(), None
        from ..checks import Trace, local_trace

        trace = Trace()
        with local_trace(trace):
            value = fn()
        return value, trace

    @staticmethod
    @contextlib.contextmanager
    def _lines_counted(msg: dict) -> Iterator[Any]:
        """The lines of the student's code run inside, counted when the grader asked for it
        (checks.count_lines); yields the count, or None."""
        if not msg.get("lines"):
            yield None
            return
        from ..checks import LineCount, local_line_count

        count = LineCount()
        with local_line_count(count):
            yield count

    def _binop(self, target: Any, msg: dict, bufs: list) -> Any:
        import operator

        name = str(msg.get("name"))
        if name not in BINOPS:
            raise TypeError(f"unknown operator {name!r}")
        other = self._dec(msg.get("key"), bufs)
        fn = getattr(operator, name)
        return fn(other, target) if msg.get("reflected") else fn(target, other)

    def op_object(self, msg: dict, bufs: list) -> None:
        op = msg["op"]
        timeout = float(msg.get("timeout", 60))
        trace = lines = None
        try:
            target = self.handles[int(msg.get("ref"))]
        except (KeyError, TypeError, ValueError):
            self.chan.send({"op": "error", "ename": "LookupError", "evalue": "unknown handle"})
            return
        sink = CappedText("stdout", [])
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = sink
        out: list = []
        try:
            with self.deadline(timeout):
                if op == "call":
                    args = self._dec(msg.get("args", []), bufs)
                    kwargs = self._dec(msg.get("kwargs", {"__dict__": []}), bufs)
                    with self._lines_counted(msg) as lines:
                        # the result is encoded inside the trace: a lazy value computed only
                        # when it is read is traced too
                        encoded, trace = self._traced(
                            msg, lambda: self._enc(target(*args, **kwargs), out)
                        )
                elif op == "getattr":
                    value = getattr(target, str(msg.get("name")))
                elif op == "getitem":
                    value = target[self._dec(msg.get("key"), bufs)]
                elif op == "binop":
                    value, trace = self._traced(msg, lambda: self._binop(target, msg, bufs))
                elif op == "neg":
                    value = -target
                else:
                    value = len(target)
            reply = {"op": "result", "value": encoded if op == "call" else self._enc(value, out)}
            if lines is not None:  # checks.count_lines: the student's lines this call ran
                reply["lines"] = lines.lines
            if op == "call" and msg.get("state"):  # the arguments as the call left them
                reply["args"] = self._enc(list(args), out)
                reply["kwargs"] = self._enc(dict(kwargs), out)
            if trace is not None:
                reply["trace"] = {
                    "ops": sorted(trace.ops)[:TRACE_SENT],
                    "modules": sorted(trace.modules)[:TRACE_SENT],
                    "gaps": trace.gaps[:20],
                }
            sys.stdout, sys.stderr = old
            from .wire import MAX_HEADER, encoded_size

            head, total = encoded_size(reply, out)
            if head > MAX_HEADER or total > MAX_ANSWER:
                self.chan.send(
                    {
                        "op": "error",
                        "ename": "AnswerTooLarge",
                        "evalue": f"the answer takes {total >> 20} MB, over the grader's "
                        f"{MAX_ANSWER >> 20} MB cap for one answer",
                    }
                )
                return
            self.chan.send(reply, out)
        except KeyboardInterrupt:
            sys.stdout, sys.stderr = old
            if self.timed_out:
                self.chan.send(
                    {
                        "op": "error",
                        "ename": "TimeoutError",
                        "timeout": True,
                        "evalue": f"did not finish within {timeout:g} s",
                    }
                )
            else:
                self.chan.send({"op": "error", "ename": "KeyboardInterrupt", "evalue": ""})
        except BaseException as exc:  # the student's exception, reported as data
            sys.stdout, sys.stderr = old
            if isinstance(exc, SystemExit):
                pass
            tb = traceback.TracebackException.from_exception(exc)
            frames = [
                f for f in tb.stack if "coursekit/grading" not in f.filename.replace(os.sep, "/")
            ]
            lines = traceback.StackSummary.from_list(frames).format()[-6:]
            self.chan.send(
                {
                    "op": "error",
                    "ename": type(exc).__name__,
                    "evalue": str(exc)[:1000],
                    "traceback": [str(x)[:2000] for x in lines],
                }
            )


def make_shell(runner: Runner) -> Any:
    """The IPython shell that runs the student's cells: its displays and tracebacks go into
    `runner`'s outputs (text and PNG only), no history, inline matplotlib."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Pub(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
            runner._display("display_data", data)

        def clear_output(self, wait=False):
            pass

    class Hook(DisplayHook):
        def __call__(self, result=None):
            if result is None:
                return
            try:
                data, _ = self.shell.display_formatter.format(result)
            except Exception:
                data = {"text/plain": f"<{type(result).__name__}>"}
            runner._display("execute_result", data)

    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False  # no sqlite file and no saving thread per cell
    shell = InteractiveShell.instance(
        config=config, display_pub_class=Pub, displayhook_class=Hook, colors="nocolor"
    )

    def show_tb(etype, evalue, stb):
        runner.outputs.append(
            {
                "output_type": "error",
                "ename": getattr(etype, "__name__", "Error"),
                "evalue": str(evalue)[:2000],
                "traceback": [str(x)[:4000] for x in stb][-30:],
            }
        )

    shell._showtraceback = show_tb
    shell.register_magic_function(lambda line: None, "line", "matplotlib")
    try:
        import matplotlib

        matplotlib.use("module://matplotlib_inline.backend_inline")
        shell.enable_matplotlib("inline")
    except Exception:  # plots are optional for grading
        pass
    return shell


def main() -> None:
    rfd, wfd = int(sys.argv[1]), int(sys.argv[2])
    # Keep the channel out of reach of child processes and of print(): high fds, close-on-exec.
    rfd2, wfd2 = os.dup(rfd), os.dup(wfd)
    os.close(rfd)
    os.close(wfd)
    for fd in (rfd2, wfd2):
        os.set_inheritable(fd, False)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        os.chdir(os.environ.get("HOME", "/"))
    except OSError:
        pass
    os.environ.setdefault("NBGRADER_EXECUTION", "autograde")
    runner = Runner(rfd2, wfd2)
    try:
        runner.serve()
    except Exception:  # the channel broke: note why in the kernel's log
        traceback.print_exc(file=sys.__stderr__)
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
