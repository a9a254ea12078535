"""A class on JupyterHub, end to end, in Chromium: `coursekit hub` on a free port, three
students who are Unix users of their own, nbgrader's exchange, the sandboxed grader.

The instructor releases 04_convolution_by_hand; student A logs in, fetches it from the
Assignments tab, writes two exercises (through the Lab's API from the page), clicks Validate and
submits; B submits the blank copy; C submits twice (first wrong, then right). The instructor
collects and autogrades (the real sandboxed grader, two workers): A partial, B 0, C full.
Feedback is released; A fetches it and sees her per-exercise messages. From A's kernel, B's home
and the exchange's other submissions are out of reach (permission denied). Nothing listens on a
non-loopback address; at the end every process started is stopped by PID, the Unix users and
their folders are removed.

Screenshots: artifacts/browser/hub/{assignments,feedback}.png (tests/browser/readme_images.py
copies them to docs/img/hub_assignments.png and hub_feedback.png). The release → feedback
loop's time goes to artifacts/browser/hub/loop.json.
"""

from __future__ import annotations

import csv
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from coursekit.notebooks import source_notebook

REPO = Path(__file__).resolve().parents[2]
ART = REPO / "artifacts" / "browser" / "hub"
A = "04_convolution_by_hand"
STUDENT_PASSWORD = "students-" + secrets.token_hex(4)
INSTRUCTOR_PASSWORD = "instructor-" + secrets.token_hex(16)
START = 120  # seconds: the hub, a user's server (generous: a shared 2-core machine)
LONG = 300  # Validate, collect, grading


def _skip_reason() -> str | None:
    from coursekit.grading.sandbox import sandbox_available
    from coursekit.hub import find_proxy

    if os.geteuid() != 0:
        return "needs root: each student is a Unix user of their own (useradd)"
    if not (Path(sys.executable).parent / "jupyterhub").is_file():
        return "needs JupyterHub (pip install -e '.[test]')"
    if find_proxy() is None:
        return "needs configurable-http-proxy (npm; make system-deps installs it)"
    ok, why = sandbox_available()
    if not ok:
        return f"needs the system package bubblewrap ({why})"
    return None


def _answers() -> dict[str, str]:
    out = {}
    for c in source_notebook(A).cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("solution"):
            out[meta["grade_id"]] = c.source
    return out


class Classroom:
    """`coursekit hub` on a throw-away copy of the course, with a roster of three new users."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="ckhub-", dir="/tmp"))
        os.chmod(self.base, 0o755)
        tag = "ck" + secrets.token_hex(3)
        self.students = {"A": f"{tag}a", "B": f"{tag}b", "C": f"{tag}c"}
        self.course = self.base / "course"
        for sub in ("solutions", "notebooks"):
            shutil.copytree(REPO / sub / A, self.course / sub / A)
        (self.course / "autograder").mkdir()
        for f in ("nbgrader_config.py", "grading.toml"):
            shutil.copy2(REPO / "autograder" / f, self.course / "autograder" / f)
        (self.course / "autograder" / "roster.csv").write_text(
            "student_id,first_name,last_name,email\n"
            + "".join(f"{u},{k},Student,{u}@example.edu\n" for k, u in self.students.items())
        )
        for private in ("solutions", "autograder"):
            os.chmod(self.course / private, 0o700)
        self.exchange = self.base / "exchange"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))},
            "COURSEKIT_COURSE_ROOT": str(self.course),
            "COURSEKIT_EXCHANGE": str(self.exchange),
            "COURSEKIT_HUB_STUDENT_PASSWORD": STUDENT_PASSWORD,
            "COURSEKIT_HUB_INSTRUCTOR_PASSWORD": INSTRUCTOR_PASSWORD,
            "PYTHONUNBUFFERED": "1",
        }
        for k in ("COURSEKIT_HEADLESS", "MPLBACKEND", "NBGRADER_EXECUTION", "PYTEST_XDIST_WORKER"):
            self.env.pop(k, None)
        self.proc: subprocess.Popen | None = None
        self.pids: set[int] = set()
        self.url = ""
        ART.mkdir(parents=True, exist_ok=True)
        self.log_path = ART / "hub.log"

    def coursekit(self, *args: str, timeout: float = LONG) -> subprocess.CompletedProcess:
        """An instructor command, as typed in a terminal."""
        r = subprocess.run(
            [sys.executable, "-m", "coursekit.cli", *args],
            cwd=self.course,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert r.returncode == 0, f"coursekit {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
        return r

    def start(self) -> None:
        self._log = open(self.log_path, "w")  # closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coursekit.cli",
                "hub",
                "--port",
                "0",
                "--state",
                str(self.base / "state"),
                "--home-base",
                str(self.base / "home"),
                "--lab-arg=--LabApp.expose_app_in_browser=True",
            ],
            cwd=self.course,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.pids.add(self.proc.pid)
        deadline = time.monotonic() + START
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"coursekit hub exited:\n{self.log_tail()}"
            m = re.search(r"coursekit hub: (http://127\.0\.0\.1:\d+)", self.log_path.read_text())
            if m:
                self.url = m.group(1)
                try:
                    with urllib.request.urlopen(f"{self.url}/hub/api", timeout=3) as resp:
                        if resp.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.5)  # polling until the hub answers
        raise AssertionError(f"the hub did not answer in {START}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def tree(self) -> list[psutil.Process]:
        """The hub and everything below it (proxy, users' servers, kernels)."""
        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        self.pids |= {p.pid for p in procs}
        return procs

    def stop(self) -> list[str]:
        """Stop the hub (it stops its proxy and the users' servers), then by PID whatever it
        started that is still alive; remove the users and the folders. Returns what was left."""
        left = []
        if self.proc is not None:
            self.tree()
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    left.append(f"the hub ({self.proc.pid}) did not stop on SIGTERM")
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                alive = [p for p in self._alive(self.pids)]
                for p in alive:
                    try:
                        p.send_signal(sig)
                    except psutil.Error:
                        pass
                psutil.wait_procs(alive, timeout=10)
            left += [f"{p.pid} {p.name()} still running" for p in self._alive(self.pids)]
            self.proc = None
            self._log.close()
        from coursekit.hub import remove_users

        remove_users(list(self.students.values()))
        for u in self.students.values():
            try:
                pwd.getpwnam(u)
                left.append(f"the Unix user {u} is still there")
            except KeyError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)
        if self.base.exists():
            left.append(f"{self.base} is still there")
        return left

    @staticmethod
    def _alive(pids: set[int]) -> list[psutil.Process]:
        out = []
        for pid in pids:
            try:
                p = psutil.Process(pid)
                if p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
            except psutil.NoSuchProcess:
                pass
        return out


class Student:
    """One student's browser: logged in on the hub, their JupyterLab open."""

    def __init__(self, room: Classroom, browser, who: str) -> None:
        self.room, self.who, self.user = room, who, room.students[who]
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.context.set_default_timeout(60_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def login(self) -> Student:
        page = self.page
        page.goto(f"{self.room.url}/hub/login")
        page.fill("#username_input", self.user)
        page.fill("#password_input", STUDENT_PASSWORD)
        page.click("#login_submit")
        page.wait_for_url(re.compile(rf".*/user/{self.user}/lab.*"), timeout=START * 1000)
        # a workspace of its own: nothing restored from another page
        page.goto(f"{self.room.url}/user/{self.user}/lab/workspaces/t{secrets.token_hex(4)}?reset")
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.commands.hasCommand("
            "'nbgrader:open-assignment-list')",
            timeout=START * 1000,
        )
        return self

    def nbgrader_menu(self) -> list[str]:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).click()
        items = [
            t.strip()
            for t in self.page.locator(".lm-Menu:visible .lm-Menu-item:visible").all_inner_texts()
            if t.strip()
        ]
        self.page.keyboard.press("Escape")
        return items

    @property
    def assignments(self):
        return self.page.locator("#nbgrader-assignment-list")

    def open_assignments(self) -> None:
        """The Assignments tab, through the command behind Nbgrader > Assignment List (the menu
        itself is checked by nbgrader_menu; clicking a menu right after closing one is flaky)."""
        self.page.evaluate(
            "() => window.jupyterapp.commands.execute('nbgrader:open-assignment-list')"
        )
        self.assignments.locator("#released_assignments_list").wait_for()

    def show_assignments(self) -> None:
        self.page.locator(".lm-TabBar-tabLabel", has_text=re.compile("^Assignments$")).click()

    def fetch(self) -> None:
        self.assignments.locator("#released_assignments_list button", has_text="Fetch").click()
        self.assignments.locator("#fetched_assignments_list button", has_text="Submit").wait_for()

    def submit(self, count: int) -> None:
        """Click Submit; wait until the list shows `count` submissions."""
        self.show_assignments()
        self.assignments.locator("#fetched_assignments_list button", has_text="Submit").click()
        self.page.wait_for_function(
            """(n) => {
              const el = document.querySelector('#submitted_assignments_list');
              const stamps = (el ? el.innerText : '').match(/\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d+ UTC/g);
              return (stamps || []).length >= n; }""",
            arg=count,
            timeout=LONG * 1000,
        )

    PATH = f"{A}/{A}.ipynb"

    def open_notebook(self) -> None:
        self.page.evaluate(
            "(p) => window.jupyterapp.commands.execute('docmanager:open', {path: p})", self.PATH
        )
        self.page.wait_for_function(
            """(p) => { for (const w of window.jupyterapp.shell.widgets('main'))
              if (w.context && w.context.path === p && w.context.isReady &&
                  w.sessionContext.session && w.sessionContext.session.kernel &&
                  w.sessionContext.session.kernel.status === 'idle') return true;
              return false; }""",
            arg=self.PATH,
            timeout=START * 1000,
        )

    def write(self, answers: dict[str, str]) -> int:
        """Put `answers` ({answer grade_id: code}) into the open notebook's cells and save it,
        as typing would (the cells' shared model); returns the cells changed."""
        return self.page.evaluate(
            """async ([p, answers]) => {
              for (const w of window.jupyterapp.shell.widgets('main')) {
                if (!(w.context && w.context.path === p)) continue;
                let n = 0;
                for (const cell of w.content.widgets) {
                  const m = cell.model.getMetadata('nbgrader') || {};
                  if (answers[m.grade_id] !== undefined) {
                    cell.model.sharedModel.setSource(answers[m.grade_id]); n++;
                  }
                }
                await w.context.save();
                return n;
              }
              return -1; }""",
            [self.PATH, answers],
        )

    def run_in_kernel(self, code: str) -> str:
        """Run `code` in the open notebook's kernel; what it printed."""
        return self.page.evaluate(
            """async ([p, code]) => {
              for (const w of window.jupyterapp.shell.widgets('main')) {
                if (!(w.context && w.context.path === p)) continue;
                const k = w.sessionContext.session.kernel;
                const f = k.requestExecute({code, store_history: false});
                let out = '';
                f.onIOPub = (msg) => {
                  if (msg.header.msg_type === 'stream') out += msg.content.text;
                  if (msg.header.msg_type === 'error') out += msg.content.ename + ': ' + msg.content.evalue;
                };
                await f.done;
                return out;
              }
              return null; }""",
            [self.PATH, code],
        )

    def screenshot(self, name: str) -> Path:
        path = ART / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        try:
            self.context.close()
        except Exception:
            pass


@pytest.fixture
def classroom():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    room = Classroom()
    try:
        room.start()
        yield room
    finally:
        left = room.stop()
        assert not left, "left behind after the hub stopped:\n" + "\n".join(left)


def _listening_off_loopback(procs: list[psutil.Process]) -> list[str]:
    pids = {p.pid for p in procs}
    bad = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            if conn.laddr.ip not in ("127.0.0.1", "::1"):
                bad.append(f"pid {conn.pid} listens on {conn.laddr.ip}:{conn.laddr.port}")
    return bad


def _grades(out: Path) -> dict[str, tuple[float, float]]:
    with open(out / "grades.csv") as f:
        return {
            r["student_id"]: (float(r["score"]), float(r["max_score"])) for r in csv.DictReader(f)
        }


def _messages(out: Path, student: str) -> list[str]:
    with open(out / "exercises.csv") as f:
        return [
            r["message"].splitlines()[0]
            for r in csv.DictReader(f)
            if r["student_id"] == student and r["message"]
        ]


def test_a_class_on_the_hub_from_release_to_feedback(classroom, browser):
    room = classroom
    answers = _answers()
    two = {k: answers[k] for k in ("answer_cross_correlate2d", "answer_convolve2d")}
    wrong = {"answer_cross_correlate2d": "def cross_correlate2d(x, k):\n    return x\n"}
    people: list[Student] = []
    try:
        t0 = time.monotonic()
        phases: dict[str, float] = {}

        def mark(name: str) -> None:
            phases[name] = round(time.monotonic() - t0 - sum(phases.values()), 1)

        assert "students can Fetch it" in room.coursekit("release", "--exchange", A).stdout
        mark("release")

        a = Student(room, browser, "A").login()
        people.append(a)
        assert a.nbgrader_menu() == ["Assignment List"], "a student sees instructor tools"
        a.open_assignments()
        assert "notified about official Jupyter news" not in a.page.inner_text("body")
        a.fetch()
        a.open_notebook()
        assert a.write(two) == 2
        button = a.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").first
        button.locator("jp-button, button").first.click()
        dialog = a.page.locator(".jp-Dialog")
        dialog.wait_for(state="visible", timeout=LONG * 1000)
        verdict = dialog.locator(".jp-Dialog-body").inner_text()
        assert "conv_output_size" in verdict and "Cannot" not in verdict, verdict[:500]
        dialog.locator("button", has_text=re.compile("OK|Close", re.I)).first.click()
        a.submit(1)
        a.screenshot("assignments")
        mark("A: log in, fetch, write, validate, submit")

        b = Student(room, browser, "B").login()
        people.append(b)
        b.open_assignments()
        b.fetch()
        b.submit(1)

        c = Student(room, browser, "C").login()
        people.append(c)
        c.open_assignments()
        c.fetch()
        c.open_notebook()
        assert c.write(wrong) == 1
        c.submit(1)
        assert c.write(answers) == len(answers)
        c.submit(2)
        mark("B and C: log in, fetch, submit (C twice)")

        off = _listening_off_loopback(room.tree())
        assert not off, off

        collected = room.coursekit("collect").stdout
        assert "collected 3 submissions" in collected, collected
        submitted = room.course / "autograder" / "submitted"
        mark("collect")
        room.coursekit("autograde", str(submitted), "--workers", "2", "--quiet", "--no-report")
        mark("autograde (sandboxed, 2 workers)")
        out = room.course / "autograder" / "out"
        g = _grades(out)
        ua, ub, uc = (room.students[k] for k in "ABC")
        assert 0 < g[ua][0] < g[ua][1], g
        assert g[ub][0] == 0, g
        assert g[uc][0] == g[uc][1] > 0, g
        released = room.coursekit("release-feedback").stdout
        assert "3 new or changed" in released, released
        mark("release-feedback")

        a.show_assignments()
        a.assignments.locator(
            "#submitted_assignments_list button", has_text="Fetch Feedback"
        ).click()
        link = a.assignments.locator("#submitted_assignments_list a", has_text="view feedback")
        link.wait_for(timeout=LONG * 1000)
        link.click()
        a.page.locator(".jp-DirListing-item", has_text=f"{A}.html").dblclick()
        frame = a.page.locator(".jp-HTMLViewer iframe").first
        frame.wait_for()
        text = frame.content_frame.locator("body").inner_text(timeout=60_000)
        loop = time.monotonic() - t0
        mark("A: fetch feedback, open it")
        messages = _messages(out, ua)
        assert messages and all(m in text for m in messages), (messages, text[:2000])
        assert "Score: " in text and f"{g[ua][0]:g} / {g[ua][1]:g}" in text
        a.screenshot("feedback")

        inbound = room.exchange / "coursekit" / "inbound"
        home_b = Path(pwd.getpwnam(ub).pw_dir)
        probe = a.run_in_kernel(
            "import os\n"
            "for what, call in [\n"
            f"    ('home_b', lambda: os.listdir({str(home_b)!r})),\n"
            f"    ('bashrc_b', lambda: open({str(home_b / '.bashrc')!r}).read()),\n"
            f"    ('inbound', lambda: os.listdir({str(inbound)!r})),\n"
            f"    ('feedback', lambda: os.listdir({str(room.exchange / 'coursekit' / 'feedback')!r})),\n"
            f"    ('solutions', lambda: os.listdir({str(room.course / 'solutions')!r})),\n"
            "]:\n"
            "    try:\n"
            "        call(); print(what, 'READ')\n"
            "    except OSError as e:\n"
            "        print(what, type(e).__name__)\n"
        )
        lines = dict(ln.split(" ", 1) for ln in probe.strip().splitlines())
        assert lines == {
            "home_b": "PermissionError",
            "bashrc_b": "PermissionError",
            "inbound": "PermissionError",
            "feedback": "PermissionError",
            "solutions": "FileNotFoundError",  # the course folder is not in a student's view
        }, probe
        (ART / "loop.json").write_text(
            json.dumps(
                {
                    "students": 3,
                    "submissions": 4,
                    "release_to_feedback_s": round(loop, 1),
                    "phases_s": phases,
                    "load_average": os.getloadavg(),
                },
                indent=1,
            )
        )
        print(f"\nrelease → submit → grade → feedback for 3 students: {loop:.0f} s")
        errors = [e for s in people for e in s.errors]
        assert not errors, errors
    except Exception:
        for n, s in enumerate(people):
            try:
                s.screenshot(f"failure-{s.who}-{n}")
            except Exception:
                pass
        print(room.log_tail())
        raise
    finally:
        for s in people:
            s.close()
