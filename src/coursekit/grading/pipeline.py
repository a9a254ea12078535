"""autograde(): collect → integrity → execute in the sandbox → verdicts → gradebook → feedback.

Workers grade submissions side by side (one process and one sandbox each); only the main
process writes the gradebook and the output files. A result per submission is saved as soon
as it is done (out/.results/), so an interrupted run resumes where it stopped, and a re-run
with the same files changes nothing.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

from ..notebooks import ASSIGNMENTS, course_root, nbgrader_meta, release_path, source_path
from .collect import CollectError, Job, collect
from .config import Limits, load_settings, nbgrader_config
from .integrity import NotebookUnreadable, plan_submission, read_notebook
from .results import ICONS, ClassResult, ExerciseResult, SubmissionResult
from .sandbox import Kernel, KernelDied, SandboxUnavailable, sandbox_available
from .verdict import evaluate_test

__all__ = ["GradingError", "autograde", "grade_job"]

RESULT_VERSION = 1


class GradingError(RuntimeError):
    """Bad input for a whole run (missing folder, empty zip...): one readable line."""


# --- one submission (runs in a worker) -----------------------------------------------------------


def _release_tests(release_nb: dict) -> list[tuple[str, float]]:
    out = []
    for c in release_nb.get("cells", []):
        m = nbgrader_meta(c)
        if c.get("cell_type") == "code" and m.get("grade") and not m.get("solution"):
            out.append((m["grade_id"], float(m.get("points") or 0)))
    return out


def _all(job: Job, release_nb: dict, status: str, message: str, error: str = "") -> SubmissionResult:
    ex = [ExerciseResult(job.student_id, job.assignment, gid, 0.0, pts, status, message)
          for gid, pts in _release_tests(release_nb)]
    return SubmissionResult(job.student_id, job.assignment, ex, error=error or message, digest=job.digest)


def grade_job(job: Job, release_nb: dict, source_nb: dict, limits: Limits, *, sandbox: bool = True,
              slot: int = 0) -> SubmissionResult:
    """Grade one submission. Never raises for anything the submission does."""
    t0 = time.monotonic()
    try:
        sub = read_notebook(job.raw)
    except NotebookUnreadable as exc:
        return _all(job, release_nb, "error", f"not graded: {exc}")
    plan = plan_submission(sub, release_nb, job.assignment)
    if plan.error:
        return _all(job, release_nb, "missing" if "empty" in plan.error else "error", f"not graded: {plan.error}")
    full_tests = {}
    for c in source_nb.get("cells", []):
        m = nbgrader_meta(c)
        if m.get("grade") and not m.get("solution"):
            src = c.get("source", "")
            full_tests[m.get("grade_id")] = "".join(src) if isinstance(src, list) else src
    release_meta = {nbgrader_meta(c).get("grade_id"): nbgrader_meta(c) for c in release_nb.get("cells", [])}

    result = SubmissionResult(job.student_id, job.assignment, [], flags=list(plan.flags), digest=job.digest)
    try:
        kernel = Kernel.start(limits, slot=slot, sandbox=sandbox)
    except (KernelDied, SandboxUnavailable, OSError) as exc:
        return _all(job, release_nb, "error", f"not graded: the kernel could not start ({exc})")
    dead = ""
    dead_status = "error"
    try:
        for cell in plan.cells:
            record = {"kind": cell.kind, "source": cell.source, "outputs": []}
            if cell.grade_id and cell.grade_id in release_meta:
                record["nbgrader"] = release_meta[cell.grade_id]
            if cell.kind == "code":
                if not dead:
                    try:
                        outputs, error = kernel.run_cell(cell.source)
                        record["outputs"] = outputs
                        if error and error.get("timeout"):
                            record["outputs"].append(_stream(f"⏱ stopped: {error.get('evalue')}\n"))
                    except KernelDied as exc:
                        dead = str(exc)
                        dead_status = "timeout" if ("did not stop" in dead or "ran out" in dead) else "error"
                        record["outputs"] = [_stream(f"⚠ the kernel stopped here: {dead}\n")]
                result.cells.append(record)
                continue
            # a test cell: the verdict is decided here, in the grader
            if dead:
                status, message, output = dead_status, f"not graded: {dead} (in an earlier cell)", ""
            else:
                v = evaluate_test(kernel, full_tests.get(cell.grade_id, cell.source), cell.grade_id)
                status, message, output = v.status, v.message, v.output
                if kernel.dead and not dead:
                    dead = kernel.dead
                    dead_status = "timeout" if ("did not stop" in dead or "ran out" in dead) else "error"
            score = cell.points if status == "passed" else 0.0
            result.exercises.append(ExerciseResult(job.student_id, job.assignment, cell.grade_id, score,
                                                   cell.points, status, message, list(cell.flags), output))
            verdict = f"{ICONS[status]} {status}: {score:g} / {cell.points:g}" + (f" — {message}" if message else "")
            record["outputs"] = ([_stream(output)] if output else []) + [_stream(verdict + "\n", "stderr" if status != "passed" else "stdout")]
            result.cells.append(record)
    finally:
        kernel.close()
    result.seconds = round(time.monotonic() - t0, 2)
    return result




def _stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


# --- workers ---------------------------------------------------------------------------------------

_SLOT = 0


def _init_worker(slots) -> None:  # noqa: ANN001
    global _SLOT
    _SLOT = slots.get()
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _work(job: Job, release_nb: dict, source_nb: dict, limits: Limits, sandbox: bool) -> dict:
    try:
        return grade_job(job, release_nb, source_nb, limits, sandbox=sandbox, slot=_SLOT).to_dict()
    except Exception as exc:  # noqa: BLE001 - a grader bug must not stop the class
        return _all(job, release_nb, "error", f"not graded: internal grader error ({type(exc).__name__}: {exc})").to_dict()


# --- the whole class -------------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def autograde(
    submissions: str | Path,
    out: str | Path,
    *,
    workers: int | None = None,
    sandbox: bool = True,
    db_url: str | None = None,
    resume: bool = True,
    progress: bool = False,
    root: str | Path | None = None,
    runtime: str | Path | None = None,
    limits: dict | None = None,
) -> ClassResult:
    """Grade every submission under `submissions` and write grades.csv, exercises.csv and
    feedback/<student>/<assignment>.html into `out`; scores go into nbgrader's gradebook.

    submissions: a folder <student_id>/<assignment>/<assignment>.ipynb, or an LMS .zip.
    workers: notebooks graded at once (default: number of cores).
    sandbox: run student code in the bubblewrap sandbox (False only for trusted code).
    db_url: the gradebook (default: the course's autograder/gradebook.db, or
        <runtime>/gradebook.db when `runtime` is given).
    runtime: where nbgrader's run-time folders go (submitted/, autograded/, feedback/);
        default: the course's autograder/ (tests pass a temporary folder).
    resume: skip submissions already graded with the same content.
    limits: overrides of autograder/grading.toml's [limits] for this run (e.g. {"cell_timeout_s": 10}).
    Returns a ClassResult: result.get(student, assignment).exercise(grade_id) → ExerciseResult
    with .score, .max_score, .status ('passed'|'failed'|'error'|'timeout'|'missing'), .message, .flags.
    """
    try:
        root = Path(root).resolve() if root else course_root()
    except FileNotFoundError as exc:
        raise GradingError(str(exc)) from None
    settings = load_settings(root)
    if limits:
        from dataclasses import replace

        settings = replace(settings, limits=replace(settings.limits, **limits))
    known = [a for a in ASSIGNMENTS if source_path(a, root).is_file() and release_path(a, root).is_file()]
    try:
        jobs, warnings = collect(Path(submissions), known, settings.zip_pattern)
    except CollectError as exc:
        raise GradingError(str(exc)) from None
    if sandbox:
        ok, why = sandbox_available()
        if not ok:
            raise GradingError(
                f"{why}. Student code must not run unsandboxed: it could read the hidden tests and "
                "change grades. To grade trusted notebooks anyway, pass --no-sandbox."
            )
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cfg = nbgrader_config(root, db_url)
    if runtime is not None:
        rt = Path(runtime).resolve()
        rt.mkdir(parents=True, exist_ok=True)
        cfg.CourseDirectory.submitted_directory = str(rt / "submitted")
        cfg.CourseDirectory.autograded_directory = str(rt / "autograded")
        cfg.CourseDirectory.feedback_directory = str(rt / "feedback")
        if db_url is None:
            cfg.CourseDirectory.db_url = f"sqlite:///{rt / 'gradebook.db'}"
    db = str(cfg.CourseDirectory.db_url)

    import logging

    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from . import feedback, gradebook

    cfg.NbGraderAPI.log_level = logging.ERROR
    coursedir = CourseDirectory(config=cfg)
    api = NbGraderAPI(coursedir=coursedir, config=cfg)

    releases = {a: json.loads(release_path(a, root).read_text(encoding="utf-8")) for a in {j.assignment for j in jobs}}
    sources = {a: json.loads(source_path(a, root).read_text(encoding="utf-8")) for a in releases}
    with tempfile.TemporaryDirectory(prefix="coursekit-release-") as scratch:
        for a in releases:
            gradebook.ensure_assignment(a, db, root, Path(scratch))

    cache = out / ".results"
    cache.mkdir(exist_ok=True)
    results: dict[tuple[str, str], SubmissionResult] = {}
    pending: list[Job] = []
    for job in jobs:
        sdir = Path(coursedir.format_path(coursedir.submitted_directory, job.student_id, job.assignment))
        sdir.mkdir(parents=True, exist_ok=True)
        (sdir / f"{job.assignment}.ipynb").write_bytes(job.raw)
        cached = cache / f"{job.student_id}__{job.assignment}.json"
        if resume and cached.is_file():
            try:
                data = json.loads(cached.read_text(encoding="utf-8"))
                if data.get("version") == RESULT_VERSION and data["result"]["digest"] == job.digest:
                    results[(job.student_id, job.assignment)] = SubmissionResult.from_dict(data["result"])
                    continue
            except (ValueError, KeyError, TypeError):
                pass
        pending.append(job)

    def finish(res: SubmissionResult) -> None:
        gradebook.record(res, db)
        try:
            res.feedback = str(feedback.render_feedback(res, releases[res.assignment], coursedir, api, out))
        except Exception as exc:  # noqa: BLE001 - feedback is not worth a lost grade
            res.error = (res.error + "; " if res.error else "") + f"feedback not written: {exc}"
        _write_atomic(cache / f"{res.student_id}__{res.assignment}.json",
                      json.dumps({"version": RESULT_VERSION, "result": res.to_dict()}))
        results[(res.student_id, res.assignment)] = res

    for res in list(results.values()):  # resumed: make sure the gradebook and feedback agree
        gradebook.record(res, db)
        if not (out / "feedback" / res.student_id / f"{res.assignment}.html").is_file():
            finish(res)

    n = workers or os.cpu_count() or 1
    bar = None
    if progress and pending:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(pending), desc="grading", unit="notebook")
    failed = 0

    def tick(res: SubmissionResult) -> None:
        nonlocal failed
        if res.error or any(e.status in ("error", "timeout") for e in res.exercises):
            failed += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(failed=failed)

    try:
        if n <= 1 or len(pending) <= 1:
            for job in pending:
                limits = settings.limits_for(job.assignment)
                try:
                    res = grade_job(job, releases[job.assignment], sources[job.assignment], limits, sandbox=sandbox)
                except Exception as exc:  # noqa: BLE001
                    res = _all(job, releases[job.assignment], "error", f"not graded: internal grader error ({exc})")
                finish(res)
                tick(res)
        else:
            # forkserver: workers start from a clean, thread-free process (forking a grader that
            # has threads, e.g. one driving Jupyter kernels, can deadlock the child).
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["coursekit.grading.pipeline"])
            slots = ctx.Queue()
            for i in range(n):
                slots.put(i)
            with cf.ProcessPoolExecutor(max_workers=min(n, len(pending)), mp_context=ctx,
                                        initializer=_init_worker, initargs=(slots,)) as pool:
                futures = {pool.submit(_work, job, releases[job.assignment], sources[job.assignment],
                                       settings.limits_for(job.assignment), sandbox): job for job in pending}
                for fut in cf.as_completed(futures):
                    job = futures[fut]
                    try:
                        res = SubmissionResult.from_dict(fut.result())
                    except Exception as exc:  # noqa: BLE001 - a worker died: this submission only
                        res = _all(job, releases[job.assignment], "error", f"not graded: the grading worker failed ({exc})")
                    finish(res)
                    tick(res)
    finally:
        if bar is not None:
            bar.close()

    ordered = [results[(j.student_id, j.assignment)] for j in jobs if (j.student_id, j.assignment) in results]
    result = ClassResult(out, ordered)
    _write_atomic(out / "grades.csv", result.grades_csv())
    _write_atomic(out / "exercises.csv", result.exercises_csv())
    if warnings:
        _write_atomic(out / "skipped.txt", "\n".join(warnings) + "\n")
    return result
