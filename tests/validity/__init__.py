"""The validity table: for every exercise, its classic mistakes and its legitimate alternatives,
as data. One module per notebook (``nbNN_<name>.py``) defines ``CASES``, a list of :class:`Case`.

A *mistake* is an answer that must lose the exercise's points, from the first check that fails,
with a message containing every one of `words` (case-insensitive). An *alternative* is a
different but correct answer that must keep full marks. ``tests/test_validity.py`` runs every
case through the one test-cell runner against the solution's namespace, and a sample through the
real sandboxed grader.

    CASES = [
        mistake("test_conv2d_naive", "kernel flipped", SRC_FLIPPED, "flipped"),
        mistake("test_pool2d", "stride ignored", SRC, "stride", hidden=True),
        alternative("test_pool2d", "two loops", SRC_LOOPS),
    ]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Case", "mistake", "alternative"]


@dataclass(frozen=True)
class Case:
    test: str  # the test cell's grade_id, e.g. "test_conv2d_fast"
    what: str  # the mistake or the alternative, in a few words (unique per test)
    answers: Mapping[str, str]  # {answer cell grade_id: source} put in place of the solution's
    passes: bool = False  # True: a legitimate alternative (full marks)
    words: tuple[str, ...] = ()  # a mistake's message must contain each of these
    hidden: bool = False  # a mistake the visible checks let through (only hidden tests catch it)

    @property
    def id(self) -> str:
        return f"{self.test}: {self.what}"


def _answer_of(test: str) -> str:
    return "answer_" + test.removeprefix("test_")


def mistake(
    test: str,
    what: str,
    source: str,
    *words: str,
    answer: str | None = None,
    hidden: bool = False,
    extra: Mapping[str, str] | None = None,
) -> Case:
    """A wrong answer for `test`'s exercise: it must fail with a message containing `words`."""
    if not words:
        raise ValueError(f"{test}: {what}: a mistake needs the words its message must contain")
    return Case(
        test,
        what,
        {answer or _answer_of(test): source, **(extra or {})},
        False,
        tuple(words),
        hidden,
    )


def alternative(
    test: str,
    what: str,
    source: str,
    *,
    answer: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> Case:
    """A different correct answer for `test`'s exercise: it must get full marks."""
    return Case(test, what, {answer or _answer_of(test): source, **(extra or {})}, True)
