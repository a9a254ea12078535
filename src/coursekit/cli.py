"""The `coursekit` command: release, autograde, report, export, check, doctor.

Bad input (not a notebook, invalid JSON, unknown assignment, empty zip, missing folder) gives
one clear line on stderr and a non-zero exit code, and nothing is written half-way.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main"]


def _cmd_release(args: argparse.Namespace) -> int:
    from .grading.release import release

    written = release(args.assignments or None)
    for path in written:
        print(f"released {path}")
    if args.exchange:
        from .grading.exchange import release_to_exchange

        done = release_to_exchange(args.assignments or None)
        for name in done.released:
            print(f"in the exchange: {name} (students can Fetch it)")
        for name in done.unchanged:
            print(f"in the exchange: {name} (unchanged)")
    return 0


# --- a class on JupyterHub: the lab per role, the hub, nbgrader's exchange ----------------------


def _cmd_lab(args: argparse.Namespace) -> int:
    from .notebooks import course_root
    from .roles import run_lab

    return run_lab(course_root(), "instructor" if args.instructor else "student", args.lab_args)


def _cmd_hub(args: argparse.Namespace) -> int:
    from pathlib import Path as P

    from .hub import prepare_hub, remove_users, run_hub
    from .notebooks import course_root

    root = course_root()
    if args.write_config:
        from .grading.config import nbgrader_config
        from .hub import write_user_config

        cfg = nbgrader_config(root)
        exchange = P(args.exchange) if args.exchange else P(str(cfg.Exchange.root))
        for role, folder in write_user_config(
            P(args.write_config), str(cfg.CourseDirectory.course_id), exchange
        ).items():
            print(f"{role}: JUPYTER_CONFIG_PATH={folder}")
        return 0
    if args.remove_users:
        from .hub import roster_students

        roster = P(args.roster) if args.roster else root / "autograder" / "roster.csv"
        gone = remove_users(roster_students(roster, multi_user=False))
        print(f"removed {len(gone)} Unix users: {', '.join(gone) or 'none'}")
        return 0
    plan = prepare_hub(
        root,
        port=args.port,
        roster=P(args.roster) if args.roster else None,
        instructor=args.instructor,
        state=P(args.state) if args.state else None,
        exchange=P(args.exchange) if args.exchange else None,
        home_base=P(args.home_base),
        lab_args=args.lab_arg,
    )
    run_hub(plan)
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    from .grading.exchange import collect_from_exchange

    rep = collect_from_exchange(args.assignments or None, dest=args.to, roster=args.roster)
    for line in rep.warnings:
        print(f"coursekit collect: {line}", file=sys.stderr)
    for c in rep.late:
        print(
            f"late: {c.student_id} / {c.assignment} submitted {c.timestamp:%Y-%m-%d %H:%M} UTC, "
            f"{c.seconds_late / 3600:.1f} h after the deadline"
        )
    names = sorted({c.assignment for c in rep.collected})
    print(
        f"collected {len(rep.collected)} submissions ({', '.join(names) or 'none'}) into "
        f"{rep.dest}" + (f"; late ones in {rep.late_file}" if rep.late_file else "")
    )
    if rep.collected:
        print(f"grade them: coursekit autograde {rep.dest}")
    return 0


def _cmd_release_feedback(args: argparse.Namespace) -> int:
    from .grading.exchange import release_feedback

    rep = release_feedback(args.assignments or None, out=args.out, submitted=args.submissions)
    for line in rep.warnings:
        print(f"coursekit release-feedback: {line}", file=sys.stderr)
    print(
        f"feedback released: {len(rep.released)} new or changed, {len(rep.unchanged)} unchanged"
        + (f" ({', '.join(f'{s}/{a}' for s, a in rep.released)})" if rep.released else "")
    )
    return 0


def _cmd_autograde(args: argparse.Namespace) -> int:
    from .grading import autograde

    result = autograde(
        args.submissions,
        args.out,
        workers=args.workers,
        sandbox=not args.no_sandbox,
        db_url=args.db_url,
        resume=not args.force,
        progress=not args.quiet,
        runtime=args.runtime,
        executor=args.scheduler or args.cluster,
        insecure_plain_tcp=args.insecure_plain_tcp,
        report=not args.no_report,
        skip_show_only=not args.no_skip_show_only,
    )
    print(result.table())
    print(f"\ngrades:    {result.out / 'grades.csv'}")
    print(f"exercises: {result.out / 'exercises.csv'}")
    print(f"feedback:  {result.out / 'feedback'}/<student>/<assignment>.html")
    if not args.no_report:
        print(f"report:    {result.out / 'report.html'}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import read_late, write_report

    page = write_report(
        args.out,
        late=read_late(args.late) if args.late else None,
        roster=args.roster,
        similarity=not args.no_similarity,
    )
    print(f"report: {page}")
    print(f"tables: {page.parent / 'report'}/*.csv")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export

    done = export(args.format, args.out, db_url=args.db_url, roster=args.roster, to=args.to)
    print(
        f"wrote {done.path} ({done.students} students, {len(done.assignments)} assignments: "
        f"{', '.join(done.assignments)})"
    )
    if done.roster is None:
        print("no roster (autograder/roster.csv): students are exported under their gradebook ids")
    for sid in done.unknown:
        print(
            f"coursekit export: student {sid!r} is in the gradebook but not in {done.roster}: "
            "exported under that id, with no LMS id",
            file=sys.stderr,
        )
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .selfcheck import check_notebook

    return 0 if check_notebook(Path(args.notebook), timeout=args.timeout) else 1


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor

    return doctor()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="coursekit",
        description="A deep-learning course in JupyterLab notebooks, graded by nbgrader.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", help="regenerate notebooks/ (student versions) from solutions/")
    r.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    r.add_argument(
        "--exchange",
        action="store_true",
        help="also release them to nbgrader's exchange (a JupyterHub's students Fetch them)",
    )
    r.set_defaults(func=_cmd_release)

    lb = sub.add_parser(
        "lab", help="JupyterLab on the course as a student sees it (make lab), on 127.0.0.1"
    )
    lb.add_argument(
        "--instructor", action="store_true", help="with formgrader and Create Assignment"
    )
    lb.add_argument("lab_args", nargs="*", help="more options for jupyter lab (after --)")
    lb.set_defaults(func=_cmd_lab)

    h = sub.add_parser(
        "hub",
        help="a classroom on this machine: JupyterHub for the roster's students (make hub)",
        description=(
            "JupyterHub on 127.0.0.1 for the students of autograder/roster.csv and one "
            "instructor, with nbgrader's exchange. As root each student is a Unix user of "
            "their own. A local trial: one shared password for the students (README: a real "
            "class)."
        ),
    )
    h.add_argument("--port", type=int, default=8000, help="the hub's port (0: any free port)")
    h.add_argument("--roster", default=None, help="default: autograder/roster.csv")
    h.add_argument("--instructor", default="instructor", help="the instructor's user name")
    h.add_argument("--state", default=None, help="the hub's own files (default: .hub/)")
    h.add_argument("--exchange", default=None, help="nbgrader's exchange (default: .hub/exchange)")
    h.add_argument(
        "--home-base", default="/home", help="where the students' home folders are created"
    )
    h.add_argument(
        "--lab-arg",
        action="append",
        default=[],
        help="an option for every user's JupyterLab (repeatable)",
    )
    h.add_argument(
        "--write-config",
        metavar="DIR",
        default=None,
        help="only write each role's Jupyter config folder into DIR (for another hub: TLJH, "
        "Kubernetes), then exit",
    )
    h.add_argument(
        "--remove-users",
        action="store_true",
        help="delete the roster's Unix users that coursekit hub created, with their homes",
    )
    h.set_defaults(func=_cmd_hub)

    co = sub.add_parser(
        "collect",
        help="nbgrader collect from the exchange into autograder/submitted/ (latest, late marked)",
    )
    co.add_argument("assignments", nargs="*", help="assignment names (default: all released)")
    co.add_argument("--to", default=None, help="default: nbgrader's autograder/submitted/")
    co.add_argument("--roster", default=None, help="default: autograder/roster.csv if present")
    co.set_defaults(func=_cmd_collect)

    rf = sub.add_parser(
        "release-feedback",
        help="nbgrader release_feedback of coursekit's feedback (students: Fetch Feedback)",
    )
    rf.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    rf.add_argument("--out", default=None, help="the --out of coursekit autograde (autograder/out)")
    rf.add_argument(
        "--submissions", default=None, help="the collected folder (autograder/submitted/)"
    )
    rf.set_defaults(func=_cmd_release_feedback)

    a = sub.add_parser(
        "autograde",
        help="grade a class: a folder <student>/<assignment>/<assignment>.ipynb or an LMS .zip",
        description=(
            "Grade SUBMISSIONS: a folder laid out <student_id>/<assignment>/<assignment>.ipynb, "
            "or a .zip from an LMS whose files are named <student_id>_<assignment>.ipynb "
            "(the pattern is [collect] zip_pattern in autograder/grading.toml). Writes "
            "grades.csv, exercises.csv and feedback/ into --out, and scores into nbgrader's gradebook."
        ),
    )
    a.add_argument("submissions", help="folder or .zip of submissions")
    a.add_argument("--out", default="autograder/out", help="where to write grades and feedback")
    a.add_argument(
        "--workers", type=int, default=None, help="notebooks graded at once (default: cores)"
    )
    a.add_argument(
        "--db-url", default=None, help="nbgrader gradebook URL (SQLAlchemy; default SQLite)"
    )
    a.add_argument("--force", action="store_true", help="re-grade submissions already graded")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run student code without the sandbox (only for trusted submissions: it can read "
        "your files and fool the tests)",
    )
    a.add_argument(
        "--runtime",
        default=None,
        help="where nbgrader's submitted/, autograded/, feedback/ go (default: autograder/)",
    )
    where = a.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="URL",
        default=None,
        help="grade on a Dask cluster: its scheduler, tls://HOST:8786 (README: several machines)",
    )
    where.add_argument(
        "--cluster",
        metavar="local:N",
        default=None,
        help="grade on a Dask LocalCluster of N worker processes on 127.0.0.1 (a trial)",
    )
    a.add_argument(
        "--insecure-plain-tcp",
        action="store_true",
        help="allow --scheduler tcp:// to a non-loopback address (unencrypted: trusted networks only)",
    )
    a.add_argument(
        "--no-report",
        action="store_true",
        help="do not write OUT/report.html (the class report; `coursekit report OUT` writes it)",
    )
    a.add_argument(
        "--no-skip-show-only",
        action="store_true",
        help="also run the cells tagged show-only (pictures, demos; docs/AUTHORING.md)",
    )
    a.set_defaults(func=_cmd_autograde)

    rp = sub.add_parser(
        "report",
        help="the class report of a graded out folder: OUT/report.html and OUT/report/*.csv",
    )
    rp.add_argument("out", help="the --out folder of `coursekit autograde`")
    rp.add_argument(
        "--late", default=None, help="a file of late submissions: student_id[,assignment] a line"
    )
    rp.add_argument(
        "--roster", default=None, help="roster CSV (default: autograder/roster.csv if present)"
    )
    rp.add_argument(
        "--no-similarity", action="store_true", help="leave out the similar-submissions search"
    )
    rp.set_defaults(func=_cmd_report)

    ex = sub.add_parser(
        "export",
        help="grades from nbgrader's gradebook for Canvas, Moodle, or as nbgrader's CSV",
    )
    ex.add_argument("out", help="folder the export is written to (OUT/canvas.csv, ...)")
    ex.add_argument("--format", required=True, choices=["canvas", "moodle", "csv"])
    ex.add_argument(
        "--db-url", default=None, help="nbgrader gradebook URL (default: autograder/gradebook.db)"
    )
    ex.add_argument(
        "--roster", default=None, help="roster CSV (default: autograder/roster.csv if present)"
    )
    ex.add_argument("--to", default=None, help="the file to write (default: in OUT)")
    ex.set_defaults(func=_cmd_export)

    c = sub.add_parser("check", help="run a notebook and its visible checks (for students)")
    c.add_argument("notebook", help="your .ipynb")
    c.add_argument("--timeout", type=int, default=300, help="seconds one cell may take")
    c.set_defaults(func=_cmd_check)

    d = sub.add_parser("doctor", help="versions, devices, where the data is, what is missing")
    d.set_defaults(func=_cmd_doctor)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    from .errors import CoursekitError

    try:
        return int(args.func(args) or 0)
    except CoursekitError as exc:
        print(f"coursekit {args.command}: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:  # e.g. no course folder found from here
        print(f"coursekit {args.command}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"coursekit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
