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
from collections.abc import Iterator
from dataclasses import dataclass

from ..checks import (
    CheckFailed,
    reset_remote_caller,
    reset_remote_line_counter,
    reset_remote_tracer,
    set_remote_caller,
    set_remote_line_counter,
    set_remote_tracer,
)
from ..notebooks import split_hidden
from .assignment import TestSpec
from .kernel import MISSING, Kernel, KernelDied, RemoteError
from .sandbox import NUMPY_ONLY
from .testcell import run_test_cell

__all__ = [
    "Verdict",
    "Pending",
    "free_names",
    "evaluate_test",
    "evaluate_visible",
    "evaluate_hidden",
]

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


def _describe_remote(exc: RemoteError, hidden: bool) -> tuple[str, str]:
    who = f"`{exc.name}`" if exc.name else "your code"
    if exc.timeout:
        return "timeout", f"{who} did not finish within the time limit (an endless loop?)"
    if exc.ename in ("ImportError", "ModuleNotFoundError") and NUMPY_ONLY in exc.evalue:
        return "failed", f"{who}: {exc.evalue}. Write it with NumPy."
    if exc.ename == "NotImplementedError":
        return "error", f"{who} is not written yet (it still raises NotImplementedError)"
    if hidden:
        return "error", f"{who} raised {exc.ename} on a hidden test's input"
    tb = "".join(exc.traceback[-3:]).rstrip()
    return "error", f"{who} raised {exc.ename}: {exc.evalue}" + (f"\n{tb}" if tb else "")


def _judge(error: Exception, hidden: bool) -> tuple[str, str]:
    """(status, message) for what a test cell raised, in its visible or its hidden part."""
    if isinstance(error, KernelDied):
        return "error", f"your notebook's kernel stopped while this was tested: {error}"
    if isinstance(error, RemoteError):
        return _describe_remote(error, hidden)
    if isinstance(error, CheckFailed):
        text = str(error) or "a check failed"
        return "failed", f"a hidden test failed: {text}" if hidden else text
    if isinstance(error, AssertionError):
        return "failed", "a hidden test failed" if hidden else (
            str(error) or "a visible check failed (assert)"
        )
    # anything else the student's results provoked in the test code
    if hidden:
        return "failed", f"a hidden test failed ({type(error).__name__})"
    return "failed", f"{type(error).__name__}: {error}"


@dataclass
class Pending:
    """A test whose visible checks passed: its hidden tests run after the notebook's last cell
    (so that no cell of the student's can see what the hidden tests passed to its functions)."""

    test: TestSpec
    kernel: Kernel  # where the student's names live
    ns: dict  # the test cell's namespace: the student's names (proxies) and the visible part's
    output: str  # what the visible part printed


@contextlib.contextmanager
def _routed_to(kernel: Kernel) -> Iterator[None]:
    """checks' tracing, argument-state and line-count calls, routed into the sandbox."""
    token = set_remote_tracer(kernel.tracing)
    caller = set_remote_caller(kernel.call_keeping_arguments)
    counter = set_remote_line_counter(kernel.counting_lines)
    try:
        yield
    finally:
        reset_remote_line_counter(counter)
        reset_remote_caller(caller)
        reset_remote_tracer(token)


def evaluate_visible(kernel: Kernel, test: TestSpec) -> Verdict | Pending:
    """Run a test cell's visible checks against the student's kernel. A failure is the verdict;
    a pass is Pending on the hidden tests (or the verdict, when the cell has none)."""
    try:
        names = free_names(test.source)
    except SyntaxError as exc:  # an authoring error, not the student's
        return Verdict(
            "error",
            f"the test cell {test.grade_id!r} has a syntax error ({exc}); tell your instructor",
        )
    try:
        values = kernel.lookup(names)
    except KernelDied as exc:
        return Verdict("error", f"not graded: {exc}")
    missing = [n for n, v in values.items() if v is MISSING]
    if missing and kernel.hide:  # a NumPy-only kernel: its cell needed torch or scipy to run
        return Verdict(
            "failed",
            f"{', '.join(f'`{n}`' for n in missing)}: its cell can't run without torch or scipy: "
            f"it calls a ready-made implementation (this exercise is {NUMPY_ONLY}). "
            "Write it with NumPy.",
        )
    if missing:
        return Verdict(
            "missing",
            f"{', '.join(f'`{n}`' for n in missing)} is not defined in your notebook "
            "(was a cell deleted or renamed, or not run?)",
        )
    ns = dict(values)
    with _routed_to(kernel):
        run = run_test_cell(test.source, ns, name=test.grade_id, hidden=False)
    if not run.passed:
        status, message = _judge(run.error, False)
        return Verdict(status, message, run.output)
    if not split_hidden(test.source)[1].strip():
        return Verdict("passed", "", run.output)
    return Pending(test, kernel, ns, run.output)


def evaluate_hidden(pending: Pending) -> Verdict:
    """Run the hidden tests of a test whose visible checks passed, in its kernel."""
    with _routed_to(pending.kernel):
        run = run_test_cell(
            pending.test.source, pending.ns, name=pending.test.grade_id, visible=False
        )
    if run.passed:
        return Verdict("passed", "", pending.output)
    status, message = _judge(run.error, True)
    return Verdict(status, message, pending.output)


def evaluate_test(kernel: Kernel, test: TestSpec) -> Verdict:
    """Run one full test cell against the student's kernel, its hidden tests right after its
    visible checks; the verdict and visible output."""
    first = evaluate_visible(kernel, test)
    return first if isinstance(first, Verdict) else evaluate_hidden(first)
