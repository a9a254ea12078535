"""The class report as one self-contained HTML page: figures drawn with matplotlib (Agg, no
pyplot state) and embedded as base64 PNG, inline CSS, no JavaScript, no external resource.

Everything that comes from a submission (student ids, messages, flags, code) is HTML-escaped:
nothing a student writes can run in the instructor's browser.
"""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict

from .grading.results import STATUSES
from .report import AssignmentSummary, ClassReport, ExerciseCounts, MistakeGroup

__all__ = ["render", "score_figure", "status_figure", "time_figure"]

COLORS = {
    "passed": "#2e7d32",
    "failed": "#c62828",
    "error": "#ef6c00",
    "timeout": "#6a1b9a",
    "missing": "#9e9e9e",
}
MAX_LOOK = 500  # rows of the needs-a-look table on the page (all of them are in the CSV)

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1180px; margin: 0 auto; padding: 1.2em 1.5em 4em; }
h1 { margin-bottom: .1em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: .2em;
     margin-top: 2em; } h3 { margin-top: 1.5em; } h4 { margin: 1em 0 .3em; font-family: monospace; }
.meta { color: #666; margin-top: 0; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: .5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 90%; }
ol.mistakes { padding-left: 1.2em; } ol.mistakes li { margin: .25em 0; }
.share { display: inline-block; min-width: 3.6em; font-weight: 600; }
.status { font-size: 85%; padding: 0 .35em; border-radius: 3px; color: #fff; }
.passed { background: #2e7d32; } .failed { background: #c62828; } .error { background: #ef6c00; }
.timeout { background: #6a1b9a; } .missing { background: #9e9e9e; }
details summary { cursor: pointer; color: #555; font-size: 90%; }
.ids { font-family: monospace; font-size: 90%; }
.caveat { background: #fff8e1; border-left: 4px solid #ffb300; padding: .6em .9em; }
.side { width: 100%; table-layout: fixed; } .side td { padding: 0; }
.side pre { margin: 0; padding: .4em .6em; font-size: 12.5px; line-height: 1.35;
            overflow-x: auto; white-space: pre; }
.side mark { background: #ffe082; display: inline-block; min-width: 100%; }
ul.reasons { margin: 0; padding-left: 1.1em; }
"""


# --- figures ------------------------------------------------------------------------------------


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot()


def score_figure(s: AssignmentSummary) -> str:
    """The score histogram of one assignment (base64 PNG), the bins of score_histogram.csv."""
    fig, ax = _figure(4.6, 3.0)
    bins = s.histogram()
    ax.bar(
        [a for a, _, _ in bins],
        [n for _, _, n in bins],
        width=[b - a for a, b, _ in bins],
        align="edge",
        color="#1565c0",
        edgecolor="white",
    )
    if s.scores:
        ax.axvline(s.mean, color="#c62828", lw=1.5, label=f"mean {s.mean:.3g}")
        ax.axvline(s.median, color="#222", lw=1.5, ls="--", label=f"median {s.median:.3g}")
        ax.legend(frameon=False, fontsize=8)
    ax.set_xlim(min(0.0, bins[0][0]) if bins else 0, bins[-1][1] if bins else 1)
    ax.set_xlabel(f"score (of {s.max_score:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{s.graded} graded", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def status_figure(rows: list[ExerciseCounts]) -> str:
    """One stacked bar per exercise: the share of each status (base64 PNG)."""
    fig, ax = _figure(6.4, max(3.0, 0.42 * len(rows) + 0.9))
    names = [r.grade_id for r in rows][::-1]
    left = [0.0] * len(rows)
    for status in STATUSES:
        widths = [(r.counts.get(status, 0) / r.total * 100) if r.total else 0 for r in rows[::-1]]
        ax.barh(names, widths, left=left, color=COLORS[status], label=status, height=0.7)
        for y, (x0, w) in enumerate(zip(left, widths)):
            if w >= 8:
                ax.text(
                    x0 + w / 2, y, f"{w:.0f}%", ha="center", va="center", color="white", fontsize=8
                )
        left = [a + b for a, b in zip(left, widths)]
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of submissions")
    ax.legend(ncols=5, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def time_figure(seconds: list[float], title: str) -> str:
    """The distribution of grading time per notebook (base64 PNG)."""
    import statistics

    fig, ax = _figure(5.6, 2.9)
    ax.hist(seconds, bins=min(30, max(5, len(seconds) // 3)), color="#00838f", edgecolor="white")
    if seconds:
        med = statistics.median(seconds)
        ax.axvline(med, color="#222", lw=1.5, ls="--", label=f"median {med:.1f} s")
        ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("seconds per notebook")
    ax.set_ylabel("notebooks")
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


# --- the page -----------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _img(data: str, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _summary_table(s: AssignmentSummary) -> str:
    cells = [
        ("graded", s.graded),
        ("missing", s.missing),
        ("late", s.late),
        ("flagged", s.flagged),
        ("mean", f"{s.mean:.3g} / {s.max_score:g}"),
        ("median", f"{s.median:.3g} / {s.max_score:g}"),
    ]
    head = "".join(f"<th>{k}</th>" for k, _ in cells)
    row = "".join(f'<td class="n" data-k="{k}">{_e(v)}</td>' for k, v in cells)
    return f'<table class="stats" data-assignment="{_e(s.assignment)}"><tr>{head}</tr><tr>{row}</tr></table>'


def _status_table(rows: list[ExerciseCounts]) -> str:
    head = "".join(f'<th><span class="status {k}">{k}</span></th>' for k in STATUSES)
    out = [f"<table class='exercises'><tr><th>exercise</th><th>points</th>{head}</tr>"]
    for r in rows:
        tds = "".join(
            f'<td class="n" data-status="{k}">{r.counts.get(k, 0)}</td>' for k in STATUSES
        )
        out.append(
            f'<tr data-grade-id="{_e(r.grade_id)}"><td><code>{_e(r.grade_id)}</code></td>'
            f'<td class="n">{r.max_score:g}</td>{tds}</tr>'
        )
    out.append("</table>")
    return "".join(out)


def _mistakes(groups: list[MistakeGroup]) -> str:
    if not groups:
        return "<p>Every exercise passed for every student.</p>"
    by_ex: dict[str, list[MistakeGroup]] = defaultdict(list)
    for m in groups:
        by_ex[m.grade_id].append(m)
    out = []
    for gid, ms in by_ex.items():
        ms = sorted(ms, key=lambda m: -len(m.students))
        out.append(f"<h4>{_e(gid)}</h4><ol class='mistakes'>")
        for m in ms:
            out.append(
                f'<li data-grade-id="{_e(gid)}" data-students="{len(m.students)}">'
                f'<span class="share">{_pct(m.share)}</span> '
                f'<span class="status {_e(m.status)}">{_e(m.status)}</span> '
                f"<b>{_e(m.mistake)}</b> — {len(m.students)} student"
                f"{'s' if len(m.students) != 1 else ''}"
                f"<details><summary>who, and one message in full</summary>"
                f'<div class="ids">{_e(", ".join(m.students))}</div>'
                f"<div><i>{_e(m.example)}</i></div></details></li>"
            )
        out.append("</ol>")
    return "".join(out)


def _look(report: ClassReport) -> str:
    rows = report.look
    if not rows:
        return "<p>No one: nothing flagged, no timeouts, no kernel died, no zero score.</p>"
    out = [
        f"<p>{len(rows)} submission{'s' if len(rows) != 1 else ''}: flagged (a locked cell "
        "changed: graded from the original), not graded, timeouts, kernels that died, zero "
        "scores.</p>",
        "<table class='look'><tr><th>student</th><th>assignment</th><th>score</th>"
        "<th>why</th><th></th></tr>",
    ]
    for r in rows[:MAX_LOOK]:
        link = f'<a href="{_e(r.feedback)}">feedback</a>' if r.feedback else ""
        reasons = "".join(f"<li>{_e(x)}</li>" for x in r.reasons)
        out.append(
            f'<tr data-student="{_e(r.student_id)}"><td><code>{_e(r.student_id)}</code></td>'
            f"<td>{_e(r.assignment)}</td><td class='n'>{r.score:g} / {r.max_score:g}</td>"
            f"<td><ul class='reasons'>{reasons}</ul></td><td>{link}</td></tr>"
        )
    out.append("</table>")
    if len(rows) > MAX_LOOK:
        out.append(f"<p>… and {len(rows) - MAX_LOOK} more in report/needs_a_look.csv.</p>")
    return "".join(out)


def _code(lines: list[tuple[str, bool]]) -> str:
    return "\n".join(f"<mark>{_e(t) or ' '}</mark>" if hit else _e(t) for t, hit in lines)


def _similar(report: ClassReport) -> str:
    out = [
        "<p class='caveat'><b>Evidence for a human to read, never a penalty.</b> These pairs "
        "have more answer code in common than the rest of the class, after leaving out the "
        "released starter code, the instructor's solution and what many students wrote alike. "
        "Students may share an idea from the lecture, a study group, or the one obvious way "
        "to write a few lines; read both answers before you conclude anything.</p>"
    ]
    if not report.similar:
        out.append("<p>No pair of submissions stands out.</p>")
        return "".join(out)
    for n, p in enumerate(report.similar, 1):
        out.append(
            f'<h3 class="pair" data-a="{_e(p.a)}" data-b="{_e(p.b)}">{n}. <code>{_e(p.a)}</code>'
            f" and <code>{_e(p.b)}</code> — {_e(p.assignment)}</h3>"
            f"<p>{p.overlap} tokens in common: {_pct(p.share[0])} of {_e(p.a)}'s own code, "
            f"{_pct(p.share[1])} of {_e(p.b)}'s. Matching lines are highlighted.</p>"
        )
        for c in p.cells:
            out.append(
                f"<h4>{_e(c.grade_id)}</h4><table class='side'><tr><th>{_e(p.a)}</th>"
                f"<th>{_e(p.b)}</th></tr><tr><td><pre>{_code(c.a)}</pre></td>"
                f"<td><pre>{_code(c.b)}</pre></td></tr></table>"
            )
    return "".join(out)


def render(report: ClassReport) -> str:
    """The whole page."""
    by_a: dict[str, list[ExerciseCounts]] = defaultdict(list)
    for e in report.exercises:
        by_a[e.assignment].append(e)
    mistakes: dict[str, list[MistakeGroup]] = defaultdict(list)
    for m in report.mistakes:
        mistakes[m.assignment].append(m)
    times: dict[str, list[float]] = defaultdict(list)
    for _, a, t in report.times:
        times[a].append(t)
    n_subs = sum(s.graded for s in report.summaries)
    total_s = sum(t for _, _, t in report.times)

    nav = "".join(f'<a href="#{_e(s.assignment)}">{_e(s.assignment)}</a>' for s in report.summaries)
    nav += '<a href="#look">who needs a look</a><a href="#similar">similar submissions</a>'
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<link rel='icon' href='data:,'>",
        "<title>Class report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Class report</h1>",
        f"<p class='meta'>{n_subs} submission{'s' if n_subs != 1 else ''} of "
        f"{len(report.summaries)} assignment{'s' if len(report.summaries) != 1 else ''}, "
        f"graded in {total_s / 60:.1f} min of notebook time; written {_e(report.generated)} "
        f"from <code>{_e(report.out)}</code>. The numbers of every figure and table are in "
        "<code>report/*.csv</code> beside this page.</p>",
        f"<nav>{nav}</nav>",
    ]
    for note in report.notes:
        parts.append(f"<p class='caveat'>{_e(note)}</p>")
    for s in report.summaries:
        rows = by_a[s.assignment]
        ts = times[s.assignment]
        parts += [
            f'<section id="{_e(s.assignment)}"><h2>{_e(s.assignment)}</h2>',
            _summary_table(s),
            "<div class='figs'>",
            _img(score_figure(s), f"score distribution of {s.assignment}", "scores"),
            _img(status_figure(rows), f"exercise results of {s.assignment}", "each exercise")
            if rows
            else "",
            "</div>",
            _status_table(rows),
            "<h3>The class's mistakes</h3>",
            "<p>Each exercise's failing messages, grouped by the mistake they name; the share "
            "is of the graded submissions.</p>",
            _mistakes(mistakes[s.assignment]),
            "<h3>Grading time</h3>",
            _img(
                time_figure(ts, f"grading time: {sum(ts) / 60:.1f} min for {len(ts)} notebooks"),
                f"grading time of {s.assignment}",
                f"seconds per notebook, sandbox start to last verdict (slowest "
                f"{max(ts, default=0):.1f} s)",
            ),
            "</section>",
        ]
    parts += [
        "<section id='look'><h2>Students who need a look</h2>",
        _look(report),
        "</section><section id='similar'><h2>Similar submissions</h2>",
        _similar(report),
        "</section></body></html>",
    ]
    return "\n".join(parts)
