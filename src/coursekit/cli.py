"""The `coursekit` command: release, autograde, check, doctor.

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
    )
    print(result.table())
    print(f"\ngrades:    {result.out / 'grades.csv'}")
    print(f"exercises: {result.out / 'exercises.csv'}")
    print(f"feedback:  {result.out / 'feedback'}/<student>/<assignment>.html")
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
    r.set_defaults(func=_cmd_release)

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
    a.set_defaults(func=_cmd_autograde)

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
