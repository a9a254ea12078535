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
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

__all__ = [
    "CheckFailed",
    "check_close",
    "check_equal",
    "check_shape",
    "check_true",
    "call_keeping_arguments",
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
    shape_hints: Mapping[tuple[int, ...], str] | None = None,
) -> float:
    """Check that `actual` equals `expected` within tolerance; return the relative error.

    hints: known wrong answers, {"description of the mistake": wrong_result}. When the student's
        result matches one (same shape, close values), the message names that mistake.
    shape_hints: {wrong_shape: "what that shape usually means"} for wrong-shape results.
    """
    a = to_numpy(actual)
    e = to_numpy(expected)
    if a.shape != e.shape:
        hint = ""
        for shape, meaning in (shape_hints or {}).items():
            if tuple(a.shape) == tuple(shape):
                hint = f" {meaning}"
        _fail(
            f"{name}: the output has the wrong shape.{hint}",
            f"Expected {e.shape}, got {a.shape}.",
        )
    if a.size and not np.all(np.isfinite(a)) and np.all(np.isfinite(e)):
        _fail(f"{name}: the output contains NaN or infinity.")
    if np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        err = rel_error(a, e) if a.size else 0.0
        _say(f"{name}: ok (rel_error = {err:.1e})")
        return err
    for mistake, wrong in (hints or {}).items():
        w = to_numpy(wrong)
        if w.shape == a.shape and np.allclose(a, w, rtol=max(rtol, 1e-6), atol=max(atol, 1e-8)):
            _fail(f"{name}: your result matches a known mistake: {mistake}.")
    err = rel_error(a, e)
    diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
    where = np.unravel_index(int(np.nanargmax(diff)), diff.shape) if diff.size else ()
    _fail(
        f"{name}: the values are wrong (rel_error = {err:.1e}, should be below {rtol:.0e}).",
        f"Largest difference {float(diff[where]):.3g} at index {tuple(int(i) for i in where)}.",
    )
    return err  # pragma: no cover - _fail always raises


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


class Trace:
    """What a traced call used: the torch functions it called and the Python modules it entered."""

    def __init__(self) -> None:
        self.ops: set[str] = set()
        self.modules: set[str] = set()

    def merge(self, ops: Any, modules: Any) -> None:
        self.ops.update(str(o) for o in ops)
        self.modules.update(str(m) for m in modules)


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
        elif event == "c_call":
            mod = getattr(arg, "__module__", None) or ""
            if mod:
                trace.modules.add(f"{mod}.{getattr(arg, '__name__', '')}")

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
        else:
            yield
    finally:
        sys.setprofile(old)


def forbid_ops(
    trace: Trace,
    *,
    name: str,
    ops: tuple[str, ...] = (),
    modules: tuple[str, ...] = (),
    why: str = "",
) -> None:
    """Fail if the traced call used any of `ops` (fragments of torch function names) or `modules`
    (prefixes of the Python modules it entered, e.g. "torch.nn.functional")."""
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
