"""Notebook 04, convolution by hand: its structure, its test cells, its stepper, its grading.

Fast tests run each test cell in this process the way the grader does (a fresh namespace that
holds only the student's functions) against the solution, the blank stubs and known wrong
answers. Slow tests execute the solution notebook headless and grade one small class through
the real pipeline (once per module).

    .venv/bin/python -m pytest tests/test_nb04_convolution.py -x            # all (~2-3 min)
    .venv/bin/python -m pytest tests/test_nb04_convolution.py -m "not slow"  # fast (~30 s)

The demo class of `make demo` (autograder/demo_class/) is generated from the same answers:

    .venv/bin/python tests/test_nb04_convolution.py --write-demo-class
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from gradekit import graded_class, register_students

from coursekit.checks import CheckFailed
from coursekit.grading.testcell import run_test_cell as run_one_test_cell
from coursekit.notebooks import (
    cells_by_grade_id,
    release_notebook,
    source_notebook,
    split_hidden,
    submission_from,
)

A = "04_convolution_by_hand"
ROOT = Path(__file__).resolve().parents[1]
EXERCISES = {  # function: points
    "cross_correlate2d": 2,
    "convolve2d": 1,
    "conv_output_size": 1,
    "conv2d_naive": 3,
    "conv2d_num_params": 1,
    "pool2d": 2,
    "conv2d_fast": 3,
}
TOTAL = sum(EXERCISES.values())

# --- answers: known mistakes, other correct ways, the demo class' troublemakers ----------------

XCORR_FLIPPED = """
def cross_correlate2d(x, k):
    x = np.asarray(x, dtype=float); k = np.asarray(k, dtype=float)[::-1, ::-1]
    kh, kw = k.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i:i + kh, j:j + kw] * k)
    return out
"""
XCORR_OFF_BY_ONE = """
def cross_correlate2d(x, k):
    x = np.asarray(x, dtype=float); k = np.asarray(k, dtype=float)
    kh, kw = k.shape
    out = np.zeros((x.shape[0] - kh, x.shape[1] - kw))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i:i + kh, j:j + kw] * k)
    return out
"""
XCORR_SCIPY = """
import scipy.signal
def cross_correlate2d(x, k):
    return scipy.signal.correlate2d(np.asarray(x, float), np.asarray(k, float), mode="valid")
"""
XCORR_FLOAT32 = """
def cross_correlate2d(x, k):
    x = np.asarray(x, dtype=np.float32); k = np.asarray(k, dtype=np.float32)
    kh, kw = k.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw))
    return np.einsum("ijmn,mn->ij", win, k)
"""
CONV_NOT_FLIPPED = """
def convolve2d(x, k):
    return cross_correlate2d(x, k)
"""
CONV_ROWS_ONLY = """
def convolve2d(x, k):
    return cross_correlate2d(x, np.asarray(k)[::-1])
"""
CONV_TRANSPOSED = """
def convolve2d(x, k):
    return cross_correlate2d(x, np.asarray(k).T)
"""
SIZE_CEIL = """
import math
def conv_output_size(n, f, padding=0, stride=1):
    return math.ceil((n - f + 2 * padding) / stride) + 1
"""
SIZE_TRUEDIV = """
def conv_output_size(n, f, padding=0, stride=1):
    return (n - f + 2 * padding) / stride + 1
"""
SIZE_PAD_ONCE = """
def conv_output_size(n, f, padding=0, stride=1):
    return (n - f + padding) // stride + 1
"""
SIZE_LOOPS = """
def conv_output_size(n, f, padding=0, stride=1):
    while True:
        pass
"""
SIZE_WARNS = """
import sys, warnings
def conv_output_size(n, f, padding=0, stride=1):
    warnings.warn("conv_output_size: remember PyTorch floors")
    print("debug: n, f, padding, stride =", n, f, padding, stride, file=sys.stderr)
    return (n - f + 2 * padding) // stride + 1
"""

_NAIVE = """
def conv2d_naive(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x, dtype=float); w = np.asarray(w, dtype=float)
    N, C, H, W = x.shape; F_, _, KH, KW = w.shape
    p, s = padding, stride
    xp = PAD
    Ho = (xp.shape[2] - KH) // s + 1; Wo = (xp.shape[3] - KW) // s + 1
    out = np.zeros((N, F_, Ho, Wo))
    for n in range(N):
        for f in range(F_):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, f, i, j] = DOT
            if b is not None and BIAS:
                out[n, f] += b[f]
    return out
"""


def naive(
    pad="np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))",
    dot="np.sum(xp[n, :, i*s:i*s+KH, j*s:j*s+KW] * w[f])",
    bias="True",
):
    return _NAIVE.replace("PAD", pad).replace("DOT", dot).replace("BIAS", bias)


NAIVE_OK = naive()
NAIVE_FLIPPED = naive(dot="np.sum(xp[n, :, i*s:i*s+KH, j*s:j*s+KW] * w[f, :, ::-1, ::-1])")
NAIVE_FIRST_CHANNEL = naive(dot="np.sum(xp[n, 0, i*s:i*s+KH, j*s:j*s+KW] * w[f, 0])")
NAIVE_ONE_SIDED = naive(pad="np.pad(x, ((0, 0), (0, 0), (0, 2 * p), (0, 2 * p)))")
NAIVE_NO_BIAS = naive(bias="False")
NAIVE_TORCH = """
import torch
def conv2d_naive(x, w, b=None, stride=1, padding=0):
    t = lambda a: None if a is None else torch.as_tensor(np.asarray(a, dtype=float))
    return torch.nn.functional.conv2d(t(x), t(w), t(b), stride=stride, padding=padding).numpy()
"""
NAIVE_CRASH = """
import os
def conv2d_naive(x, w, b=None, stride=1, padding=0):
    os.kill(os.getpid(), 9)
"""
PARAMS_WARNS = """
import sys
def conv2d_num_params(c_in, c_out, kernel_size, bias=True):
    print("DeprecationWarning: counting by hand", file=sys.stderr)
    return c_out * (c_in * kernel_size ** 2 + (1 if bias else 0))
"""
PARAMS_NO_BIAS = """
def conv2d_num_params(c_in, c_out, kernel_size, bias=True):
    return c_out * c_in * kernel_size * kernel_size
"""
PARAMS_NO_CIN = """
def conv2d_num_params(c_in, c_out, kernel_size, bias=True):
    return c_out * (kernel_size * kernel_size + int(bias))
"""
POOL_SWAPPED = """
def pool2d(x, size, stride=None, mode="max"):
    x = np.asarray(x, dtype=float); s = stride or size
    win = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::s, ::s]
    return win.mean(axis=(-2, -1)) if mode == "max" else win.max(axis=(-2, -1))
"""
POOL_STRIDE1 = """
def pool2d(x, size, stride=None, mode="max"):
    x = np.asarray(x, dtype=float)
    win = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(2, 3))
    return win.max(axis=(-2, -1)) if mode == "max" else win.mean(axis=(-2, -1))
"""
POOL_LOOPS_TORCH = """
import torch
def pool2d(x, size, stride=None, mode="max"):
    s = stride or size
    t = torch.as_tensor(np.asarray(x, dtype=float))
    N, C, H, W = t.shape
    Ho, Wo = (H - size) // s + 1, (W - size) // s + 1
    out = torch.zeros(N, C, Ho, Wo, dtype=t.dtype)
    for i in range(Ho):
        for j in range(Wo):
            win = t[:, :, i*s:i*s+size, j*s:j*s+size].reshape(N, C, -1)
            out[:, :, i, j] = win.amax(-1) if mode == "max" else win.mean(-1)
    return out
"""
FAST_TORCH = """
import torch.nn.functional as F
def conv2d_fast(x, w, b=None, stride=1, padding=0):
    t = lambda a: None if a is None else torch.as_tensor(np.asarray(a))
    return F.conv2d(t(x), t(w), t(b), stride=stride, padding=padding).numpy()
"""
FAST_UNFOLD = """
import torch
def conv2d_fast(x, w, b=None, stride=1, padding=0):
    x = torch.as_tensor(np.asarray(x)); w = torch.as_tensor(np.asarray(w, dtype=np.asarray(x).dtype))
    N, C, H, W = x.shape; F_, _, KH, KW = w.shape
    cols = torch.nn.functional.unfold(x, (KH, KW), padding=padding, stride=stride)  # (N, C*KH*KW, L)
    out = w.reshape(F_, -1) @ cols
    if b is not None:
        out = out + torch.as_tensor(np.asarray(b, dtype=np.asarray(x).dtype))[:, None]
    Ho = (H + 2 * padding - KH) // stride + 1; Wo = (W + 2 * padding - KW) // stride + 1
    return out.reshape(N, F_, Ho, Wo).numpy()
"""
# correct, with torch's Tensor.unfold (a view, like numpy's stride tricks): must pass
FAST_TENSOR_UNFOLD = """
import torch
def conv2d_fast(x, w, b=None, stride=1, padding=0):
    x = torch.as_tensor(np.asarray(x)); w = torch.as_tensor(np.asarray(w)).to(x.dtype)
    xp = torch.zeros(x.shape[0], x.shape[1], x.shape[2] + 2 * padding, x.shape[3] + 2 * padding, dtype=x.dtype)
    xp[:, :, padding:padding + x.shape[2], padding:padding + x.shape[3]] = x
    F_, C, KH, KW = w.shape
    win = xp.unfold(2, KH, stride).unfold(3, KW, stride)        # (N, C, Ho, Wo, KH, KW)
    out = torch.einsum("ncijkl,fckl->nfij", win, w)
    if b is not None:
        out = out + torch.as_tensor(np.asarray(b)).to(x.dtype)[None, :, None, None]
    return out.numpy()
"""
# correct, loops over kernel offsets only (the classic im2col): must pass
FAST_OFFSET_LOOPS = """
def conv2d_fast(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x, dtype=float); w = np.asarray(w, dtype=float)
    N, C, H, W = x.shape; F_, _, KH, KW = w.shape; p, s = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Ho = (H + 2 * p - KH) // s + 1; Wo = (W + 2 * p - KW) // s + 1
    cols = np.empty((C, KH, KW, N, Ho, Wo))
    for m in range(KH):
        for q in range(KW):
            cols[:, m, q] = xp[:, :, m:m + s * (Ho - 1) + 1:s, q:q + s * (Wo - 1) + 1:s].transpose(1, 0, 2, 3)
    out = w.reshape(F_, -1) @ cols.reshape(C * KH * KW, -1)
    out = out.reshape(F_, N, Ho, Wo).transpose(1, 0, 2, 3)
    return out if b is None else out + np.asarray(b, dtype=float)[None, :, None, None]
"""
FAST_ONE_SIDED = """
def conv2d_fast(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x, dtype=float); w = np.asarray(w, dtype=float)
    N, C, H, W = x.shape; F_, _, KH, KW = w.shape; p, s = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (0, 2 * p), (0, 2 * p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::s, ::s]
    out = np.einsum("ncijkl,fckl->nfij", win, w)
    return out if b is None else out + np.asarray(b)[None, :, None, None]
"""
FAST_NO_SUM = """
def conv2d_fast(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x, dtype=float); w = np.asarray(w, dtype=float)
    p, s = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::s, ::s]
    out = np.einsum("ncijkl,fckl->nfcij", win, w)
    return out if b is None else out + np.asarray(b)[None, :, None, None, None]
"""


# (exercise, answer source, what the failure message must say)
WRONG = [
    ("cross_correlate2d", XCORR_FLIPPED, "kernel is flipped"),
    ("cross_correlate2d", XCORR_OFF_BY_ONE, "One row and column short"),
    ("cross_correlate2d", XCORR_SCIPY, "ready-made implementation"),
    ("convolve2d", CONV_NOT_FLIPPED, "not flipped"),
    ("convolve2d", CONV_ROWS_ONLY, "only the rows are flipped"),
    ("convolve2d", CONV_TRANSPOSED, "transposed"),
    ("conv_output_size", SIZE_CEIL, "rounded up"),
    ("conv_output_size", SIZE_TRUEDIV, "not a whole number"),
    ("conv_output_size", SIZE_PAD_ONCE, "one side only"),
    ("conv2d_naive", NAIVE_FLIPPED, "kernel is flipped"),
    ("conv2d_naive", NAIVE_FIRST_CHANNEL, "channels are not summed"),
    ("conv2d_naive", NAIVE_ONE_SIDED, "padding applied on one side only"),
    ("conv2d_naive", NAIVE_NO_BIAS, "bias is missing"),
    ("conv2d_naive", NAIVE_TORCH, "ready-made implementation"),
    ("conv2d_num_params", PARAMS_NO_BIAS, "biases are missing"),
    ("conv2d_num_params", PARAMS_NO_CIN, "input channels are missing"),
    ("pool2d", POOL_SWAPPED, "avg pooling, not max pooling"),
    ("pool2d", POOL_STRIDE1, "windows move by 1"),
    ("conv2d_fast", FAST_TORCH, "ready-made implementation (conv2d)"),
    ("conv2d_fast", FAST_UNFOLD, "ready-made implementation (torch.nn.functional"),
    ("conv2d_fast", FAST_ONE_SIDED, "padding applied on one side only"),
    ("conv2d_fast", FAST_NO_SUM, "must be SUMMED"),
]
# correct answers written differently from the solution: all must pass
OTHER_CORRECT = [
    ("cross_correlate2d", XCORR_FLOAT32),
    ("conv_output_size", SIZE_WARNS),
    ("conv2d_naive", NAIVE_OK),
    ("pool2d", POOL_LOOPS_TORCH),
    ("conv2d_fast", FAST_TENSOR_UNFOLD),
    ("conv2d_fast", FAST_OFFSET_LOOPS),
]
# passes every visible check, fails the hidden ones
SIZE_MEMORISED = """
def conv_output_size(n, f, padding=0, stride=1):
    return {(7, 3, 0, 1): 5, (7, 3, 0, 2): 3, (7, 3, 0, 3): 2, (32, 5, 2, 1): 32, (28, 3, 0, 1): 26,
            (5, 3, 1, 2): 3}.get((n, f, padding, stride), n)
"""
NAIVE_FIXED_SIZE = NAIVE_OK.replace(
    "for i in range(Ho):", "for i in range(min(Ho, 5)):"
)  # right on small inputs

# the demo class' partly-correct student: 2 + 1 + 0 + 3 + 1 + 0 + 0 = 7 of 13
PARTIAL = {
    "conv_output_size": SIZE_CEIL,
    "pool2d": POOL_SWAPPED,
    "conv2d_fast": None,
}  # None: the stub
# the graded test's: right answers written differently (one prints to stderr), wrong ones, a stub
PARTIAL_MIXED = {
    "cross_correlate2d": XCORR_FLOAT32,
    "conv_output_size": SIZE_CEIL,
    "conv2d_naive": None,
    "conv2d_num_params": PARAMS_WARNS,
    "pool2d": POOL_SWAPPED,
    "conv2d_fast": FAST_TENSOR_UNFOLD,
}
PARTIAL_MIXED_SCORE = {
    "cross_correlate2d": 2,
    "convolve2d": 1,
    "conv_output_size": 0,
    "conv2d_naive": 0,
    "conv2d_num_params": 1,
    "pool2d": 0,
    "conv2d_fast": 3,
}  # 7 of 13


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")  # session: built once per worker even if xdist interleaves modules
def src():
    return source_notebook(A)


@pytest.fixture(scope="session")  # session: built once per worker even if xdist interleaves modules
def rel():
    return release_notebook(A)


def _solution_answers(nb) -> dict[str, str]:
    return {fn: cells_by_grade_id(nb)[f"answer_{fn}"].source for fn in EXERCISES}


def _answers(src_nb, rel_nb, overrides: dict[str, str | None]) -> dict[str, str]:
    """{answer grade_id: source}: the solution, with `overrides` (None = the released stub)."""
    out = {}
    for fn in EXERCISES:
        gid = f"answer_{fn}"
        if fn in overrides:
            text = overrides[fn]
            out[gid] = cells_by_grade_id(rel_nb)[gid].source if text is None else text
        else:
            out[gid] = cells_by_grade_id(src_nb)[gid].source
    return out


def _setup_source(nb) -> str:
    setup = cells_by_grade_id(nb)["cell_setup"].source
    return "\n".join(line for line in setup.splitlines() if not line.lstrip().startswith("%"))


def run_test_cell(
    nb, fn: str, answers: dict[str, str], *, part: str = "all"
) -> tuple[BaseException | None, str]:
    """Run exercise `fn`'s test cell with the one test-cell runner: the student's cells run in one
    namespace (setup + answers), the test cell in a fresh one that holds only the student's
    functions. part: "all" (visible, then hidden in hidden mode) or "visible".
    Returns (the exception or None, what the visible part printed)."""
    student: dict = {"__name__": "__main__"}
    exec(compile(_setup_source(nb), "<setup>", "exec"), student)
    for gid, text in answers.items():
        exec(compile(text, f"<{gid}>", "exec"), student)
    namespace = {k: student[k] for k in EXERCISES if k in student}
    source = cells_by_grade_id(nb)[f"test_{fn}"].source
    run = run_one_test_cell(source, namespace, name=f"test_{fn}", hidden=part != "visible")
    return run.error, run.output


# --- structure ----------------------------------------------------------------------------------


def test_lectures_cited_and_disagreement_said(src):
    text = "\n".join(c.source for c in src.cells if c.cell_type == "markdown")
    for lecturer in ("Correia", "Kalogerakis", "Farkaš", "Pan", "Kira"):
        assert lecturer in text
    assert "PyTorch floors" in text and "ceiling" in text and "invalid" in text
    assert "760" in text and "3\\times26\\times26" in text and "3\\times13\\times13" in text


# --- test cells, in process ------------------------------------------------------------------


@pytest.mark.parametrize("fn", list(EXERCISES))
def test_solution_passes_visible_and_hidden(src, fn):
    exc, printed = run_test_cell(src, fn, _solution_answers(src))
    assert exc is None, f"{type(exc).__name__}: {exc}"
    assert ": ok" in printed  # the visible checks say how close (rel_error) or ok


@pytest.mark.parametrize(
    ("fn", "answer", "says"), WRONG, ids=[f"{w[0]}-{w[2][:24]}" for w in WRONG]
)
def test_wrong_answer_fails_with_diagnosis(src, rel, fn, answer, says):
    exc, _ = run_test_cell(src, fn, _answers(src, rel, {fn: answer}), part="visible")
    assert isinstance(exc, CheckFailed), f"expected a failed check, got {exc!r}"
    assert says in str(exc), str(exc)


@pytest.mark.parametrize(
    ("fn", "answer"), OTHER_CORRECT, ids=[f"{o[0]}-{i}" for i, o in enumerate(OTHER_CORRECT)]
)
def test_other_correct_answers_pass(src, rel, fn, answer):
    exc, _ = run_test_cell(src, fn, _answers(src, rel, {fn: answer}))
    assert exc is None, f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize(
    ("fn", "answer"), [("conv_output_size", SIZE_MEMORISED), ("conv2d_naive", NAIVE_FIXED_SIZE)]
)
def test_hidden_tests_catch_what_visible_ones_miss_without_leaking(src, rel, fn, answer):
    answers = _answers(src, rel, {fn: answer})
    assert run_test_cell(src, fn, answers, part="visible")[0] is None
    exc, _ = run_test_cell(src, fn, answers, part="hidden")
    assert isinstance(exc, CheckFailed)
    message = str(exc)
    assert (
        "Expected" not in message
        and "index" not in message
        and not re.search(r"\(\d+, \d+", message)
    ), message


def test_forbidden_shortcut_message_names_the_rule(src, rel):
    exc, _ = run_test_cell(src, "conv2d_naive", _answers(src, rel, {"conv2d_naive": NAIVE_TORCH}))
    assert "ready-made implementation" in str(exc) and "Write the loops yourself" in str(exc)


def test_seed_examples_are_the_first_checks(src):
    """The lectures' worked examples (seeds README) are the first visible values."""
    cells = cells_by_grade_id(src)
    first = split_hidden(cells["test_cross_correlate2d"].source)[0]
    for value in (
        "[[36, 42], [60, 66]]",
        "[[12, 12, 17], [10, 17, 19], [9, 6, 14]]",
        "[[19, 25], [37, 43]]",
        "[[122, 148], [126, 134]]",
        "[[65]]",
    ):
        assert value in first
    assert (
        "[[-0.35, 1.35, 0.75], [-0.55, 0.85, 0.05], [0.75, 0.05, 1.15]]"
        in cells["test_conv2d_naive"].source
    )
    assert "[[6, 8], [14, 16]]" in cells["test_pool2d"].source
    assert "check(3, 10, 5)            # Pan: 760" in cells["test_conv2d_num_params"].source


# --- the stepper ----------------------------------------------------------------------------


def test_stepper_static_picture_fills_the_output_in_order():
    from coursekit.stepper import ConvStepper

    s = ConvStepper()  # Kalogerakis's example
    assert (s.geometry.out_h, s.geometry.out_w) == (3, 3)
    fig = s.draw(4)
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert texts == ["12", "12", "17", "10", "17"]  # cells 0..4 filled, the rest still empty
    assert "output[1, 1] =" in fig._suptitle.get_text() and fig._suptitle.get_text().endswith(
        "= 17"
    )
    assert s.draw(99).axes[1].texts[-1].get_text() == "14"  # clipped to the last position


def test_stepper_geometry_floors_like_pytorch():
    import torch
    import torch.nn.functional as F

    from coursekit.stepper import ConvStepper

    x, k = np.arange(49.0).reshape(7, 7), np.ones((3, 3))
    for stride in (1, 2, 3):
        for padding in (0, 1, 2):
            g = ConvStepper(x, k, stride=stride, padding=padding).geometry
            ref = F.conv2d(
                torch.zeros(1, 1, 7, 7), torch.zeros(1, 1, 3, 3), stride=stride, padding=padding
            )
            assert (g.out_h, g.out_w) == tuple(ref.shape[2:])
    s = ConvStepper(x, k, stride=2, padding=1)
    fig = s.draw(5)
    values = [float(t.get_text()) for t in fig.axes[1].texts]
    ref = F.conv2d(
        torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None], stride=2, padding=1
    )
    assert values == ref.flatten()[:6].tolist()


def test_stepper_live_widget(monkeypatch):
    import coursekit.interactive
    import coursekit.stepper as stepper

    monkeypatch.setattr(stepper, "is_headless", lambda: False)
    monkeypatch.setattr(coursekit.interactive, "is_headless", lambda: False)
    s = stepper.ConvStepper()
    box = s.build_widget()
    assert "coursekit-stepper" in box._dom_classes
    c = s.controls
    assert (c["position"].max, c["stride"].value, c["padding"].value) == (8, 1, 0)
    c["stride"].value = 2
    assert c["position"].max == 3 and s.geometry.out_h == 2
    c["padding"].value = 1
    assert c["position"].max == 8
    c["position"].value = 8
    import torch
    import torch.nn.functional as F

    ref = F.conv2d(
        torch.from_numpy(s.x)[None, None],
        torch.from_numpy(s.kernel)[None, None],
        stride=2,
        padding=1,
    )
    assert s.position == 8 and s.fig.axes[1].texts[-1].get_text() == f"{ref[0, 0, 2, 2].item():.0f}"


def test_stepper_headless_shows_one_picture(monkeypatch):
    import coursekit.stepper as stepper

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    monkeypatch.setattr(stepper, "is_headless", lambda: True)
    assert stepper.show_conv_stepper() is None
    assert len(shown) == 1 and type(shown[0]).__name__ == "Figure"


# --- slow: the notebook top to bottom, and a class through the real grader ----------------------


def class_notebooks() -> dict:
    """This notebook's students in its graded class (beside the standard solution and blank)."""
    src, rel = source_notebook(A), release_notebook(A)

    def sub(overrides):
        return submission_from(rel, _answers(src, rel, overrides))

    return {
        "partial": sub(PARTIAL_MIXED),
        "wrong_a": sub(
            {
                "conv_output_size": SIZE_TRUEDIV,
                "conv2d_naive": NAIVE_FIRST_CHANNEL,
                "conv2d_num_params": PARAMS_NO_BIAS,
                "pool2d": POOL_STRIDE1,
                "conv2d_fast": FAST_TORCH,
                "convolve2d": CONV_ROWS_ONLY,
            }
        ),
        "wrong_b": sub(
            {
                "cross_correlate2d": XCORR_SCIPY,
                "conv2d_naive": NAIVE_ONE_SIDED,
                "pool2d": POOL_LOOPS_TORCH,
                "conv2d_fast": FAST_UNFOLD,
                "conv_output_size": SIZE_MEMORISED,
            }
        ),
    }


register_students(A, class_notebooks)


@pytest.fixture
def graded(tmp_path_factory):
    return graded_class(A, tmp_path_factory), None


def _ex(result, student, fn):
    return result.get(student, A).exercise(f"test_{fn}")


@pytest.mark.slow
def test_graded_partial_gets_exactly_its_score(graded):
    """Correct answers written differently (float32, Tensor.unfold, a print to stderr) keep their
    points, wrong ones and the stub get none."""
    result, _ = graded
    p = result.get("partial", A)
    got = {e.grade_id: e.score for e in p.exercises}
    assert got == {f"test_{k}": v for k, v in PARTIAL_MIXED_SCORE.items()}, [
        (e.grade_id, e.status, e.message) for e in p.exercises
    ]
    assert p.score == sum(PARTIAL_MIXED_SCORE.values()) == 7
    assert _ex(result, "partial", "conv2d_naive").status == "error"  # the stub: not implemented


@pytest.mark.slow
@pytest.mark.parametrize(
    ("student", "fn", "says"),
    [
        ("wrong_a", "convolve2d", "only the rows are flipped"),
        ("wrong_a", "conv_output_size", "not a whole number"),
        ("wrong_a", "conv2d_naive", "channels are not summed"),
        ("wrong_a", "conv2d_num_params", "biases are missing"),
        ("wrong_a", "pool2d", "windows move by 1"),
        ("wrong_a", "conv2d_fast", "ready-made implementation (conv2d)"),
        ("wrong_b", "cross_correlate2d", "ready-made implementation"),
        ("wrong_b", "conv2d_naive", "padding applied on one side only"),
        ("wrong_b", "conv2d_fast", "ready-made implementation (torch.nn.functional"),
    ],
)
def test_graded_wrong_answers_fail_with_their_diagnosis(graded, student, fn, says):
    result, _ = graded
    e = _ex(result, student, fn)
    assert e.score == 0 and e.status == "failed", (e.status, e.message)
    assert says in e.message, e.message


@pytest.mark.slow
def test_graded_hidden_failure_reveals_nothing(graded):
    result, _ = graded
    e = _ex(result, "wrong_b", "conv_output_size")  # memorised the visible cases
    assert e.score == 0 and e.status == "failed"
    assert "Expected" not in e.message and not re.search(r"\(\d+, \d+", e.message), e.message
    # its right answers keep their points (pool2d: loops over torch slices)
    wb = result.get("wrong_b", A)
    assert _ex(result, "wrong_b", "pool2d").score == 2 and wb.score == 1 + 2
    # its convolve2d is right but calls its cross_correlate2d, which calls scipy: refused too
    assert "ready-made implementation" in _ex(result, "wrong_b", "convolve2d").message
    # only wrong_a's cross_correlate2d (the solution's) is right
    assert result.get("wrong_a", A).score == 2


# --- the bundled demo class (`make demo`) -------------------------------------------------------

DEMO = {  # student: (answers that differ from the solution; None = the released stub), README line
    "solution": ({}, "the full solution", "13 / 13"),
    "blank": (
        "blank",
        "the released student copy, untouched",
        "0 / 13 (every exercise: not implemented)",
    ),
    "partial": (
        PARTIAL,
        "exercises 1, 2, 4, 5 right; `conv_output_size` rounds up, `pool2d` swaps max and "
        "average, `conv2d_fast` left blank",
        "7 / 13 (2 + 1 + 0 + 3 + 1 + 0 + 0)",
    ),
    "loops": (
        {"conv_output_size": SIZE_LOOPS},
        "`conv_output_size` loops forever when called (by its test only)",
        "12 / 13 (`test_conv_output_size`: timeout; the rest graded normally)",
    ),
    "crasher": (
        {"conv2d_naive": NAIVE_CRASH},
        "`conv2d_naive` kills its own kernel (`os.kill(os.getpid(), 9)`) "
        "when called (by its test only: the timing cell is skipped while grading)",
        "4 / 13 (exercises 1-3 passed; `test_conv2d_naive`: error, the kernel died; the three "
        "later exercises: error, not graded after the crash)",
    ),
    "warns": (
        {"conv_output_size": SIZE_WARNS},
        "a correct `conv_output_size` that warns and prints to stderr",
        "13 / 13 (warnings keep their points)",
    ),
}


def write_demo_class(folder: Path = ROOT / "autograder" / "demo_class") -> None:
    """Write the demo class from the committed notebooks (run after every release of nb04)."""
    src, rel = source_notebook(A), release_notebook(A)
    lines = [
        "# The demo class of `make demo`",
        "",
        f"Six students who handed in `{A}`, laid out `<student>/{A}/{A}.ipynb` as",
        "`coursekit autograde` expects. Generated from the released notebook by",
        "`.venv/bin/python tests/test_nb04_convolution.py --write-demo-class` (re-run it after",
        "changing the notebook). Expected scores:",
        "",
        "| student | what it is | expected score |",
        "|---|---|---|",
    ]
    for student, (overrides, what, score) in DEMO.items():
        nb = (
            submission_from(rel)
            if overrides == "blank"
            else submission_from(rel, _answers(src, rel, overrides))
        )
        path = folder / student / A / f"{A}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        lines.append(f"| `{student}` | {what} | {score} |")
    (folder / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(DEMO)} students under {folder}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-demo-class"]:
        write_demo_class()
    else:
        sys.exit("usage: python tests/test_nb04_convolution.py --write-demo-class")
