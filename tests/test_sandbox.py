"""The sandboxed kernel on its own: its clock, its uid, and what one student leaves behind."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time

import pytest

from coursekit.grading import sandbox as sb
from coursekit.grading.config import Limits
from coursekit.grading.kernel import Kernel

pytestmark = pytest.mark.skipif(
    not sb.sandbox_available()[0], reason="needs the system package bubblewrap (the sandbox)"
)
as_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="per-uid process caps and uid leases need root"
)

FORK_TO_THE_CAP = """
import os
kids = 0
while kids < 500:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        os.execv('/bin/sh', ['sh', '-c', 'sleep 600'])
    kids += 1
print('children', kids)
"""


def _limits(**kw) -> Limits:
    return dataclasses.replace(Limits(), **{"cell_timeout_s": 3, "notebook_timeout_s": 120, **kw})


@as_root
def test_a_student_at_the_process_cap_still_gets_a_timeout_not_a_grader_error():
    with Kernel.start(_limits(max_processes=24)) as k:
        out, err = k.run_cell(FORK_TO_THE_CAP)
        assert err is None, err
        text = "".join(o.get("text", "") for o in out)
        assert "children" in text and int(text.split()[-1]) < 24, text  # the cap held
        t0 = time.monotonic()
        out, err = k.run_cell("while True:\n    pass\n")
        assert err is not None and err.get("timeout"), err  # the kernel's own clock still ran
        assert time.monotonic() - t0 < 3 + 5
        out, err = k.run_cell("print(6 * 7)")
        assert err is None and "42" in "".join(o.get("text", "") for o in out)


@as_root
def test_processes_left_behind_with_the_sandbox_uid_are_ended_before_the_next_kernel():
    uid = sb.lease_uid(0)
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    stray = subprocess.Popen(
        [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sleep", "600"],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 5
        while stray.pid not in sb.pids_of(uid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stray.pid in sb.pids_of(uid)
        with Kernel.start(_limits()) as k:
            assert stray.wait(timeout=5) == -9  # ended by the grader, not left to eat the cap
            out, err = k.run_cell("import os\nprint(os.getuid())")
            assert err is None and str(uid) in "".join(o.get("text", "") for o in out)
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()


@as_root
def test_two_grading_processes_never_share_a_sandbox_uid():
    mine = sb.lease_uid(0)
    code = "from coursekit.grading.sandbox import lease_uid; print(lease_uid(0))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    theirs = int(other.stdout.strip())
    assert theirs != mine and sb.UID_BASE <= theirs < sb.UID_BASE + sb.UID_RANGE
    assert sb.lease_uid(5) == mine  # a process keeps its lease


def test_nested_deadlines_keep_the_earlier_one():
    import threading

    from coursekit.grading.runner import Watchdog

    dog = Watchdog(threading.get_ident())
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with dog.armed(0.5):
            with dog.armed(30):  # a callback's own, longer limit must not extend the cell's
                pass
            time.sleep(5)
    assert dog.fired and time.monotonic() - t0 < 3
    with dog.armed(0.2):  # re-armed after firing: quiet if the block ends in time
        pass
    time.sleep(0.4)


def test_proxies_forward_operators_and_return_the_arguments_state():
    """Remote proxies: + - * / ** and unary - run in the sandbox (the student's own __add__...);
    call_keeping_arguments brings back the arguments as the student's code left them."""
    import torch

    from coursekit.checks import call_keeping_arguments, reset_remote_caller, set_remote_caller

    code = (
        "import torch\n"
        "class V:\n    def __init__(self, d): self.data = d\n"
        "    def __add__(self, o): return V(self.data + (o.data if isinstance(o, V) else o))\n"
        "    __radd__ = __add__\n"
        "    def __mul__(self, o): return V(self.data * (o.data if isinstance(o, V) else o))\n"
        "    def __neg__(self): return V(-self.data)\n"
        "def fill_(W):\n    W.fill_(2.0)\n    return W\n"
        "def leaves_grad(x):\n    x.requires_grad_(True)\n    (x * x).sum().backward()\n    return 0.0\n"
    )
    # importing torch in a fresh sandbox takes seconds on a loaded machine: give it its own cell
    # with a generous bound, so the 3 s limit below times the student's code only
    with Kernel.start(_limits(cell_timeout_s=120)) as k:
        assert k.run_cell("import torch")[1] is None
        assert k.run_cell(code)[1] is None
        names = k.lookup(["V", "fill_", "leaves_grad"])
        a, b = names["V"](2.0), names["V"](3.0)
        assert (a * b + 1).data == 7.0 and (-a).data == -2.0 and (1 + a).data == 3.0
        token = set_remote_caller(k.call_keeping_arguments)
        try:
            _, after, _ = call_keeping_arguments(names["fill_"], torch.zeros(3))
            assert torch.equal(after[0], torch.full((3,), 2.0))
            _, after, _ = call_keeping_arguments(names["leaves_grad"], torch.ones(2))
            assert after[0].requires_grad and torch.equal(after[0].grad, torch.full((2,), 2.0))
        finally:
            reset_remote_caller(token)


def test_count_lines_counts_the_students_own_lines_in_the_sandbox():
    """checks.count_lines through the grader: each proxied call counts, in the sandbox, the lines
    of the notebook's own code it ran (a loop grows with its data; library code is not counted)."""
    import numpy as np

    from coursekit.checks import count_lines, reset_remote_line_counter, set_remote_line_counter

    code = (
        "import numpy as np\n"
        "def looped(x):\n    total = 0.0\n    for v in x:\n        total += v\n    return total\n"
        "def vectorised(x):\n    return float(np.sum(x))\n"
    )
    with Kernel.start(_limits()) as k:
        assert k.run_cell(code)[1] is None
        names = k.lookup(["looped", "vectorised"])
        token = set_remote_line_counter(k.counting_lines)
        try:
            counts = {}
            for fn in ("looped", "vectorised"):
                for n in (10, 1000):
                    with count_lines() as c:
                        assert names[fn](np.ones(n)) == n
                    counts[fn, n] = c.lines
        finally:
            reset_remote_line_counter(token)
        names["looped"](np.ones(5))  # not counted outside the block: no count, no error
    assert counts["looped", 1000] - counts["looped", 10] >= 2 * 990
    assert counts["vectorised", 1000] == counts["vectorised", 10] <= 2
