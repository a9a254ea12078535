"""The one test-cell runner: a test cell's source executed against a namespace.

The grader runs every test cell through :func:`run_test_cell` with the student's names as
proxies (verdict.py); the test suite runs the same function with real objects in its own
process (tests/gradekit.py, tests/test_validity.py). The visible part runs first and its
output is kept; the hidden part (``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS``) runs in
:func:`coursekit.checks.hidden_mode`, its output discarded.

    >>> run = run_test_cell(source, {"conv2d_naive": my_conv}, name="test_conv2d_naive")
    >>> run.passed, run.part, run.error        # (False, "hidden", CheckFailed("…"))
"""

from __future__ import annotations

import builtins
import contextlib
import io
from dataclasses import dataclass

from ..checks import hidden_mode
from ..notebooks import split_hidden

__all__ = ["CellRun", "run_test_cell"]


@dataclass
class CellRun:
    """What running one test cell gave."""

    output: str  # what the visible part printed
    part: str = ""  # where it stopped: "visible" or "hidden" ("" when it passed)
    error: Exception | None = None  # what it raised there

    @property
    def passed(self) -> bool:
        return self.error is None

    def reraise(self) -> str:
        """The output if the cell passed; otherwise raise what it raised."""
        if self.error is not None:
            raise self.error
        return self.output


def run_test_cell(
    source: str, ns: dict, *, name: str = "test", hidden: bool = True, visible: bool = True
) -> CellRun:
    """Execute the test cell `source` in `ns` (modified in place): the visible part (unless
    `visible` is false: the grader runs it earlier), then, when `hidden` is true, the hidden part
    in hidden mode. Never raises an Exception from the cell: it comes back as ``CellRun.error``
    with the part that raised it. (KeyboardInterrupt and SystemExit pass through.)"""
    visible_src, hidden_src = split_hidden(source)
    ns.setdefault("__builtins__", builtins)
    ns.setdefault("__name__", "__coursekit_test__")
    out = io.StringIO()
    part = "visible"
    try:
        if visible:
            code = compile(visible_src, f"<test {name}>", "exec")
            with contextlib.redirect_stdout(out):
                exec(code, ns)  # trusted: the instructor's test code
        if hidden and hidden_src.strip():
            part = "hidden"
            code = compile(hidden_src, f"<hidden tests {name}>", "exec")
            with contextlib.redirect_stdout(io.StringIO()), hidden_mode():
                exec(code, ns)
    except Exception as exc:  # the cell's verdict, whatever it is
        return CellRun(out.getvalue(), part, exc)
    return CellRun(out.getvalue())
