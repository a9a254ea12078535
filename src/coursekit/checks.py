"""Checks for the notebooks' test cells: clear verdicts a student can act on.

A test cell calls the student's function on data and hands the result to a check here::

    check_close(conv2d_naive(x, w), expected, name="conv2d_naive",
                hints={"flipped kernel": flipped})

On success a check prints one line (``conv2d_naive: ok (rel_error = 3.1e-16)``); on failure it
raises :class:`CheckFailed` with a message in plain words: how far off the result is and, when
the result matches one of the ``hints`` (a known wrong answer), which mistake that is.

The same test cell runs in two places:

* in the student's own kernel, where the check is advice (the *visible* checks);
* in coursekit's grader, outside the student's process, where the student's functions are
  proxies that return plain data. There the hidden part of a cell runs in *hidden mode*
  (:func:`hidden_mode`): messages keep the diagnosis but leave out every value, shape and
  index, so feedback never reveals hidden inputs or expected results.

Nothing here holds the answer to an exercise.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

__all__ = [
    "CheckFailed",
    "check_close",
    "check_equal",
    "check_shape",
    "check_true",
    "call_keeping_arguments",
    "count_lines",
    "LineCount",
    "local_line_count",
    "reset_remote_line_counter",
    "set_remote_line_counter",
    "forbid_ops",
    "hidden_mode",
    "in_hidden_mode",
    "local_trace",
    "rel_error",
    "reset_remote_caller",
    "reset_remote_tracer",
    "set_remote_caller",
    "set_remote_tracer",
    "Trace",
    "to_numpy",
    "trace_calls",
]

_HIDDEN: contextvars.ContextVar[bool] = contextvars.ContextVar("coursekit_hidden", default=False)


class CheckFailed(AssertionError):
    """A check's verdict: the message is written for the student."""


@contextlib.contextmanager
def hidden_mode() -> Iterator[None]:
    """Within this block, failure messages omit values, shapes and indices."""
    token = _HIDDEN.set(True)
    try:
        yield
    finally:
        _HIDDEN.reset(token)


def in_hidden_mode() -> bool:
    return _HIDDEN.get()


def _fail(message: str, detail: str = "") -> None:
    """Raise CheckFailed; `detail` (values, shapes) is dropped in hidden mode."""
    if detail and not in_hidden_mode():
        message = f"{message} {detail}"
    raise CheckFailed(message)


def _say(message: str) -> None:
    if not in_hidden_mode():
        print(message)


def to_numpy(x: Any) -> np.ndarray:
    """Tensors, arrays, numbers and nested lists as a float/int/bool ndarray.

    Raises CheckFailed for anything else (an object that is not plain data can't be compared).
    """
    if isinstance(x, np.ndarray) and type(x) is not np.ndarray:
        x = np.array(x, copy=True).view(np.ndarray)  # a subclass can't lie about its values
    if type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        x = x.numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # anything odd is a failed check
        raise CheckFailed(f"could not read the result as numbers ({type(x).__name__})") from exc
    if arr.dtype == object or arr.dtype.kind not in "biufc":
        raise CheckFailed(
            f"expected numbers, got {type(x).__name__}"
            + ("" if in_hidden_mode() else f" ({_short(x)})")
        )
    return np.array(arr, copy=True).view(np.ndarray)


def _short(x: Any, n: int = 60) -> str:
    try:
        text = repr(x)
    except Exception:
        text = f"<{type(x).__name__}>"
    return text if len(text) <= n else text[: n - 3] + "..."


def rel_error(actual: Any, expected: Any) -> float:
    """max |a - e| / max(|a| + |e|, tiny), the cs231n relative error (0 when equal)."""
    a = to_numpy(actual).astype(np.float64)
    e = to_numpy(expected).astype(np.float64)
    if a.shape != e.shape:
        return math.inf
    if a.size == 0:
        return 0.0
    if not np.all(np.isfinite(a)):
        return math.inf
    num = np.abs(a - e)
    den = np.maximum(np.abs(a) + np.abs(e), 1e-300)
    return float(np.max(num / den * (num > 0)))


def check_shape(actual: Any, expected_shape: tuple[int, ...], *, name: str) -> None:
    a = to_numpy(actual)
    if tuple(a.shape) != tuple(expected_shape):
        _fail(
            f"{name}: the output has the wrong shape.",
            f"Expected {tuple(expected_shape)}, got {tuple(a.shape)}.",
        )


def check_close(
    actual: Any,
    expected: Any,
    *,
    name: str,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    hints: Mapping[str, Any] | None = None,
    shape_hints: Mapping[tuple[int, ...], str]
    | Iterable[tuple[tuple[int, ...], str]]
    | None = None,
) -> float:
    """Check that `actual` equals `expected` within tolerance; return the relative error.

    hints: known wrong answers, {"description of the mistake": wrong_result}. When the student's
        result matches one (same shape, close values), the message names that mistake; a wrong
        result may have another shape than `expected` (padding on one side only...).
    shape_hints: what a wrong shape usually means, as {wrong_shape: meaning} or as a list of
        (wrong_shape, meaning) pairs; several meanings of one shape are all said (a list keeps
        them where a dict would keep only the last).
    """
    a = to_numpy(actual)
    e = to_numpy(expected)
    if a.shape != e.shape:
        known = _matching(a, hints, rtol, atol)  # a known mistake of another shape
        if known:
            _fail(
                f"{name}: the output has the wrong shape; "
                f"your result matches a known mistake: {known}.",
                f"Expected {e.shape}, got {a.shape}.",
            )
        pairs = shape_hints.items() if isinstance(shape_hints, Mapping) else (shape_hints or ())
        meanings = []
        for shape, meaning in pairs:
            if tuple(a.shape) == tuple(shape) and meaning not in meanings:
                meanings.append(meaning)
        hint = (" " + " Or: ".join(meanings)) if meanings else ""
        _fail(
            f"{name}: the output has the wrong shape.{hint}",
            f"Expected {e.shape}, got {a.shape}.",
        )
    if a.size and not np.all(np.isfinite(a)) and np.all(np.isfinite(e)):
        for mistake, wrong in (hints or {}).items():  # a known mistake that gives NaN/inf too
            w = _maybe_numbers(wrong)
            if w is not None and w.shape == a.shape and not np.all(np.isfinite(w)):
                tol = {"rtol": max(rtol, 1e-6), "atol": max(atol, 1e-8)}
                if np.allclose(a, w, equal_nan=True, **tol):
                    _fail(f"{name}: your result matches a known mistake: {mistake}.")
        _fail(f"{name}: the output contains NaN or infinity.")
    if np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        err = rel_error(a, e) if a.size else 0.0
        _say(f"{name}: ok (rel_error = {err:.1e})")
        return err
    known = _matching(a, hints, rtol, atol)
    if known:
        _fail(f"{name}: your result matches a known mistake: {known}.")
    err = rel_error(a, e)
    diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
    where = np.unravel_index(int(np.nanargmax(diff)), diff.shape) if diff.size else ()
    how_far = "" if in_hidden_mode() else f" (rel_error = {err:.1e}, should be below {rtol:.0e})"
    _fail(
        f"{name}: the values are wrong{how_far}.",  # hidden: no number about the hidden result
        f"Largest difference {float(diff[where]):.3g} at index {tuple(int(i) for i in where)}.",
    )
    return err  # pragma: no cover - _fail always raises


def _close(a: np.ndarray, w: np.ndarray, rtol: float, atol: float) -> bool:
    """Does a result match a known wrong answer (the tolerance of hints: at least 1e-6)?"""
    return bool(np.allclose(a, w, rtol=max(rtol, 1e-6), atol=max(atol, 1e-8)))


def _matching(a: np.ndarray, hints: Mapping[str, Any] | None, rtol: float, atol: float) -> str:
    """The hints `a` matches, in order: "" for none; several that this input can't tell apart
    are all named ("A (or: B)")."""
    found = []
    for mistake, wrong in (hints or {}).items():
        w = _maybe_numbers(wrong)
        if w is not None and w.shape == a.shape and _close(a, w, rtol, atol):
            found.append(mistake)
    return found[0] + "".join(f" (or: {m})" for m in found[1:]) if found else ""


def _maybe_numbers(x: Any) -> np.ndarray | None:
    """A hint's value as numbers, or None where it is no array (a placeholder like np.nan is)."""
    try:
        return to_numpy(x)
    except CheckFailed:
        return None


def check_equal(actual: Any, expected: Any, *, name: str) -> None:
    """Exact equality for plain values (ints, strings, tuples...), compared by type and value."""
    if isinstance(expected, (bool, int, float, str, tuple, list, type(None))) or expected is None:
        ok = _plain_equal(actual, expected)
    else:
        ok = _plain_equal(to_numpy(actual).tolist(), to_numpy(expected).tolist())
    if not ok:
        _fail(f"{name}: wrong answer.", f"Expected {expected!r}, got {_short(actual)}.")
    _say(f"{name}: ok")


def _plain_equal(a: Any, b: Any) -> bool:
    """Equality that a result object can't fake with a custom __eq__."""
    if isinstance(b, bool) or b is None:
        return (
            type(a) is type(b) and a is b
            if b is None
            else (type(a) in (bool, np.bool_) and bool(a) == b)
        )
    if isinstance(b, (int, float)):
        if type(a) not in (int, float, np.int64, np.int32, np.float64, np.float32, np.intp):
            return False
        return float(a) == float(b) or (
            isinstance(b, float) and math.isclose(float(a), b, rel_tol=1e-12)
        )
    if isinstance(b, str):
        return type(a) is str and str.__eq__(a, b) is True
    if isinstance(b, (tuple, list)):
        if not isinstance(a, (tuple, list)) or len(a) != len(b):
            return False
        return all(_plain_equal(x, y) for x, y in zip(a, b))
    return False


def check_true(condition: Any, message: str, detail: str = "") -> None:
    """Fail with `message` unless `condition` is the plain boolean True (or a true numpy bool)."""
    if not (condition is True or (isinstance(condition, np.bool_) and bool(condition))):
        _fail(message, detail)


# --- which operations a function used ---------------------------------------------------------

_TRACER: contextvars.ContextVar[Callable[..., Any] | None] = contextvars.ContextVar(
    "coursekit_tracer", default=None
)


TRACE_CAP = 10_000  # names in one trace: more is a flood, and the trace can't be trusted


class Trace:
    """What a traced call used: the torch functions it called and the Python modules it entered,
    and `gaps`: why the trace may be incomplete (a thread, a process, TorchScript, the profiler
    switched off, a flood, a trace that never came back). A trace with gaps fails closed."""

    def __init__(self) -> None:
        self.ops: set[str] = set()
        self.modules: set[str] = set()
        self.gaps: list[str] = []

    def merge(self, ops: Any, modules: Any, gaps: Any = ()) -> None:
        self.ops.update(str(o) for o in ops)
        self.modules.update(str(m) for m in modules)
        self.gaps.extend(str(g)[:200] for g in gaps)
        if len(self.ops) + len(self.modules) > TRACE_CAP:
            self.gap(f"more than {TRACE_CAP} operations")

    def gap(self, why: str) -> None:
        if why not in self.gaps:
            self.gaps.append(why)


@contextlib.contextmanager
def trace_calls() -> Iterator[Trace]:
    """Record the torch operators and Python modules that calls inside this block use.

    In the student's kernel it traces locally; in the grader, calls into the student's
    sandbox are traced there and the trace comes back with the result.
    """
    trace = Trace()
    remote = _TRACER.get()
    if remote is not None:  # the grader installed a tracer for proxied calls
        with remote(trace):
            yield trace
        return
    with local_trace(trace):
        yield trace


def set_remote_tracer(
    tracer: Callable[[Trace], contextlib.AbstractContextManager] | None,
) -> contextvars.Token:
    """Used by the grader: route trace_calls() to the sandbox (`tracer(trace)` is a context
    manager, e.g. ``Kernel.tracing``). Undo with :func:`reset_remote_tracer`."""
    return _TRACER.set(tracer)


def reset_remote_tracer(token: contextvars.Token) -> None:
    """Undo :func:`set_remote_tracer`."""
    _TRACER.reset(token)


_TRACER_OWN = ("coursekit.checks", "coursekit.grading", "contextlib")


@contextlib.contextmanager
def local_trace(trace: Trace) -> Iterator[None]:
    """Record into `trace` what the code inside this block calls, in this process."""
    import sys

    def profiler(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            mod = frame.f_globals.get("__name__", "")
            if mod and not mod.startswith(_TRACER_OWN):  # not the tracing machinery itself
                trace.modules.add(mod)
                if mod.startswith(_UNTRACEABLE_MODULES):
                    trace.gap(f"it uses {'TorchScript' if 'jit' in mod else mod.split('.')[0]}")
        elif event == "c_call":
            mod = getattr(arg, "__module__", None) or ""
            qual = getattr(arg, "__qualname__", "")
            if qual in _DISABLERS and not frame.f_globals.get("__name__", "").startswith(
                _DISABLERS[qual]
            ):
                trace.gap("it disables torch function modes")
            if mod:
                full = f"{mod}.{getattr(arg, '__name__', '')}"
                trace.modules.add(full)
                caller = frame.f_globals.get("__name__", "")
                if full in _UNTRACEABLE_CALLS and not caller.startswith(_TRACER_MACHINERY):
                    trace.gap(_UNTRACEABLE_CALLS[full])

    mode = None
    if "torch" in sys.modules:
        # TorchFunctionMode sees every torch function and Tensor method called (F.conv2d,
        # torch.softmax, x.log_softmax...). It costs ~0.02 s to start, where TorchDispatchMode's
        # first use imports ~800 modules (5-10 s). Names are recorded as called and with a
        # leading underscore, so ATen-style patterns ("_softmax") match too.
        from torch.overrides import TorchFunctionMode

        class _Ops(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):  # torch's signature
                name = str(getattr(func, "__name__", func))
                trace.ops.add(name)
                if not name.startswith("_"):
                    trace.ops.add("_" + name)
                return func(*args, **(kwargs or {}))

        mode = _Ops()
    old = sys.getprofile()
    sys.setprofile(profiler)
    try:
        if mode is not None:
            with mode:
                yield
                if not _mode_on_top(mode):
                    trace.gap("the torch function mode was removed")
        else:
            yield
        if sys.getprofile() is not profiler:
            trace.gap("the profiler was switched off")
    finally:
        sys.setprofile(old)
    if len(trace.ops) + len(trace.modules) > TRACE_CAP:
        trace.gap(f"more than {TRACE_CAP} operations")


# What a traced call can do that the trace can't follow: it is a gap, and the call fails closed.
_UNTRACEABLE_MODULES = (
    "torch.jit._script", "torch.jit._trace", "torch.jit._serialization", "torch.jit.frontend",
    "torch._dynamo.convert_frame", "torch._inductor", "multiprocessing", "concurrent.futures",
    "subprocess",
)  # fmt: skip
# context managers that turn torch function modes off; seen when they exit. (torch itself uses
# the Subclass one for tensor subclasses: from torch's own modules it is no gap.)
_DISABLERS = {
    "DisableTorchFunction.__exit__": _TRACER_OWN,
    "DisableTorchFunctionSubclass.__exit__": ("torch.", *_TRACER_OWN),
}
# the tracer's own enter and exit (its mode is pushed and popped by torch.overrides)
_TRACER_MACHINERY = (*_TRACER_OWN, "torch.overrides", "torch.utils._python_dispatch")
_UNTRACEABLE_CALLS = {
    "_thread.start_new_thread": "it starts a thread",
    "_thread.start_joinable_thread": "it starts a thread",
    "posix.fork": "it starts a process",
    "posix.posix_spawn": "it starts a process",
    "posix.posix_spawnp": "it starts a process",
    "posix.system": "it starts a process",
    "posix.execv": "it starts a program",
    "posix.execve": "it starts a program",
    "sys.setprofile": "it changes the profiler",
    "sys.settrace": "it changes the tracer",
    "torch._C._pop_torch_function_stack": "it removes the torch function mode",
    "torch._C._set_torch_function_mode": "it replaces the torch function mode",
    "torch._C._disabled_torch_function_impl": "it disables torch function modes",
}


def _mode_on_top(mode: Any) -> bool:
    try:
        import torch

        n = torch._C._len_torch_function_stack()
        return n > 0 and torch._C._get_function_stack_at(n - 1) is mode
    except Exception:  # an API this torch lacks: can't tell, say it is there
        return True


def forbid_ops(
    trace: Trace,
    *,
    name: str,
    ops: tuple[str, ...] = (),
    modules: tuple[str, ...] = (),
    why: str = "",
) -> None:
    """Fail if the traced call used any of `ops` (fragments of torch function names) or `modules`
    (prefixes of the Python modules it entered, e.g. "torch.nn.functional"), or if the trace has
    gaps (a thread, a process, TorchScript, the profiler switched off): what the grader can't
    check fails closed."""
    if trace.gaps:
        raise CheckFailed(
            f"{name}: the grader can't check which operations it used ({trace.gaps[0]}). "
            "Write it as plain code in this process: no threads, processes, TorchScript or tricks "
            "with the profiler."
        )
    used = sorted(
        o
        for o in trace.ops
        if any(f in o for f in ops) and not (o.startswith("_") and o[1:] in trace.ops)
    )  # not the "_" alias too
    used += sorted(
        m for m in trace.modules if any(m == p or m.startswith(p + ".") for p in modules)
    )
    if used:
        what = ", ".join(used[:3])
        raise CheckFailed(
            f"{name}: it calls a ready-made implementation ({what}). {why or 'Write it yourself.'}"
        )


# --- what a call did to its arguments ----------------------------------------------------------

_CALLER: contextvars.ContextVar[Callable[..., Any] | None] = contextvars.ContextVar(
    "coursekit_caller", default=None
)


def call_keeping_arguments(
    fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[Any, list, dict]:
    """Call ``fn(*args, **kwargs)`` and return ``(result, args_after, kwargs_after)``: the
    arguments as the call left them, to test contracts such as "fills W in place" or "leaves the
    input alone" (compare them with copies taken before the call).

    In the student's kernel these are the very objects passed. In the grader, where the student's
    function runs in the sandbox on copies, they are those copies as the student's code left
    them, sent back as plain data (tensors with their ``requires_grad`` and ``.grad``)."""
    remote = _CALLER.get()
    if remote is not None:
        handled = remote(fn, args, kwargs)
        if handled is not None:
            return handled
    result = fn(*args, **kwargs)
    return result, list(args), dict(kwargs)


def set_remote_caller(caller: Callable[..., Any] | None) -> contextvars.Token:
    """Used by the grader: route call_keeping_arguments() into the sandbox. `caller(fn, args,
    kwargs)` returns (result, args_after, kwargs_after), or None for a function it doesn't handle."""
    return _CALLER.set(caller)


def reset_remote_caller(token: contextvars.Token) -> None:
    _CALLER.reset(token)


# --- how many lines of the student's own code a call ran ----------------------------------------


class LineCount:
    """What :func:`count_lines` counted: `lines`, the lines of the notebook's own code run."""

    def __init__(self) -> None:
        self.lines = 0


_LINES: contextvars.ContextVar[Callable[..., Any] | None] = contextvars.ContextVar(
    "coursekit_lines", default=None
)

STUDENT_MODULE = "__main__"  # the module name of a notebook's cells (IPython's user namespace)
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))  # coursekit: the grader, not the student


@contextlib.contextmanager
def count_lines() -> Iterator[LineCount]:
    """Count the lines of the student's own code (the notebook's ``__main__``) that the calls
    inside this block execute. A Python loop over n items runs at least n lines; vectorised code
    runs a number that does not grow with the data (library code is not counted). So "is it
    vectorised?" is a count, not a timing::

        with count_lines() as small:
            conv2d_fast(x_small, w)
        with count_lines() as big:
            conv2d_fast(x_big, w)          # 100 times the output positions
        big.lines - small.lines            # 0 for im2col, >= 100 x ... for a loop per position

    In the grader each call into the student's sandbox is counted there and the count comes
    back with the result."""
    count = LineCount()
    remote = _LINES.get()
    if remote is not None:
        with remote(count):
            yield count
        return
    with local_line_count(count):
        yield count


@contextlib.contextmanager
def local_line_count(count: LineCount) -> Iterator[None]:
    """Add to `count` the lines that frames of module ``__main__`` execute inside this block, in
    this thread (sys.settrace; any tracer already set, such as coverage's, is restored after)."""
    import sys

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            count.lines += 1
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        mine = frame.f_globals.get("__name__") == STUDENT_MODULE
        if mine and not frame.f_code.co_filename.startswith(_PACKAGE_DIR):  # not the runner
            return local
        return None  # library code: not traced line by line (and no cost)

    old = sys.gettrace()
    sys.settrace(calls)
    try:
        yield
    finally:
        sys.settrace(old)


def set_remote_line_counter(counter: Callable[[LineCount], Any] | None) -> contextvars.Token:
    """Used by the grader: route count_lines() to the sandbox (`counter(count)` is a context
    manager, e.g. ``Kernel.counting_lines``). Undo with :func:`reset_remote_line_counter`."""
    return _LINES.set(counter)


def reset_remote_line_counter(token: contextvars.Token) -> None:
    _LINES.reset(token)


# --- friendly failures in the student's kernel --------------------------------------------------


def _friendly_traceback(shell, etype, value, tb, tb_offset=None):
    """IPython custom-exception handler: a failed check or an unwritten exercise is one line,
    not a traceback wall. The cell still ends in error (so Run All, nbgrader's Validate and
    `coursekit check` see the failure)."""
    if issubclass(etype, NotImplementedError):
        name = "this exercise"
        while tb is not None:  # the innermost frame is the student's unwritten function
            name = f"`{tb.tb_frame.f_code.co_name}`"
            tb = tb.tb_next
        text = (
            str(value)
            or "replace `raise NotImplementedError()` with your code, run that cell, then this one"
        )
        lines = [f"✘ {name} is not written yet: {text}"]
    else:
        lines = [f"✘ {value}"]
    shell._showtraceback(etype, value, lines)  # an "error" output whose traceback is these lines
    return lines


def install_friendly_errors() -> bool:
    """In a live Jupyter kernel, show CheckFailed and NotImplementedError as one friendly line.
    Called when this module is imported (every test cell imports it); a no-op elsewhere."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    ip = get_ipython()
    if ip is None or type(ip).__name__ != "ZMQInteractiveShell":
        return False
    ip.set_custom_exc((CheckFailed, NotImplementedError), _friendly_traceback)
    return True


install_friendly_errors()
