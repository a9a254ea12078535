"""nbgrader configuration for the coursekit course.

nbgrader's folders are mapped onto the repository: its *source* folder is `solutions/`
(the instructor's notebooks, with solutions and hidden tests) and its *release* folder is
`notebooks/` (the student versions). The run-time folders (submitted/, autograded/,
feedback/) and the gradebook live under `autograder/` and are git-ignored.

`coursekit` loads this file itself; to use the plain `nbgrader` command, run it with
`JUPYTER_CONFIG_PATH=autograder` from the repository root (as `make lab` does).
"""

import os

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

ROOT = os.environ.get(
    "COURSEKIT_COURSE_ROOT", os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "coursekit"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = os.path.join("autograder", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("autograder", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("autograder", "feedback")
# SQLite by default; any SQLAlchemy URL works (e.g. postgresql://user@127.0.0.1/gradebook).
c.CourseDirectory.db_url = os.environ.get(
    "COURSEKIT_DB_URL", "sqlite:///" + os.path.join(ROOT, "autograder", "gradebook.db")
)

# nbgrader's exchange on a JupyterHub (release_assignment, collect, release_feedback; the
# students' Assignments tab): $COURSEKIT_EXCHANGE, else .hub/exchange in the course folder,
# which `coursekit hub` creates with the permissions nbgrader documents.
c.Exchange.root = os.environ.get("COURSEKIT_EXCHANGE") or os.path.join(ROOT, ".hub", "exchange")

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# Plain nbgrader autograde (used only as the benchmark's baseline): one cell may not run forever.
c.Execute.timeout = 120
