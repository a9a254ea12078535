"""coursekit's autograder: nbgrader's gradebook and metadata, student code in a sandbox,
verdicts decided outside the student's process.

The pipeline, one module a stage (STYLE.md: small named steps):

    collect    submissions folder or LMS zip → (student, assignment, notebook file) jobs
    integrity  the submission against the released notebook → cells to run + tampering flags
    sandbox    a bubblewrap sandbox as an unprivileged user, with time/memory/process limits
    runner     (inside the sandbox) executes the student's cells, answers calls as plain data
    verdict    (grader side) runs each test cell with proxies for the student's names → status
    gradebook  scores into nbgrader's gradebook (SQLite or any SQLAlchemy URL)
    feedback   nbgrader's feedback HTML, with no hidden tests in it
    pipeline   the whole thing, in parallel workers, resumable

    >>> result = autograde("autograder/demo_class", "autograder/out", workers=2)
    >>> result.get("alice", "04_convolution_by_hand").exercise("test_conv2d_naive").status
    'passed'
"""

__all__ = ["autograde", "GradingError", "ClassResult", "ExerciseResult", "SubmissionResult"]


def __getattr__(name: str):  # lazy: the sandboxed runner imports this package too
    if name in ("autograde", "GradingError"):
        from . import pipeline

        return getattr(pipeline, name)
    if name in ("ClassResult", "ExerciseResult", "SubmissionResult"):
        from . import results

        return getattr(results, name)
    raise AttributeError(name)
