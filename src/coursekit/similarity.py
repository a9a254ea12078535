"""Similar submissions: pairs of students whose answer cells are unusually alike.

Evidence for a human to read, never a penalty: two students may share an idea from the lecture,
a study group, or the one obvious way to write three lines. The report shows the two answers side
by side so an instructor can judge.

How (the fingerprints are copydetect's, a MOSS-style winnowing implementation):

- only the answer cells (nbgrader ``solution`` cells) are compared, exercise by exercise (the
  cell ``answer_pool2d`` of one student with the same cell of the other);
- copydetect tokenises each cell with pygments and forgets names, strings, comments and
  whitespace (renaming variables or re-indenting changes nothing), then keeps winnowed hashes of
  every ``K``-character run of what is left;
- discounted as boilerplate: every k-gram of the released starter code (docstring, stub) and of
  the instructor's solution — a student who wrote the expected answer shares nothing with the
  class; and, as MOSS's ``-m``, every fingerprint found in more than ``common`` submissions of
  the exercise (what many wrote is no evidence that two copied);
- a pair is reported when what is left in common is at least ``min_overlap`` tokens and at least
  ``min_share`` of one student's own code. Pairs are ranked by the amount in common.

    >>> pairs = find_similar(submissions, boilerplate_for("04_convolution_by_hand", root))
    >>> pairs[0].a, pairs[0].b, pairs[0].overlap    # ('s17', 's31', 703): tokens in common
"""

from __future__ import annotations

import io
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .grading.results import SubmissionResult
from .notebooks import nbgrader_meta, release_notebook, source_notebook

__all__ = [
    "K",
    "GUARANTEE",
    "SimilarPair",
    "PairCell",
    "answer_cells",
    "boilerplate_for",
    "find_similar",
]

K = 25  # copydetect's noise threshold: runs of filtered code shorter than this are not seen
GUARANTEE = 30  # a run at least this long is always seen (winnowing window GUARANTEE - K + 1)
MIN_OVERLAP = 120  # tokens (characters of filtered code) in common before a pair is reported
MIN_SHARE = 0.5  # ...and at least this share of one student's own (non-boilerplate) code
MIN_COMMON = 3  # a fingerprint in more than max(MIN_COMMON, 10 % of the class) is common
PARALLEL_FROM = 400  # answers to tokenise before it is worth starting processes


@dataclass
class PairCell:
    """One exercise of a pair: both answers as lines, with the lines found in the other's."""

    grade_id: str
    a: list[tuple[str, bool]]  # (line, matched)
    b: list[tuple[str, bool]]


@dataclass
class SimilarPair:
    assignment: str
    a: str  # student ids, a < b
    b: str
    overlap: int  # tokens (characters of filtered code) the two have in common, after discounts
    share: tuple[float, float]  # the part of a's (b's) own code found in the other's
    cells: list[PairCell] = field(default_factory=list)  # the exercises with matching lines

    @property
    def similarity(self) -> float:
        return max(self.share)


def answer_cells(sub: SubmissionResult) -> dict[str, str]:
    """{answer grade_id: source} of a graded submission (the nbgrader solution cells only)."""
    out: dict[str, str] = {}
    for cell in sub.cells:
        if cell.kind == "code" and cell.nbgrader.get("solution"):
            gid = cell.nbgrader.get("grade_id")
            if isinstance(gid, str) and gid not in out:
                out[gid] = cell.source
    return out


def boilerplate_for(assignment: str, root: Path | None = None) -> dict[str, list[str]]:
    """{answer grade_id: [released starter code, instructor's solution]} of an assignment."""
    out: dict[str, list[str]] = defaultdict(list)
    for nb in (release_notebook(assignment, root), source_notebook(assignment, root)):
        for c in nb.cells:
            meta = nbgrader_meta(c)
            if c.cell_type == "code" and meta.get("solution") and meta.get("grade_id"):
                out[meta["grade_id"]].append(c.source)
    return dict(out)


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _filter(text: str) -> str:
    """copydetect's tokenise-and-filter of one answer: the filtered code."""
    from copydetect.utils import filter_code

    return filter_code(text, "answer.py", "python")[0]


def _filter_all(texts: list[str], workers: int | None, cache: Path | None) -> dict[str, str]:
    """{text: filtered code} for every text: from `cache` (a JSON file of earlier runs) when
    there, else tokenised — in `workers` processes when there are many (pygments' tokeniser is
    most of the cost of the whole report)."""
    import hashlib
    import json

    import copydetect
    import pygments

    stamp = f"copydetect {copydetect.__version__}, pygments {pygments.__version__}"
    known: dict = {}
    if cache is not None:
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            known = data["filtered"] if data.get("stamp") == stamp else {}
        except (OSError, ValueError, KeyError, TypeError):
            known = {}
    keys = {t: hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts}
    todo = [t for t in texts if keys[t] not in known]
    if workers is None:  # starting processes pays off with cores to spare, not on two
        cores = os.cpu_count() or 1
        workers = min(cores, 8) if cores >= 4 else 1
    if len(todo) >= PARALLEL_FROM and workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
            done = list(ex.map(_filter, todo, chunksize=max(1, len(todo) // (4 * workers))))
    else:
        done = [_filter(t) for t in todo]
    known.update({keys[t]: f for t, f in zip(todo, done)})
    if cache is not None and todo:
        cache.parent.mkdir(parents=True, exist_ok=True)
        keep = {k: known[k] for k in set(keys.values())}  # only what this class still has
        tmp = cache.with_name(cache.name + ".tmp")
        tmp.write_text(json.dumps({"stamp": stamp, "filtered": keep}), encoding="utf-8")
        os.replace(tmp, cache)
    return {t: known[keys[t]] for t in texts}


def _fingerprint(text: str, filtered: str, window: int, *, offsets: bool = False):
    """copydetect's CodeFingerprint of `text`, from its filtered code; with `offsets` also the
    map back to `text` that copydetect's filter makes (for highlighting the matching lines)."""
    import numpy as np
    from copydetect import CodeFingerprint
    from copydetect.utils import filter_code

    where = np.zeros((0, 2), dtype=np.int64)
    if offsets:  # the same filtered code, and where each piece of it came from
        filtered, where = filter_code(text, "answer.py", "python")
    fp = CodeFingerprint("answer.py", K, window, filter=False, fp=io.StringIO(filtered))
    fp.raw_code, fp.offsets = text, where
    return fp


def _discount(fp, drop: set) -> None:
    """Forget the fingerprints in `drop` (boilerplate, common code) from a CodeFingerprint."""
    from copydetect.utils import get_token_coverage

    gone = fp.hashes & drop
    if not gone:
        return
    for h in gone:
        del fp.hash_idx[h]
    fp.hashes = fp.hashes - gone
    fp.token_coverage = get_token_coverage(fp.hash_idx, fp.k, len(fp.filtered_code))


class _Exercise:
    """One answer cell across the class: each distinct text fingerprinted once."""

    def __init__(self, grade_id: str, boilerplate: list[str]) -> None:
        self.grade_id = grade_id
        self.skip = {_norm(b) for b in boilerplate}
        self.boilerplate = boilerplate
        self.boiler: set = set()
        self.prints: dict[str, object] = {}  # text → CodeFingerprint
        self.owners: dict[str, list[int]] = defaultdict(list)  # text → submissions
        self.common: set = set()

    def wants(self, text: str) -> bool:
        """False for the starter code or the solution, untouched: nothing of the student's."""
        return _norm(text) not in self.skip

    def add(self, text: str, who: int) -> None:
        if self.wants(text):
            self.owners[text].append(who)

    def fingerprint(self, filtered: dict[str, tuple]) -> None:
        for b in self.boilerplate:  # every k-gram of it (window 1), as copydetect does
            self.boiler |= _fingerprint(b, filtered[b], 1).hashes
        for text in self.owners:
            fp = _fingerprint(text, filtered[text], GUARANTEE - K + 1)
            _discount(fp, self.boiler)
            self.prints[text] = fp

    def discount_common(self, cut: int) -> None:
        freq: Counter = Counter()
        for text, fp in self.prints.items():
            for h in fp.hashes:
                freq[h] += len(self.owners[text])
        self.common = {h for h, n in freq.items() if n > cut}
        for fp in self.prints.values():
            _discount(fp, self.common)

    def located(self, text: str, filtered: str):
        """The fingerprint of `text` with its map back to the text, discounted alike."""
        fp = _fingerprint(text, filtered, GUARANTEE - K + 1, offsets=True)
        _discount(fp, self.boiler | self.common)
        return fp

    def shared(self) -> Counter:
        """{(i, j): fingerprints in common} over the submissions that share any."""
        index: dict[object, list[str]] = defaultdict(list)
        for text, fp in self.prints.items():
            for h in fp.hashes:
                index[h].append(text)
        counts: Counter = Counter()
        for texts in index.values():
            who = sorted({w for t in texts for w in self.owners[t]})
            for x in range(len(who)):
                for y in range(x + 1, len(who)):
                    counts[(who[x], who[y])] += 1
        return counts


def _lines(text: str, slices) -> list[tuple[str, bool]]:
    """The lines of `text`, each with whether a copied slice covers a non-blank part of it."""
    spans = [(int(s), int(e)) for s, e in zip(*slices)] if len(slices) and len(slices[0]) else []
    out, pos = [], 0
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        hit = any(
            s < end and e > start and line[max(s - start, 0) : e - start].strip() for s, e in spans
        )
        out.append((line, hit))
        pos = end + 1
    return out


def find_similar(
    submissions: Iterable[SubmissionResult],
    boilerplate: Mapping[str, list[str]] | None = None,
    *,
    top: int = 10,
    min_overlap: int = MIN_OVERLAP,
    min_share: float = MIN_SHARE,
    common: int | None = None,
    workers: int | None = None,
    cache: Path | None = None,
) -> list[SimilarPair]:
    """The most similar pairs of one assignment's `submissions` (at most `top`), best first.

    boilerplate: {answer grade_id: [sources]} discounted from every answer (the starter code and
        the solution: :func:`boilerplate_for`).
    common: a fingerprint in more than this many submissions of an exercise is discounted
        (default: max(3, 10 % of the submissions)).
    Only pairs with at least `min_overlap` tokens in common that make up at least `min_share`
    of one of the two students' own code are returned.
    workers: processes that tokenise when there are many answers (default: the cores, at most
        8, from 4 cores up; one process below).
    cache: a JSON file keeping the tokenised answers for the next run (e.g. after a re-grade).
    """
    from copydetect import compare_files

    subs = list(submissions)
    if len(subs) < 2:
        return []
    assignment = subs[0].assignment
    answers = [answer_cells(s) for s in subs]
    gids = sorted({g for a in answers for g in a})
    exercises = {g: _Exercise(g, list((boilerplate or {}).get(g, []))) for g in gids}
    for who, cells in enumerate(answers):
        for gid, text in cells.items():
            exercises[gid].add(text, who)
    texts = {t for ex in exercises.values() for t in [*ex.owners, *ex.boilerplate]}
    filtered = _filter_all(sorted(texts), workers, cache)
    for ex in exercises.values():
        ex.fingerprint(filtered)
    cut = common if common is not None else max(MIN_COMMON, math.ceil(0.1 * len(subs)))
    shared: Counter = Counter()
    for ex in exercises.values():
        ex.discount_common(cut)
        shared.update(ex.shared())

    pairs: list[SimilarPair] = []
    for (i, j), _n in shared.most_common(max(5 * top, 20)):
        own, common_tokens, gids_in_common = [0.0, 0.0], [0.0, 0.0], []
        for gid, ex in exercises.items():
            ta, tb = answers[i].get(gid), answers[j].get(gid)
            fa = ex.prints.get(ta) if ta is not None else None
            fb = ex.prints.get(tb) if tb is not None else None
            own[0] += fa.token_coverage if fa is not None else 0
            own[1] += fb.token_coverage if fb is not None else 0
            if fa is None or fb is None:
                continue
            n, (_, sim_b), _ = compare_files(fa, fb)
            if n:
                common_tokens[0] += float(n)
                common_tokens[1] += float(sim_b) * float(fb.token_coverage)
                gids_in_common.append(gid)
        share = tuple(min(1.0, c / d) if d else 0.0 for c, d in zip(common_tokens, own))
        overlap = int(round(min(common_tokens)))
        if overlap >= min_overlap and max(share) >= min_share:
            a, b = (i, j) if subs[i].student_id < subs[j].student_id else (j, i)
            share = share if a == i else share[::-1]
            pairs.append(
                SimilarPair(
                    assignment,
                    subs[a].student_id,
                    subs[b].student_id,
                    overlap,
                    (float(share[0]), float(share[1])),
                    [
                        PairCell(g, [(answers[a][g], False)], [(answers[b][g], False)])
                        for g in gids_in_common
                    ],
                )
            )
    pairs.sort(key=lambda p: (-p.overlap, -p.similarity, p.a, p.b))
    for p in pairs[:top]:  # the matching lines, in the texts as the students wrote them
        for c in p.cells:
            ex, ta, tb = exercises[c.grade_id], c.a[0][0], c.b[0][0]
            _, _, (sa, sb) = compare_files(
                ex.located(ta, filtered[ta]), ex.located(tb, filtered[tb])
            )
            c.a, c.b = _lines(ta, sa), _lines(tb, sb)
    return pairs[:top]
