"""The browser suite's harness: JupyterLab on a throw-away copy of the course, driven by Chromium.

* ``jupyter_lab`` (session): starts ``jupyter lab`` on 127.0.0.1 on a free port, root_dir a
  temporary copy of solutions/, notebooks/ and autograder/, throw-away settings, workspaces and
  runtime folders, ``JUPYTER_CONFIG_PATH`` = that autograder/; waits until ``/api/status``
  answers; at the end shuts it down and then stops, by PID, every child process it had started
  (kernels, nbgrader validate) that is still alive.
* ``browser`` (session): Debian's /usr/bin/chromium through Playwright.
* ``lab`` (function): opens notebooks in fresh browser contexts (:class:`NotebookPage`), records
  browser console errors, and on a failing test saves a screenshot of every page it opened to
  ``artifacts/browser/failures/``.
* ``solution_page(assignment)`` (session): a solution notebook opened and *Run All* once, shared
  by the generic test and the widget-interaction tests of that notebook (tests are ordered by
  notebook so only one such page, one kernel, is alive at a time).

Every test here is marked ``browser`` (and placed in one xdist group so that ``make test``'s
``-n auto --dist loadgroup`` runs them on one worker with one JupyterLab). Without
/usr/bin/chromium or playwright they are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from coursekit.notebooks import ASSIGNMENTS  # the course's notebooks, in course order

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
HERE = Path(__file__).resolve().parent

# Time limits (seconds). Generous: the machine may be shared; every wait is for a condition.
START_TIMEOUT = 90
OPEN_TIMEOUT = 90
RUN_ALL_TIMEOUT = float(os.environ.get("COURSEKIT_BROWSER_RUN_TIMEOUT", "300"))
# Run All limits of notebooks that train for real when live (05: full MNIST, ~90 s on an idle
# 2-core CPU, several minutes on a shared one).
RUN_ALL_TIMEOUTS = {"05_lenet_mnist": max(RUN_ALL_TIMEOUT, 600.0)}


def _skip_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"needs the system package chromium ({CHROMIUM} is missing)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


def solution_assignments() -> list[str]:
    return [a for a in ASSIGNMENTS if (REPO / "solutions" / a / f"{a}.ipynb").is_file()]


def student_assignments() -> list[str]:
    return [a for a in ASSIGNMENTS if (REPO / "notebooks" / a / f"{a}.ipynb").is_file()]


# ---------------------------------------------------------------------------------------------
# collection: mark, group, skip, order
# ---------------------------------------------------------------------------------------------


def _item_assignment(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "assignment" in callspec.params:
        return callspec.params["assignment"]
    marker = item.get_closest_marker("notebook")
    return marker.args[0] if marker else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "notebook(name): the course notebook a browser test drives")
    config.addinivalue_line(
        "markers",
        "over(kind): parametrize `assignment` over the existing 'solutions' or 'notebooks'",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`assignment` runs over every notebook that exists now (solutions/ or notebooks/)."""
    if "assignment" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("over")
    kind = marker.args[0] if marker else "solutions"
    found = solution_assignments() if kind == "solutions" else student_assignments()
    metafunc.parametrize("assignment", found)


@pytest.hookimpl(tryfirst=True)  # the groups must be set before xdist's hook reads them
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [i for i in items if Path(str(i.fspath)).resolve().is_relative_to(HERE)]
    if not mine:
        return
    reason = _skip_reason()
    for item in mine:
        item.add_marker(pytest.mark.browser)
        item.add_marker(pytest.mark.xdist_group("browser"))
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    # Run each notebook's tests together (generic first, then its interactions), so that one
    # shared solution page / kernel at a time is alive. Harness self-tests come first.
    order = {a: n for n, a in enumerate(ASSIGNMENTS)}
    files = ["test_harness.py", "test_notebooks.py", "test_widgets.py", "test_validate.py"]

    def key(pair: tuple[int, pytest.Item]) -> tuple:
        n, item = pair
        a = _item_assignment(item)
        fname = Path(str(item.fspath)).name
        return (
            -1 if a is None else order.get(a, len(order)),
            files.index(fname) if fname in files else len(files),
            n,
        )

    slots = [n for n, i in enumerate(items) if i in mine]
    ordered = [i for _, i in sorted(enumerate(mine), key=key)]
    for slot, item in zip(slots, ordered):
        items[slot] = item


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


# ---------------------------------------------------------------------------------------------
# JupyterLab
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """PIDs of every process below `pid` (kernels, nbgrader validate)."""
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _write_settings(settings: Path) -> None:
    """JupyterLab user settings: no news/update pop-ups, every cell in the DOM."""
    files = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
            "windowingMode": "none",
            "kernelShutdown": True,
        },
        "@jupyterlab/apputils-extension/themes.jupyterlab-settings": {"theme": "JupyterLab Light"},
    }
    for name, data in files.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))


class JupyterLab:
    """A running JupyterLab server (see the `jupyter_lab` fixture)."""

    def __init__(self, root: Path, work: Path) -> None:
        self.root = root
        self.work = work
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ARTIFACTS / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        settings, workspaces, runtime = (
            self.work / d for d in ("settings", "workspaces", "runtime")
        )
        for d in (settings, workspaces, runtime):
            d.mkdir(parents=True, exist_ok=True)
        _write_settings(settings)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
        for k in ("COURSEKIT_HEADLESS", "NBGRADER_EXECUTION", "MPLBACKEND", "PYTEST_XDIST_WORKER"):
            env.pop(k, None)
        data = os.environ.get("COURSEKIT_DATA")
        if not data and (REPO.parent / "shared" / "data").is_dir():
            data = str(REPO.parent / "shared" / "data")
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(workspaces),
            JUPYTER_RUNTIME_DIR=str(runtime),
            JUPYTER_CONFIG_PATH=str(self.root / "autograder"),
            COURSEKIT_COURSE_ROOT=str(self.root),
            PYTHONUNBUFFERED="1",
            # Heavy cells (LeNet's full training, timing races) on a small budget; unlike
            # grading mode, widgets stay live — which is what these tests look at.
            COURSEKIT_QUICK="1",
        )
        if data:
            env["COURSEKIT_DATA"] = data
        jupyter = Path(sys.executable).parent / "jupyter"
        cmd = [str(jupyter), "lab"] if jupyter.exists() else [sys.executable, "-m", "jupyterlab"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        cmd += [
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--ServerApp.terminals_enabled=False",
        ]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")  # closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with {self.proc.returncode}; log:\n{self.log_tail()}"
                )
            try:
                self.api("GET", "/api/status", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"jupyter lab did not answer in {START_TIMEOUT}s; log:\n{self.log_tail()}"
                )
            time.sleep(0.2)  # polling interval while waiting for the server to answer

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text()[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Shut the server down, then stop by PID each of its children still running."""
        if self.proc is None:
            return
        pid = self.proc.pid
        children = _descendants(pid)
        if self.proc.poll() is None:
            try:
                self.api("POST", "/api/shutdown", timeout=5)
            except Exception:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        children += [c for c in _descendants(pid) if c not in children]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            left = [c for c in children if _alive(c)]
            for c in left:
                try:
                    os.kill(c, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while any(_alive(c) for c in left) and time.monotonic() < deadline:
                time.sleep(0.1)  # polling while the children exit
        self.proc = None
        self._log.close()


def _copy_course(dest: Path) -> None:
    for sub in ("solutions", "notebooks"):
        if (REPO / sub).is_dir():
            shutil.copytree(
                REPO / sub,
                dest / sub,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
            )
        else:
            (dest / sub).mkdir()
    (dest / "autograder").mkdir()
    shutil.copy2(
        REPO / "autograder" / "nbgrader_config.py", dest / "autograder" / "nbgrader_config.py"
    )


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("jupyterlab")
    root = work / "course"
    root.mkdir()
    _copy_course(root)
    server = JupyterLab(root, work)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Chromium
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# Console messages that are not the course's fault (none known so far). Each entry: a regex
# and why it is harmless.
IGNORED_CONSOLE = [
    (re.compile(r"favicon"), "the browser asks for a favicon"),
]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120]


# JavaScript run in the page. `findPanel(path)`: the NotebookPanel open on `path`.
JS_PRELUDE = """
window.__ck = window.__ck || {
  panel(path) {
    const app = window.jupyterapp;
    if (!app) return null;
    for (const w of app.shell.widgets('main')) {
      if (w.context && w.context.path === path && w.content && w.content.model) return w;
    }
    return null;
  },
  cells(path) {
    const p = this.panel(path);
    const out = [];
    p.content.widgets.forEach((cell, i) => {
      const m = cell.model;
      const nbg = (m.getMetadata && m.getMetadata('nbgrader')) || {};
      const item = {index: i, type: m.type, grade_id: nbg.grade_id || null,
                    grade: !!nbg.grade, solution: !!nbg.solution,
                    source: m.sharedModel.getSource()};
      if (m.type === 'code') {
        item.execution_count = m.executionCount;
        item.outputs = m.outputs.toJSON();
        item.prompt = (cell.node.querySelector('.jp-InputPrompt') || {}).textContent || '';
      }
      out.push(item);
    });
    return out;
  },
};
"""


class NotebookPage:
    """One notebook open in JupyterLab in its own browser context (own workspace)."""

    def __init__(self, lab: JupyterLab, browser: Any, path: str, label: str) -> None:
        self.lab = lab
        self.path = path
        self.label = label  # e.g. "solution 04_convolution_by_hand"
        self.console_errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1600, "height": 1000})
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.console_errors.append(f"page error: {exc}"))
        self.closed = False

    def _on_console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        text = msg.text
        for rx, _why in IGNORED_CONSOLE:
            if rx.search(text):
                return
        self.console_errors.append(f"console error: {text}")

    # -- opening and running ------------------------------------------------------------------

    def open(self) -> NotebookPage:
        workspace = f"t{uuid.uuid4().hex[:10]}"
        self.page.goto(
            f"{self.lab.url}/lab/workspaces/{workspace}/tree/{self.path}?reset&token={self.lab.token}"
        )
        self.page.wait_for_function(
            "(path) => {" + JS_PRELUDE + "const p = window.__ck.panel(path);"
            "return !!(p && p.context.isReady && p.sessionContext.session"
            " && p.sessionContext.session.kernel"
            " && p.sessionContext.session.kernel.status === 'idle'); }",
            arg=self.path,
            timeout=OPEN_TIMEOUT * 1000,
            polling=200,
        )
        self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.wait_for()
        return self

    def js(self, body: str, arg: Any = None) -> Any:
        """Evaluate `body` (a function body using `ck`, `panel`, `arg`) in the page."""
        return self.page.evaluate(
            "([path, arg]) => {"
            + JS_PRELUDE
            + "const ck = window.__ck; const panel = ck.panel(path);"
            + body
            + "}",
            [self.path, arg],
        )

    def command(self, command: str, args: dict | None = None) -> None:
        self.js(
            "panel.content.activate(); return window.jupyterapp.commands.execute(arg[0], arg[1]);",
            [command, args or {}],
        )

    def cells(self) -> list[dict]:
        return self.page.evaluate(
            "(path) => {" + JS_PRELUDE + "return window.__ck.cells(path); }", self.path
        )

    def wait_idle(self, timeout: float = RUN_ALL_TIMEOUT) -> None:
        """Wait until the kernel is idle and no cell is running or queued ([*])."""
        self.page.wait_for_function(
            "(path) => {"
            + JS_PRELUDE
            + """
            const p = window.__ck.panel(path);
            const k = p.sessionContext.session && p.sessionContext.session.kernel;
            if (!k || k.status !== 'idle') return false;
            for (const n of p.content.node.querySelectorAll('.jp-InputPrompt'))
              if (n.textContent.includes('*')) return false;
            return true; }""",
            arg=self.path,
            timeout=timeout * 1000,
            polling=250,
        )

    def run_all(self, timeout: float = RUN_ALL_TIMEOUT) -> float:
        """Run > Run All Cells from the menu bar; waits until done; returns the seconds taken."""
        t0 = time.monotonic()
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.start_sampler()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        # The first cell leaves "[ ]" once queued; then wait for everything to finish.
        self.page.wait_for_function(
            "(path) => {" + JS_PRELUDE + "return window.__ck.cells(path).some("
            "c => c.type === 'code' && (c.prompt.includes('*') || c.execution_count));}",
            arg=self.path,
            timeout=30_000,
            polling=100,
        )
        self.watch_until_idle(timeout)
        return time.monotonic() - t0

    def watch_until_idle(self, timeout: float = RUN_ALL_TIMEOUT) -> None:
        """wait_idle(), recording meanwhile what moves in each cell's output (progress bars,
        ipympl canvases) in ``self.seen``: {cell index: {"progress": [values...],
        "canvases": [distinct picture checksums...], "bars": most progress bars at once}}."""
        deadline = time.monotonic() + timeout
        while True:
            self._observe()
            try:
                self.wait_idle(timeout=min(0.5, max(deadline - time.monotonic(), 0.05)))
                self._observe()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    running = self.running_cell()
                    raise AssertionError(
                        f"{self.label}: still running after {timeout:.0f}s"
                        + (f", at {running}" if running else "")
                    ) from exc

    def running_cell(self) -> str | None:
        """The cell now running ("[*]" and the kernel busy), scrolled into view; or None."""
        index = self.js(
            """const k = panel.sessionContext.session && panel.sessionContext.session.kernel;
            let found = null;
            panel.content.widgets.forEach((cell, i) => {
              const p = cell.node.querySelector('.jp-InputPrompt');
              if (found === null && p && p.textContent.includes('*')) found = i;
            });
            if (found !== null) panel.content.widgets[found].node.scrollIntoView();
            return found;"""
        )
        return None if index is None else self.cell_label(self.cells()[index])

    # What moves in the outputs is sampled by the page itself (every 100 ms, a timer in the
    # browser): a busy machine slows the test's own polling, not what the page records.
    _SAMPLER = """
    if (!window.__ckSampler) window.__ckSampler = {};
    const key = arg;
    if (window.__ckSampler[key]) clearInterval(window.__ckSampler[key].timer);
    const seen = {};
    const sample = () => {
      panel.content.widgets.forEach((cell, i) => {
        if (cell.model.type !== 'code') return;
        const area = cell.node.querySelector('.jp-OutputArea');
        if (!area) return;
        const bars = [...area.querySelectorAll('.widget-hprogress .progress-bar, .widget-vprogress .progress-bar')]
          .map(b => b.style.width || String(b.value));
        const sums = [...area.querySelectorAll('.jupyter-matplotlib-figure canvas:first-of-type')].map(c => {
          if (!c.width || !c.height) return 0;
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let h = 0; for (let k = 0; k < d.length; k += 7) h = (h * 31 + d[k]) | 0; return h; });
        if (!bars.length && !sums.length) return;
        const rec = seen[i] = seen[i] || {progress: [], canvases: [], bars: 0};
        rec.bars = Math.max(rec.bars, bars.length);
        for (const b of bars) if (rec.progress[rec.progress.length - 1] !== b) rec.progress.push(b);
        for (const h of sums) if (!rec.canvases.includes(h)) rec.canvases.push(h);
      });
    };
    window.__ckSampler[key] = {seen, sample, timer: setInterval(sample, 100)};
    sample();
    return true;"""

    seen: dict[int, dict] = {}  # set per page by start_sampler / _observe

    def start_sampler(self) -> None:
        """Start recording, in the page, what moves in each cell's output."""
        self.seen = {}
        self.js(self._SAMPLER, self.path)

    def _observe(self) -> None:
        snap = self.js(
            "const s = (window.__ckSampler || {})[arg]; if (!s) return {}; s.sample(); return s.seen;",
            self.path,
        )
        self.seen = {int(k): v for k, v in (snap or {}).items()}

    def run_cells(self, indices: list[int], timeout: float = RUN_ALL_TIMEOUT) -> None:
        """Select each cell in turn and run it (Shift+Enter's command), waiting for each."""
        for i in indices:
            self.js(
                "panel.content.activeCellIndex = arg; panel.content.deselectAll();"
                "return window.jupyterapp.commands.execute('notebook:run-cell');",
                i,
            )
            self.page.wait_for_function(
                "([path, i]) => {" + JS_PRELUDE + "const c = window.__ck.cells(path)[i];"
                "return c.execution_count != null && !c.prompt.includes('*');}",
                arg=[self.path, i],
                timeout=timeout * 1000,
                polling=100,
            )
        self.wait_idle(timeout)

    # -- reading the result ---------------------------------------------------------------------

    def cell_label(self, cell: dict) -> str:
        gid = f" ({cell['grade_id']})" if cell.get("grade_id") else ""
        first = cell["source"].strip().splitlines()[0][:70] if cell["source"].strip() else ""
        return f"{self.label}, cell {cell['index']}{gid}: {first!r}"

    def error_outputs(self, cells: list[dict] | None = None) -> list[str]:
        """A line per error output (or traceback printed to stderr), naming notebook and cell."""
        found = []
        for cell in cells if cells is not None else self.cells():
            for out in cell.get("outputs") or []:
                if out.get("output_type") == "error":
                    found.append(
                        f"{self.cell_label(cell)} -> {out.get('ename')}: {out.get('evalue')}"
                    )
                elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                    text = "".join(out.get("text", ""))
                    if "Traceback (most recent call last)" in text:
                        found.append(
                            f"{self.cell_label(cell)} -> traceback on stderr: {text[-300:]}"
                        )
        return found

    def widget_problems(self) -> list[str]:
        """Widget outputs that did not render as widgets (text fallback, error, still loading)."""
        return self.js(
            """
            const problems = [];
            panel.content.widgets.forEach((cell, i) => {
              if (cell.model.type !== 'code') return;
              const first = cell.model.sharedModel.getSource().split('\\n')[0].slice(0, 60);
              const where = `cell ${i} ${JSON.stringify(first)}`;
              const outs = cell.model.outputs.toJSON();
              const wanted = outs.filter(o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length;
              const nodes = cell.node.querySelectorAll('.jp-OutputArea-output');
              let rendered = 0;
              nodes.forEach(n => {
                const text = n.textContent || '';
                if (/Error displaying widget|model not found/i.test(text))
                  problems.push(`${where}: widget error: ${text.slice(0, 200)}`);
                if (n.querySelector('.jupyter-widgets, .widget-container, .jupyter-matplotlib')) rendered++;
                else if (/^\\s*(VBox|HBox|Box|GridBox|Tab|Accordion|Output|Canvas|IntSlider|FloatSlider|Dropdown|Button|Play|[A-Z][A-Za-z]+)\\(\\s*(children|value|layout|description)=/.test(text))
                  problems.push(`${where}: widget shown as its text fallback: ${text.slice(0, 120)}`);
              });
              if (rendered < wanted) problems.push(`${where}: ${wanted} widget output(s), ${rendered} rendered as widgets`);
            });
            return problems;
            """
        )

    def widget_count(self) -> int:
        return self.js(
            "return panel.content.node.querySelectorAll("
            "'.jp-OutputArea-output .jupyter-widgets, .jp-OutputArea-output .jupyter-matplotlib').length;"
        )

    def output_locator(self, index: int) -> Any:
        return (
            self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell")
            .nth(index)
            .locator(".jp-OutputArea")
        )

    def widget(self, css_class: str) -> Any:
        """The first rendered widget with `css_class` (e.g. "coursekit-stepper")."""
        return self.page.locator(f".jp-NotebookPanel:not(.lm-mod-hidden) .{css_class}").first

    # -- widgets, as a person uses them ---------------------------------------------------------

    def control(self, widget: Any, kind: str, description: str) -> Any:
        """The ipywidgets control of `kind` ("slider", "dropdown", "checkbox", "toggle",
        "button", "play") inside `widget` whose label reads `description`."""
        css = {
            "slider": ".widget-slider",
            "dropdown": ".widget-dropdown",
            "checkbox": ".widget-checkbox",
            "toggle": ".widget-toggle-buttons, .widget-toggle-button",
            "radio": ".widget-radio",
        }[kind]
        label = re.compile(rf"^\s*{re.escape(description)}\s*$")
        found = widget.locator(css).filter(has=self.page.locator(".widget-label", has_text=label))
        if found.count() == 0:  # checkboxes carry their description in a <span>
            found = widget.locator(css).filter(has_text=label)
        return found.first

    def set_slider(self, widget: Any, description: str, value: Any) -> None:
        """Type `value` into the slider's readout and press Enter (as a person would for an
        exact value); the kernel sees one change."""
        slider = self.control(widget, "slider", description)
        readout = slider.locator(".widget-readout")
        readout.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(str(value))
        self.page.keyboard.press("Enter")

    def select(self, widget: Any, description: str, option: str) -> None:
        self.control(widget, "dropdown", description).locator("select").select_option(label=option)

    def button(self, widget: Any, name: str) -> Any:
        """A button (or a toggle button) in `widget` by its text, tooltip or icon title."""
        rx = re.compile(rf"^\s*{re.escape(name)}\s*$", re.I)
        by_text = widget.locator("button").filter(has_text=rx)
        if by_text.count():
            return by_text.first
        return widget.locator(f"button[title='{name}' i]").first

    def canvas(self, widget: Any, n: int = 0) -> Any:
        """The image canvas of the n-th ipympl figure inside `widget`."""
        return widget.locator(".jupyter-matplotlib-figure").nth(n).locator("canvas").first

    def red_boxes(self, canvas: Any, gap: int = 12) -> list[dict]:
        """Bounding boxes {x0, x1, y0, y1, w, h} (canvas pixels, left to right) of the reddish
        highlights drawn on a canvas: runs of columns holding red-tinted pixels, split where
        `gap` columns in a row hold none."""
        return canvas.evaluate(
            """(c, gap) => {
              const ctx = c.getContext('2d'); const {width: W, height: H} = c;
              const d = ctx.getImageData(0, 0, W, H).data;
              const cols = new Array(W).fill(null);
              for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
                const i = 4 * (y * W + x), r = d[i], g = d[i + 1], b = d[i + 2];
                if (d[i + 3] > 0 && r > 120 && r - g > 18 && r - b > 18) {
                  const col = cols[x] || (cols[x] = [y, y]);
                  col[0] = Math.min(col[0], y); col[1] = Math.max(col[1], y);
                }
              }
              const boxes = []; let cur = null, empty = 0;
              for (let x = 0; x < W; x++) {
                if (cols[x]) {
                  if (!cur) { cur = {x0: x, x1: x, y0: cols[x][0], y1: cols[x][1]}; boxes.push(cur); }
                  cur.x1 = x; cur.y0 = Math.min(cur.y0, cols[x][0]); cur.y1 = Math.max(cur.y1, cols[x][1]);
                  empty = 0;
                } else if (cur && ++empty > gap) cur = null;
              }
              return boxes.map(b => ({...b, w: b.x1 - b.x0 + 1, h: b.y1 - b.y0 + 1}));
            }""",
            gap,
        )

    def kernel_exec(self, code: str, timeout: float = 60) -> str:
        """Run `code` in the notebook's kernel *behind the notebook's back* (no cell, no
        history) and return what it printed. For test probes only."""
        return self.page.evaluate(
            """async ([path, code, timeout]) => {
              const p = window.__ck.panel(path); const k = p.sessionContext.session.kernel;
              const f = k.requestExecute({code, store_history: false, silent: false});
              let text = '';
              f.onIOPub = m => {
                if (m.header.msg_type === 'stream') text += m.content.text;
                if (m.header.msg_type === 'error') text += 'ERROR ' + m.content.ename + ': ' + m.content.evalue;
              };
              await Promise.race([f.done, new Promise((_, no) => setTimeout(() => no(new Error('kernel probe timed out')), timeout))]);
              return text; }""",
            [self.path, code, timeout * 1000],
        )

    def image_diff(self, a: str, b: str) -> dict:
        """Compare two images (data URLs): {n: pixels that differ, x0, x1, y0, y1: their
        bounding box}, in image pixels."""
        return self.page.evaluate(
            """async ([a, b]) => {
              const load = src => new Promise((ok, no) => { const i = new Image(); i.onload = () => ok(i); i.onerror = no; i.src = src; });
              const [ia, ib] = await Promise.all([load(a), load(b)]);
              const W = Math.max(ia.width, ib.width), H = Math.max(ia.height, ib.height);
              const px = img => { const c = document.createElement('canvas'); c.width = W; c.height = H;
                const x = c.getContext('2d'); x.drawImage(img, 0, 0); return x.getImageData(0, 0, W, H).data; };
              const da = px(ia), db = px(ib);
              let n = 0, x0 = W, x1 = -1, y0 = H, y1 = -1;
              for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
                const i = 4 * (y * W + x);
                if (Math.abs(da[i] - db[i]) + Math.abs(da[i+1] - db[i+1]) + Math.abs(da[i+2] - db[i+2]) + Math.abs(da[i+3] - db[i+3]) > 24) {
                  n++; if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
                }
              }
              return {n, x0, x1, y0, y1, width: W, height: H};
            }""",
            [a, b],
        )

    def assert_canvas_in_sync(self, canvas: Any, what: str, timeout: float = 15) -> None:
        """The canvas in the browser shows what the kernel's figure holds: waits until the
        picture equals (all but ≤ 20 pixels) a fresh rendering of one of the kernel's ipympl
        figures. Catches frames lost or mis-applied on the way (a stale or garbled plot)."""
        self.wait_idle(60)
        out = self.kernel_exec(
            "import base64 as _b, gc as _gc, io as _io, json as _j\n"
            "from ipympl.backend_nbagg import Canvas as _C\n"
            "_out = []\n"
            "for _o in _gc.get_objects():\n"
            "    if isinstance(_o, _C):\n"
            "        _f = _io.BytesIO()\n"
            "        try:\n"
            "            _o.figure.savefig(_f, format='png', dpi=_o.figure.dpi)\n"
            "        except Exception:\n"
            "            continue\n"
            "        _out.append('data:image/png;base64,' + _b.b64encode(_f.getvalue()).decode())\n"
            "print(_j.dumps(_out))\n"
            "del _out, _o, _f\n"
        )
        try:
            images = json.loads(next(ln for ln in out.splitlines() if ln.startswith("[")))
        except Exception as exc:
            raise AssertionError(
                f"{self.label}: {what}: could not read the kernel's figures: {out[-500:]}"
            ) from exc
        try:
            canvas.page.wait_for_function(
                """async ([c, images]) => {
                  const W = c.width, H = c.height;
                  const mine = c.getContext('2d').getImageData(0, 0, W, H).data;
                  for (const src of images) {
                    const img = await new Promise(ok => { const i = new Image(); i.onload = () => ok(i); i.src = src; });
                    if (img.width !== W || img.height !== H) continue;
                    const t = document.createElement('canvas'); t.width = W; t.height = H;
                    const x = t.getContext('2d'); x.drawImage(img, 0, 0);
                    const theirs = x.getImageData(0, 0, W, H).data;
                    let bad = 0;
                    for (let i = 0; i < mine.length; i += 4)
                      if (Math.abs(mine[i] - theirs[i]) + Math.abs(mine[i+1] - theirs[i+1]) + Math.abs(mine[i+2] - theirs[i+2]) > 24) bad++;
                    if (bad <= 20) return true;
                  }
                  return false; }""",
                arg=[canvas.element_handle(), images],
                timeout=timeout * 1000,
                polling=250,
            )
        except Exception as exc:
            raise AssertionError(
                f"{self.label}: {what}: the canvas in the browser does not show the kernel's figure "
                f"(a lost or garbled frame: the picture is stale or wrong); see the screenshot"
            ) from exc

    def wait_canvases_drawn(self, widget: Any, what: str, timeout: float = 30) -> None:
        """Wait until every ipympl canvas inside `widget` shows a picture (not blank)."""
        widget.scroll_into_view_if_needed()
        try:
            widget.page.wait_for_function(
                """el => [...el.querySelectorAll('.jupyter-matplotlib-figure')].every(f => {
                  const c = f.querySelector('canvas'); if (!c || !c.width || !c.height) return false;
                  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  for (let i = 0; i < d.length; i += 4 * 13)
                    if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) return true;
                  return false; })""",
                arg=widget.element_handle(),
                timeout=timeout * 1000,
                polling=200,
            )
        except Exception as exc:
            raise AssertionError(
                f"{self.label}: {what}: a plot in the widget stayed blank for {timeout}s"
            ) from exc

    def canvas_data(self, canvas: Any) -> str:
        return canvas.evaluate("c => c.toDataURL()")

    def wait_canvas_change(self, canvas: Any, before: str, what: str, timeout: float = 30) -> str:
        """Wait until the canvas shows something other than `before`; returns the new image."""
        try:
            canvas.page.wait_for_function(
                "([c, before]) => c.toDataURL() !== before",
                arg=[canvas.element_handle(), before],
                timeout=timeout * 1000,
                polling=100,
            )
        except Exception as exc:
            raise AssertionError(
                f"{self.label}: {what}: the picture did not change in {timeout}s"
            ) from exc
        return self.canvas_data(canvas)

    def wait_text_change(self, locator: Any, before: str, what: str, timeout: float = 30) -> str:
        try:
            locator.page.wait_for_function(
                "([el, before]) => el.innerText !== before",
                arg=[locator.element_handle(), before],
                timeout=timeout * 1000,
                polling=100,
            )
        except Exception as exc:
            raise AssertionError(
                f"{self.label}: {what}: the text stayed {before!r} for {timeout}s"
            ) from exc
        return locator.inner_text()

    def screenshot(self, name: str, locator: Any = None) -> Path:
        path = ARTIFACTS.joinpath(*(_slug(part) for part in name.split("/")))
        path = path.with_name(path.name + ".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        if locator is not None:
            locator.scroll_into_view_if_needed()
            locator.screenshot(path=str(path), animations="disabled")
        else:
            self.page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            # Shut the kernel down through the server (closing the tab would leave it running).
            kid = self.js(
                "const k = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;"
                "return k ? k.id : null;"
            )
            if kid:
                self.lab.api("DELETE", f"/api/kernels/{kid}")
        except Exception:
            pass
        self.context.close()


class Lab:
    """What a test uses: open notebooks; failures get screenshots of every page opened."""

    def __init__(self, server: JupyterLab, browser: Any) -> None:
        self.server = server
        self.browser = browser
        self.pages: list[NotebookPage] = []

    @property
    def root(self) -> Path:
        return self.server.root

    def open(self, path: str, label: str | None = None) -> NotebookPage:
        page = NotebookPage(self.server, self.browser, path, label or path)
        self.pages.append(page)
        try:
            return page.open()
        except Exception as exc:
            raise AssertionError(
                f"{page.label}: the notebook did not open with an idle kernel: {exc}"
            ) from exc

    def open_solution(self, assignment: str) -> NotebookPage:
        return self.open(f"solutions/{assignment}/{assignment}.ipynb", f"solution {assignment}")

    def open_student(self, assignment: str) -> NotebookPage:
        return self.open(f"notebooks/{assignment}/{assignment}.ipynb", f"student {assignment}")


def _save_failure_screenshots(item: pytest.Item, pages: list[NotebookPage]) -> None:
    rep = getattr(item, "rep_call", None) or getattr(item, "rep_setup", None)
    if rep is None or not rep.failed:
        return
    saved = []
    for n, page in enumerate(pages):
        if page.closed:
            continue
        try:
            saved.append(page.screenshot(f"failures/{_slug(item.nodeid.split('::', 1)[-1])}-{n}"))
        except Exception as exc:  # a crashed page: say so rather than hide the test's failure
            saved.append(f"(no screenshot of {page.label}: {exc})")
    if saved:
        rep.sections.append(("browser screenshots", "\n".join(str(s) for s in saved)))
        print("\nscreenshots:", *saved, sep="\n  ")


@pytest.fixture
def lab(request: pytest.FixtureRequest, jupyter_lab: JupyterLab, browser: Any) -> Iterator[Lab]:
    helper = Lab(jupyter_lab, browser)
    yield helper
    _save_failure_screenshots(request.node, helper.pages)
    for page in helper.pages:
        page.close()


# ---------------------------------------------------------------------------------------------
# one executed solution page per notebook, shared
# ---------------------------------------------------------------------------------------------


class SolutionRun:
    def __init__(self, page: NotebookPage, seconds: float, error: str | None) -> None:
        self.page = page
        self.seconds = seconds
        self.error = error  # why Run All did not finish, or None


_OPEN_RUNS: dict[str, SolutionRun] = {}  # the executed solution pages still open


def _close_solution_pages() -> None:
    for run in _OPEN_RUNS.values():
        run.page.close()  # and its kernel
    _OPEN_RUNS.clear()


@pytest.fixture(scope="session")
def _solution_cache(jupyter_lab: JupyterLab, browser: Any) -> Iterator[dict[str, SolutionRun]]:
    yield _OPEN_RUNS
    _close_solution_pages()


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the last browser test of a run (on this worker), close the executed solution page
    and shut its kernel down: an open JupyterLab page keeps a renderer and a kernel busy, which
    would slow every test that runs after it."""
    if _OPEN_RUNS and (nextitem is None or not nextitem.get_closest_marker("browser")):
        _close_solution_pages()


@pytest.fixture
def solution_page(
    request: pytest.FixtureRequest,
    _solution_cache: dict[str, SolutionRun],
    jupyter_lab: JupyterLab,
    browser: Any,
) -> Iterator[Callable[[str], SolutionRun]]:
    """solution_page(assignment) → the solution notebook opened and Run All'd (once per session;
    the page of the previous notebook is closed first, so one kernel is alive at a time)."""
    used: list[NotebookPage] = []

    def get(assignment: str) -> SolutionRun:
        if assignment not in _solution_cache:
            for other in list(_solution_cache):
                _solution_cache.pop(other).page.close()
            page = NotebookPage(
                jupyter_lab,
                browser,
                f"solutions/{assignment}/{assignment}.ipynb",
                f"solution {assignment}",
            )
            error, seconds = None, float("nan")
            try:
                page.open()
                seconds = page.run_all(RUN_ALL_TIMEOUTS.get(assignment, RUN_ALL_TIMEOUT))
            except Exception as exc:
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            _solution_cache[assignment] = SolutionRun(page, seconds, error)
            print(f"\n{page.label}: Run All took {seconds:.1f}s" + (f" ({error})" if error else ""))
        run = _solution_cache[assignment]
        used.append(run.page)
        if run.error:
            pytest.fail(f"{run.page.label}: Run All did not complete: {run.error}")
        return run

    yield get
    _save_failure_screenshots(request.node, used)


@pytest.fixture
def notebook_run(
    request: pytest.FixtureRequest, solution_page: Callable[[str], SolutionRun]
) -> SolutionRun:
    """For a test marked ``@pytest.mark.notebook(name)``: that solution notebook, Run All'd
    (shared); skipped while the notebook has not landed."""
    marker = request.node.get_closest_marker("notebook")
    assert marker, "notebook_run needs @pytest.mark.notebook(name)"
    name = marker.args[0]
    if name not in solution_assignments():
        pytest.skip(f"solutions/{name} does not exist yet")
    return solution_page(name)
