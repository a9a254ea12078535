"""An assignment as the grader needs it, read once: the released notebook and, per test cell,
its points, the student's visible text and the full test (visible part and hidden tests).

    >>> a = Assignment.load("04_convolution_by_hand", root)
    >>> [t.grade_id for t in a.tests][:2]          # ['test_cross_correlate2d', 'test_convolve2d']
    >>> a.test("test_pool2d").source               # the full cell, from solutions/
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..notebooks import nbgrader_meta, release_path, source_path

__all__ = ["TestSpec", "Assignment", "cell_text"]


def cell_text(source: object) -> str:
    """A cell's source as one string (nbformat allows a list of lines)."""
    if isinstance(source, list):
        return "".join(str(s) for s in source)
    return source if isinstance(source, str) else ""


@dataclass(frozen=True)
class TestSpec:
    """One graded test cell."""

    grade_id: str
    points: float
    source: str  # the full cell: visible checks and hidden tests (from solutions/)
    released: str  # what the student's notebook shows (from notebooks/)
    meta: dict = field(default_factory=dict)  # the released cell's nbgrader metadata
    tags: tuple[str, ...] = ()  # the source cell's tags, e.g. "numpy-only"

    @property
    def numpy_only(self) -> bool:
        """Judged in a kernel where torch and scipy can't be imported (tag `numpy-only`)."""
        return "numpy-only" in self.tags


@dataclass(frozen=True)
class Assignment:
    name: str
    release: dict  # the released notebook, as JSON
    tests: tuple[TestSpec, ...]
    meta: dict = field(default_factory=dict)  # grade_id → nbgrader metadata, every released cell
    fingerprint: str = ""  # SHA-256 of the released and the source notebook's bytes
    skip_show_only: bool = True  # grade without the cells tagged show-only (pictures, demos)

    def test(self, grade_id: str) -> TestSpec:
        for t in self.tests:
            if t.grade_id == grade_id:
                return t
        raise KeyError(grade_id)

    @cached_property
    def show_only_names(self) -> frozenset[str]:
        """What the release's show-only cells bind or change (parsed once per assignment)."""
        from .release import show_only_names

        return frozenset(show_only_names(self.release))

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.tests)

    @classmethod
    def load(cls, name: str, root: Path, *, skip_show_only: bool = True) -> Assignment:
        release_raw = release_path(name, root).read_bytes()
        source_raw = source_path(name, root).read_bytes()
        release, source = json.loads(release_raw), json.loads(source_raw)
        full, tags = {}, {}
        for c in source.get("cells", []):
            m = nbgrader_meta(c)
            if m.get("grade") and not m.get("solution"):
                full[m.get("grade_id")] = cell_text(c.get("source"))
                found = c.get("metadata", {}).get("tags", [])
                tags[m.get("grade_id")] = tuple(str(t) for t in found if isinstance(t, str))
        tests, meta = [], {}
        for c in release.get("cells", []):
            m = nbgrader_meta(c)
            if isinstance(m.get("grade_id"), str):
                meta.setdefault(m["grade_id"], m)
            if c.get("cell_type") == "code" and m.get("grade") and not m.get("solution"):
                text = cell_text(c.get("source"))
                tests.append(
                    TestSpec(
                        m["grade_id"],
                        float(m.get("points") or 0),
                        full.get(m["grade_id"], text),
                        text,
                        m,
                        tags.get(m["grade_id"], ()),
                    )
                )
        digest = hashlib.sha256(release_raw + b"\0" + source_raw).hexdigest()
        return cls(name, release, tuple(tests), meta, digest, skip_show_only)
