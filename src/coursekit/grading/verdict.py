"""Verdicts, decided in the grader's process: a test cell runs here, not in the student's kernel.

The full test cell (visible part and hidden tests, from solutions/) is executed in a fresh
namespace of the grader. Every name it uses but does not define is looked up in the student's
kernel and arrives as plain data or as a proxy (sandbox.Remote): calling the student's function
sends the arguments into the sandbox and brings back the result as plain data. Comparisons,
expected values and hidden inputs' expected results stay here, where the student's code can't
reach them. The hidden part runs in checks.hidden_mode(), and failures there are reported
without values, hidden source or tracebacks.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
from dataclasses import dataclass

from ..checks import CheckFailed, Trace, hidden_mode, set_remote_tracer
from ..notebooks import split_hidden
from .sandbox import MISSING, Kernel, KernelDied, RemoteError

__all__ = ["Verdict", "free_names", "evaluate_test"]

_BUILTINS = set(dir(builtins))


@dataclass
class Verdict:
    status: str  # passed / failed / error / timeout / missing
    message: str
    output: str = ""


def free_names(source: str) -> list[str]:
    """Names a cell reads but never binds (builtins excluded), in first-use order."""
    tree = ast.parse(source)
    bound: set[str] = set()
    used: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                used.append(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            args = node.args if not isinstance(node, ast.ClassDef) else None
            if args is not None:
                for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                    if a is not None:
                        bound.add(a.arg)
        elif isinstance(node, ast.Lambda):
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                if arg is not None:
                    bound.add(arg.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    out: list[str] = []
    for name in used:
        if name not in bound and name not in _BUILTINS and name not in out:
            out.append(name)
    return out


class _RemoteTracer:
    """checks.trace_calls() in the grader: trace the proxied calls inside the sandbox."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @contextlib.contextmanager
    def __call__(self, trace: Trace):  # noqa: ANN204
        self.kernel.tracer_stack.append(trace)
        try:
            yield
        finally:
            self.kernel.tracer_stack.remove(trace)


def _describe_remote(exc: RemoteError, hidden: bool) -> tuple[str, str]:
    who = f"`{exc.name}`" if exc.name else "your code"
    if exc.timeout:
        return "timeout", f"{who} did not finish within the time limit (an endless loop?)"
    if exc.ename == "NotImplementedError":
        return "error", f"{who} is not implemented yet (it raises NotImplementedError)"
    if hidden:
        return "error", f"{who} raised {exc.ename} on a hidden test's input"
    tb = "".join(exc.traceback[-3:]).rstrip()
    return "error", f"{who} raised {exc.ename}: {exc.evalue}" + (f"\n{tb}" if tb else "")


def evaluate_test(kernel: Kernel, source: str, grade_id: str) -> Verdict:
    """Run one full test cell against the student's kernel; the verdict and visible output."""
    visible, hidden = split_hidden(source)
    try:
        names = free_names(source)
    except SyntaxError as exc:  # an authoring error, not the student's
        return Verdict("error", f"the test cell {grade_id!r} has a syntax error ({exc}); tell your instructor")
    try:
        values = kernel.lookup(names)
    except KernelDied as exc:
        return Verdict("error", f"not graded: {exc}")
    missing = [n for n, v in values.items() if v is MISSING]
    if missing:
        return Verdict("missing", f"{', '.join(f'`{n}`' for n in missing)} is not defined in your notebook "
                                  "(was a cell deleted or renamed, or not run?)")
    ns = {"__builtins__": builtins, "__name__": "__coursekit_test__", **values}
    out = io.StringIO()
    token = set_remote_tracer(_RemoteTracer(kernel))
    part = "visible"
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(visible, f"<test {grade_id}>", "exec"), ns)  # noqa: S102 - trusted test code
        part = "hidden"
        if hidden.strip():
            with contextlib.redirect_stdout(io.StringIO()), hidden_mode():
                exec(compile(hidden, f"<hidden tests {grade_id}>", "exec"), ns)  # noqa: S102
    except KernelDied as exc:
        return Verdict("error", f"your notebook's kernel stopped while this was tested: {exc}", out.getvalue())
    except RemoteError as exc:
        status, message = _describe_remote(exc, part == "hidden")
        return Verdict(status, message, out.getvalue())
    except CheckFailed as exc:
        text = str(exc) or "a check failed"
        return Verdict("failed", text if part == "visible" else f"a hidden test failed: {text}", out.getvalue())
    except AssertionError as exc:
        if part == "hidden":
            return Verdict("failed", "a hidden test failed", out.getvalue())
        return Verdict("failed", str(exc) or "a visible check failed (assert)", out.getvalue())
    except Exception as exc:  # noqa: BLE001 - anything else the student's results provoked
        if part == "hidden":
            return Verdict("failed", f"a hidden test failed ({type(exc).__name__})", out.getvalue())
        return Verdict("failed", f"{type(exc).__name__}: {exc}", out.getvalue())
    finally:
        set_remote_tracer(None) if token is None else _reset(token)
    return Verdict("passed", "", out.getvalue())


def _reset(token) -> None:  # noqa: ANN001
    from ..checks import _TRACER

    _TRACER.reset(token)
