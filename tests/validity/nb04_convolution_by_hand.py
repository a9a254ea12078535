"""Notebook 04 (convolution by hand): for every exercise, classic mistakes and correct alternatives.

Each source replaces an answer cell of solutions/04_convolution_by_hand; the names it uses (np,
torch, F, and the earlier exercises) come from the notebook's setup cell and answer cells.
The demo class (autograder/demo_class/) and tests/test_nb04_convolution.py build their students
from these sources too.
"""

from __future__ import annotations

from . import alternative, mistake

# --- Exercise 1: cross_correlate2d -------------------------------------------------------------

_XCORR = """
def cross_correlate2d(x, k):
    x = np.asarray(x, dtype=float); k = np.asarray(k, dtype=float)
    kh, kw = k.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i:i + kh, j:j + kw] * k)
    return out
"""


def _xcorr(*pairs: tuple[str, str]) -> str:
    src = _XCORR
    for old, new in pairs:
        assert old in src, old
        src = src.replace(old, new)
    return src


XCORR_FLIPPED = _xcorr(("* k)", "* k[::-1, ::-1])"))
XCORR_OFF_BY_ONE = _xcorr(
    ("x.shape[0] - kh + 1, x.shape[1] - kw + 1", "x.shape[0] - kh, x.shape[1] - kw")
)
XCORR_TRANSPOSED_KERNEL = _xcorr(("* k)", "* k.T)"))
XCORR_INT = _xcorr(
    (
        "x = np.asarray(x, dtype=float); k = np.asarray(k, dtype=float)",
        "x = np.asarray(x); k = np.asarray(k)",
    ),
    (
        "np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))",
        "np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1), dtype=x.dtype)",
    ),
)
XCORR_WIDTH_KH = _xcorr(
    ("x.shape[1] - kw + 1))", "x.shape[1] - kh + 1))"),
    ("x[i:i + kh, j:j + kw] * k", "x[i:i + kh, j:j + kw] * k[:, :kw]"),
)
XCORR_SAME = """
def cross_correlate2d(x, k):
    x = np.asarray(x, dtype=float); k = np.asarray(k, dtype=float)
    kh, kw = k.shape
    xp = np.pad(x, ((0, kh - 1), (0, kw - 1)))
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = np.sum(xp[i:i + kh, j:j + kw] * k)
    return out
"""
XCORR_OUT_TRANSPOSED = """
def cross_correlate2d(x, k):
    x = np.asarray(x, dtype=float); k = np.asarray(k, dtype=float)
    kh, kw = k.shape
    out = np.zeros((x.shape[1] - kw + 1, x.shape[0] - kh + 1))
    for i in range(x.shape[0] - kh + 1):
        for j in range(x.shape[1] - kw + 1):
            out[j, i] = np.sum(x[i:i + kh, j:j + kw] * k)
    return out
"""
XCORR_SCIPY = """
import scipy.signal
def cross_correlate2d(x, k):
    return scipy.signal.correlate2d(np.asarray(x, float), np.asarray(k, float), mode="valid")
"""
XCORR_NP_CORRELATE = """
def cross_correlate2d(x, k):
    x = np.asarray(x, dtype=float); k = np.asarray(k, dtype=float)
    kh, kw = k.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for m in range(kh):
            out[i] += np.correlate(x[i + m], k[m], mode="valid")
    return out
"""
XCORR_FLOAT32 = """
def cross_correlate2d(x, k):
    x = np.asarray(x, dtype=np.float32); k = np.asarray(k, dtype=np.float32)
    kh, kw = k.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw))
    return np.einsum("ijmn,mn->ij", win, k)
"""
XCORR_OFFSETS = """
def cross_correlate2d(x, k):
    x = np.asarray(x, dtype=float); k = np.asarray(k, dtype=float)
    kh, kw = k.shape
    ho, wo = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((ho, wo))
    for m in range(kh):              # one shifted copy of the image per kernel weight
        for n in range(kw):
            out += k[m, n] * x[m:m + ho, n:n + wo]
    return out
"""
XCORR_LISTS = """
def cross_correlate2d(x, k):
    x = [[float(v) for v in row] for row in np.asarray(x).tolist()]
    k = [[float(v) for v in row] for row in np.asarray(k).tolist()]
    kh, kw = len(k), len(k[0])
    return [[sum(x[i + m][j + n] * k[m][n] for m in range(kh) for n in range(kw))
             for j in range(len(x[0]) - kw + 1)] for i in range(len(x) - kh + 1)]
"""
XCORR_TORCH_LOOPS = """
def cross_correlate2d(x, k):
    x = torch.as_tensor(np.asarray(x, dtype=float)); k = torch.as_tensor(np.asarray(k, dtype=float))
    kh, kw = k.shape
    out = torch.zeros(x.shape[0] - kh + 1, x.shape[1] - kw + 1, dtype=torch.float64)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i:i + kh, j:j + kw] * k).sum()
    return out
"""

# --- Exercise 2: convolve2d --------------------------------------------------------------------

CONV_NOT_FLIPPED = "def convolve2d(x, k):\n    return cross_correlate2d(x, k)\n"
CONV_ROWS_ONLY = "def convolve2d(x, k):\n    return cross_correlate2d(x, np.asarray(k)[::-1])\n"
CONV_COLS_ONLY = "def convolve2d(x, k):\n    return cross_correlate2d(x, np.asarray(k)[:, ::-1])\n"
CONV_TRANSPOSED = "def convolve2d(x, k):\n    return cross_correlate2d(x, np.asarray(k).T)\n"
CONV_ROT90 = (
    "def convolve2d(x, k):\n    return cross_correlate2d(x, np.rot90(np.asarray(k, dtype=float)))\n"
)
CONV_IMAGE_FLIPPED = (
    "def convolve2d(x, k):\n    return cross_correlate2d(np.asarray(x, float)[::-1, ::-1], k)\n"
)
CONV_SCIPY = """
import scipy.signal
def convolve2d(x, k):
    return scipy.signal.convolve2d(np.asarray(x, float), np.asarray(k, float), mode="valid")
"""
CONV_NP_FLIP = (
    "def convolve2d(x, k):\n    return cross_correlate2d(x, np.flip(np.asarray(k, dtype=float)))\n"
)
CONV_OWN_LOOPS = """
def convolve2d(x, k):
    x = np.asarray(x, dtype=float); k = np.asarray(k, dtype=float)
    kh, kw = k.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = sum(x[i + m, j + n] * k[kh - 1 - m, kw - 1 - n] for m in range(kh) for n in range(kw))
    return out
"""
XCORR_STUB = "def cross_correlate2d(x, k):\n    raise NotImplementedError()\n"

# --- Exercise 3: conv_output_size --------------------------------------------------------------

SIZE_CEIL = """
import math
def conv_output_size(n, f, padding=0, stride=1):
    return math.ceil((n - f + 2 * padding) / stride) + 1
"""
SIZE_TRUEDIV = "def conv_output_size(n, f, padding=0, stride=1):\n    return (n - f + 2 * padding) / stride + 1\n"
SIZE_PAD_ONCE = (
    "def conv_output_size(n, f, padding=0, stride=1):\n    return (n - f + padding) // stride + 1\n"
)
SIZE_NO_PLUS_ONE = (
    "def conv_output_size(n, f, padding=0, stride=1):\n    return (n - f + 2 * padding) // stride\n"
)
SIZE_NO_STRIDE = (
    "def conv_output_size(n, f, padding=0, stride=1):\n    return n - f + 2 * padding + 1\n"
)
SIZE_NO_PADDING = (
    "def conv_output_size(n, f, padding=0, stride=1):\n    return (n - f) // stride + 1\n"
)
SIZE_FLOAT = """
def conv_output_size(n, f, padding=0, stride=1):
    return np.floor((n - f + 2 * padding) / stride) + 1
"""
SIZE_MEMORISED = """
def conv_output_size(n, f, padding=0, stride=1):
    return {(7, 3, 0, 1): 5, (7, 3, 0, 2): 3, (7, 3, 0, 3): 2, (32, 5, 2, 1): 32, (28, 3, 0, 1): 26,
            (5, 3, 1, 2): 3, (10, 3, 1, 3): 4}.get((n, f, padding, stride), n)
"""
SIZE_LOOPS = "def conv_output_size(n, f, padding=0, stride=1):\n    while True:\n        pass\n"
SIZE_WARNS = """
import sys, warnings
def conv_output_size(n, f, padding=0, stride=1):
    warnings.warn("conv_output_size: remember PyTorch floors")
    print("debug: n, f, padding, stride =", n, f, padding, stride, file=sys.stderr)
    return (n - f + 2 * padding) // stride + 1
"""
SIZE_MATH_FLOOR = """
import math
def conv_output_size(n, f, padding=0, stride=1):
    return math.floor((n - f + 2 * padding) / stride) + 1
"""
SIZE_COUNT_WINDOWS = """
def conv_output_size(n, f, padding=0, stride=1):
    return len(range(0, n + 2 * padding - f + 1, stride))   # the start of every window that fits
"""
SIZE_NUMPY_INT = """
def conv_output_size(n, f, padding=0, stride=1):
    return np.int64(n - f + 2 * padding) // stride + 1
"""

# --- Exercise 4: conv2d_naive ------------------------------------------------------------------

_NAIVE = """
def conv2d_naive(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x, dtype=float); w = np.asarray(w, dtype=float)
    N, C, H, W = x.shape; F_, _, KH, KW = w.shape
    p, s = padding, stride
    xp = PAD
    Ho = HO; Wo = WO
    out = np.zeros((N, F_, Ho, Wo))
    for n in range(N):
        for f in range(F_):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, f, i, j] = DOT
            if b is not None and BIAS:
                out[n, f] += BVAL
    return out
"""


def naive(
    pad="np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))",
    dot="np.sum(xp[n, :, i*s:i*s+KH, j*s:j*s+KW] * w[f])",
    bias="True",
    bval="b[f]",
    ho="(xp.shape[2] - KH) // s + 1",
    wo="(xp.shape[3] - KW) // s + 1",
) -> str:
    return (
        _NAIVE.replace("PAD", pad)
        .replace("DOT", dot)
        .replace("BIAS", bias)
        .replace("BVAL", bval)
        .replace("HO", ho)
        .replace("WO", wo)
    )


NAIVE_OK = naive()
NAIVE_FLIPPED = naive(dot="np.sum(xp[n, :, i*s:i*s+KH, j*s:j*s+KW] * w[f, :, ::-1, ::-1])")
NAIVE_FIRST_CHANNEL = naive(dot="np.sum(xp[n, 0, i*s:i*s+KH, j*s:j*s+KW] * w[f, 0])")
NAIVE_AVERAGED = naive(dot="np.mean(np.sum(xp[n, :, i*s:i*s+KH, j*s:j*s+KW] * w[f], axis=(1, 2)))")
NAIVE_TWO_P_AFTER = naive(pad="np.pad(x, ((0, 0), (0, 0), (0, 2 * p), (0, 2 * p)))")
NAIVE_P_ONE_SIDE = naive(pad="np.pad(x, ((0, 0), (0, 0), (0, p), (0, p)))")
NAIVE_NO_PADDING = naive(pad="x")
NAIVE_NO_BIAS = naive(bias="False")
NAIVE_BIAS_PER_CHANNEL = naive(bval="C * b[f]")
NAIVE_WINDOWS_BY_ONE = naive(dot="np.sum(xp[n, :, i:i+KH, j:j+KW] * w[f])")
NAIVE_NO_STRIDE = naive(
    dot="np.sum(xp[n, :, i:i+KH, j:j+KW] * w[f])",
    ho="xp.shape[2] - KH + 1",
    wo="xp.shape[3] - KW + 1",
)
NAIVE_TORCH = """
import torch
def conv2d_naive(x, w, b=None, stride=1, padding=0):
    t = lambda a: None if a is None else torch.as_tensor(np.asarray(a, dtype=float))
    return torch.nn.functional.conv2d(t(x), t(w), t(b), stride=stride, padding=padding).numpy()
"""
NAIVE_FIXED_SIZE = NAIVE_OK.replace("for i in range(Ho):", "for i in range(min(Ho, 7)):")
NAIVE_CRASH = """
import os
def conv2d_naive(x, w, b=None, stride=1, padding=0):
    os.kill(os.getpid(), 9)
"""
NAIVE_POSITIONS_VECTORISED = """
def conv2d_naive(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x, dtype=float); w = np.asarray(w, dtype=float)
    N, C, H, W = x.shape; F_, _, KH, KW = w.shape; p, s = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Ho = (H + 2 * p - KH) // s + 1; Wo = (W + 2 * p - KW) // s + 1
    out = np.zeros((N, F_, Ho, Wo))
    for i in range(Ho):                    # every image and every filter at once, per position
        for j in range(Wo):
            win = xp[:, :, i * s:i * s + KH, j * s:j * s + KW]
            out[:, :, i, j] = np.tensordot(win, w, axes=([1, 2, 3], [1, 2, 3]))
    return out if b is None else out + np.asarray(b, dtype=float)[None, :, None, None]
"""
NAIVE_PURE_PYTHON = """
def conv2d_naive(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x, dtype=float); w = np.asarray(w, dtype=float)
    N, C, H, W = x.shape; F_, _, KH, KW = w.shape; p, s = padding, stride
    Ho = (H + 2 * p - KH) // s + 1; Wo = (W + 2 * p - KW) // s + 1
    out = np.zeros((N, F_, Ho, Wo))
    for n in range(N):
        for f in range(F_):
            for i in range(Ho):
                for j in range(Wo):
                    total = 0.0 if b is None else float(b[f])
                    for c in range(C):
                        for m in range(KH):
                            for q in range(KW):
                                r, col = i * s + m - p, j * s + q - p      # zero outside the image
                                if 0 <= r < H and 0 <= col < W:
                                    total += x[n, c, r, col] * w[f, c, m, q]
                    out[n, f, i, j] = total
    return out
"""

# --- Exercise 5: conv2d_num_params -------------------------------------------------------------

PARAMS_NO_BIAS = (
    "def conv2d_num_params(c_in, c_out, kernel_size, bias=True):\n"
    "    return c_out * c_in * kernel_size * kernel_size\n"
)
PARAMS_NO_CIN = (
    "def conv2d_num_params(c_in, c_out, kernel_size, bias=True):\n"
    "    return c_out * (kernel_size * kernel_size + int(bias))\n"
)
PARAMS_BIAS_PER_CHANNEL = (
    "def conv2d_num_params(c_in, c_out, kernel_size, bias=True):\n"
    "    return c_out * c_in * (kernel_size * kernel_size + int(bias))\n"
)
PARAMS_K_NOT_SQUARED = (
    "def conv2d_num_params(c_in, c_out, kernel_size, bias=True):\n"
    "    return c_out * (c_in * kernel_size + int(bias))\n"
)
PARAMS_BIAS_ALWAYS = (
    "def conv2d_num_params(c_in, c_out, kernel_size, bias=True):\n"
    "    return c_out * (c_in * kernel_size * kernel_size + 1)\n"
)
PARAMS_FLOAT = (
    "def conv2d_num_params(c_in, c_out, kernel_size, bias=True):\n"
    "    return c_out * (c_in * kernel_size ** 2 + 1.0 * bias)\n"
)
PARAMS_WARNS = """
import sys
def conv2d_num_params(c_in, c_out, kernel_size, bias=True):
    print("DeprecationWarning: counting by hand", file=sys.stderr)
    return c_out * (c_in * kernel_size ** 2 + (1 if bias else 0))
"""
PARAMS_PER_FILTER_LOOP = """
import math
def conv2d_num_params(c_in, c_out, kernel_size, bias=True):
    total = 0
    for _ in range(c_out):           # every filter: a C_in x K x K volume and maybe a bias
        total += math.prod((c_in, kernel_size, kernel_size)) + (1 if bias else 0)
    return total
"""
PARAMS_NUMPY = """
def conv2d_num_params(c_in, c_out, kernel_size, bias=True):
    return np.prod([c_out, c_in, kernel_size, kernel_size]) + (c_out if bias else 0)
"""

# --- Exercise 6: pool2d ------------------------------------------------------------------------

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
POOL_STRIDE_IGNORED = """
def pool2d(x, size, stride=None, mode="max"):
    x = np.asarray(x, dtype=float); s = size
    win = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::s, ::s]
    return win.max(axis=(-2, -1)) if mode == "max" else win.mean(axis=(-2, -1))
"""
POOL_RELU = """
def pool2d(x, size, stride=None, mode="max"):
    x = np.asarray(x, dtype=float); s = stride or size
    win = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::s, ::s]
    return np.maximum(win.max(axis=(-2, -1)), 0.0) if mode == "max" else win.mean(axis=(-2, -1))
"""
POOL_SUM = """
def pool2d(x, size, stride=None, mode="max"):
    x = np.asarray(x, dtype=float); s = stride or size
    win = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::s, ::s]
    return win.max(axis=(-2, -1)) if mode == "max" else win.sum(axis=(-2, -1))
"""
POOL_CEIL = """
def pool2d(x, size, stride=None, mode="max"):
    x = np.asarray(x, dtype=float); s = stride or size
    N, C, H, W = x.shape
    Ho, Wo = -(-(H - size) // s) + 1, -(-(W - size) // s) + 1      # rounded up: a last partial window
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = x[:, :, i * s:i * s + size, j * s:j * s + size]
            out[:, :, i, j] = win.max(axis=(2, 3)) if mode == "max" else win.mean(axis=(2, 3))
    return out
"""
POOL_ACROSS_CHANNELS = """
def pool2d(x, size, stride=None, mode="max"):
    x = np.asarray(x, dtype=float); s = stride or size
    win = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::s, ::s]
    return win.max(axis=(1, -2, -1))[:, None] if mode == "max" else win.mean(axis=(1, -2, -1))[:, None]
"""
POOL_TORCH = """
import torch.nn.functional as F
def pool2d(x, size, stride=None, mode="max"):
    t = torch.as_tensor(np.asarray(x, dtype=float))
    op = F.max_pool2d if mode == "max" else F.avg_pool2d
    return op(t, size, stride=stride or size).numpy()
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
POOL_RESHAPE = """
def pool2d(x, size, stride=None, mode="max"):
    x = np.asarray(x, dtype=float); s = size if stride is None else stride
    N, C, H, W = x.shape
    Ho, Wo = (H - size) // s + 1, (W - size) // s + 1
    reduce = np.max if mode == "max" else np.mean
    if s == size:      # windows that tile the image: one reshape
        blocks = x[:, :, :Ho * size, :Wo * size].reshape(N, C, Ho, size, Wo, size)
        return reduce(blocks, axis=(3, 5))
    return np.stack([np.stack([reduce(x[:, :, i * s:i * s + size, j * s:j * s + size], axis=(2, 3))
                               for j in range(Wo)], axis=-1) for i in range(Ho)], axis=-2)
"""
POOL_PURE_LOOPS = """
def pool2d(x, size, stride=None, mode="max"):
    x = np.asarray(x, dtype=float); s = size if stride is None else stride
    N, C, H, W = x.shape
    Ho, Wo = (H - size) // s + 1, (W - size) // s + 1
    out = np.empty((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    vals = [x[n, c, i * s + m, j * s + q] for m in range(size) for q in range(size)]
                    out[n, c, i, j] = max(vals) if mode == "max" else sum(vals) / len(vals)
    return out
"""

# --- Exercise 7: conv2d_fast -------------------------------------------------------------------

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
_FAST = """
def conv2d_fast(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x)
    x = x if x.dtype.kind == "f" else x.astype(float)
    w = np.asarray(w, dtype=x.dtype)
    N, C, H, W = x.shape; F_, _, KH, KW = w.shape; p, s = padding, stride
    xp = PAD
    Ho, Wo = (H + 2 * p - KH) // s + 1, (W + 2 * p - KW) // s + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::s, ::s][:, :, :Ho, :Wo]
    cols = win.transpose(0, 2, 3, COLS).reshape(N * Ho * Wo, C * KH * KW)
    out = cols @ w.reshape(F_, -1).T
    if b is not None:
        out = out + np.asarray(b, dtype=x.dtype)
    return out.reshape(N, Ho, Wo, F_).transpose(0, 3, 1, 2)
"""


def fast(pad="np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))", cols="1, 4, 5") -> str:
    return _FAST.replace("PAD", pad).replace("COLS", cols)


FAST_OK = fast()
FAST_ONE_SIDED = fast(pad="np.pad(x, ((0, 0), (0, 0), (0, 2 * p), (0, 2 * p)))")
FAST_COLUMN_ORDER = fast(cols="4, 5, 1")  # windows flattened (KH, KW, C), filters (C, KH, KW)
FAST_WINDOWS_BY_ONE = (
    _FAST.replace("[:, :, ::s, ::s][:, :, :Ho, :Wo]", "[:, :, :Ho, :Wo]")
    .replace("PAD", "np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))")
    .replace("COLS", "1, 4, 5")
)
FAST_FLIPPED = FAST_OK.replace(
    "w = np.asarray(w, dtype=x.dtype)", "w = np.asarray(w, dtype=x.dtype)[:, :, ::-1, ::-1]"
)
FAST_NO_SUM = """
def conv2d_fast(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x, dtype=float); w = np.asarray(w, dtype=float)
    p, s = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::s, ::s]
    out = np.einsum("ncijkl,fckl->nfcij", win, w)
    return out if b is None else out + np.asarray(b)[None, :, None, None, None]
"""
FAST_CALLS_NAIVE = """
def conv2d_fast(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x)
    return conv2d_naive(x, w, b, stride, padding).astype(x.dtype)
"""
FAST_POSITION_LOOPS = """
def conv2d_fast(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x); w = np.asarray(w, dtype=x.dtype)
    N, C, H, W = x.shape; F_, _, KH, KW = w.shape; p, s = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Ho = (H + 2 * p - KH) // s + 1; Wo = (W + 2 * p - KW) // s + 1
    out = np.empty((N, F_, Ho, Wo), dtype=x.dtype)
    w_mat = w.reshape(F_, -1)
    for i in range(Ho):              # one small matrix product per output position
        for j in range(Wo):
            out[:, :, i, j] = xp[:, :, i * s:i * s + KH, j * s:j * s + KW].reshape(N, -1) @ w_mat.T
    return out if b is None else out + np.asarray(b, dtype=x.dtype)[None, :, None, None]
"""
FAST_FLOAT64 = FAST_OK.replace(
    'x = x if x.dtype.kind == "f" else x.astype(float)', "x = x.astype(float)"
)
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
    x = np.asarray(x); w = np.asarray(w, dtype=x.dtype)
    N, C, H, W = x.shape; F_, _, KH, KW = w.shape; p, s = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Ho = (H + 2 * p - KH) // s + 1; Wo = (W + 2 * p - KW) // s + 1
    cols = np.empty((C, KH, KW, N, Ho, Wo), dtype=x.dtype)
    for m in range(KH):
        for q in range(KW):
            cols[:, m, q] = xp[:, :, m:m + s * (Ho - 1) + 1:s, q:q + s * (Wo - 1) + 1:s].transpose(1, 0, 2, 3)
    out = w.reshape(F_, -1) @ cols.reshape(C * KH * KW, -1)
    out = out.reshape(F_, N, Ho, Wo).transpose(1, 0, 2, 3)
    return out if b is None else out + np.asarray(b, dtype=x.dtype)[None, :, None, None]
"""
FAST_EINSUM = """
def conv2d_fast(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x); w = np.asarray(w, dtype=x.dtype); p, s = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::s, ::s]
    out = np.einsum("ncijkl,fckl->nfij", win, w, optimize=True)
    return out if b is None else out + np.asarray(b, dtype=x.dtype)[None, :, None, None]
"""
FAST_TENSORDOT_FLOAT64_INSIDE = """
def conv2d_fast(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x); p, s = padding, stride
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p, p), (p, p)))    # float64 inside, x's dtype out
    win = np.lib.stride_tricks.sliding_window_view(xp, np.shape(w)[2:], axis=(2, 3))[:, :, ::s, ::s]
    out = np.tensordot(win, np.asarray(w, dtype=np.float64), axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, F)
    if b is not None:
        out = out + np.asarray(b, dtype=np.float64)
    return out.transpose(0, 3, 1, 2).astype(x.dtype)
"""

CASES = [
    # 1. cross_correlate2d
    mistake(
        "test_cross_correlate2d", "one position short", XCORR_OFF_BY_ONE, "one row and column short"
    ),
    mistake("test_cross_correlate2d", "kernel flipped", XCORR_FLIPPED, "kernel is flipped"),
    mistake("test_cross_correlate2d", "output as large as the input", XCORR_SAME, "input's size"),
    mistake(
        "test_cross_correlate2d",
        "kernel transposed",
        XCORR_TRANSPOSED_KERNEL,
        "kernel is transposed",
    ),
    mistake(
        "test_cross_correlate2d",
        "output transposed",
        XCORR_OUT_TRANSPOSED,
        "rows and columns are swapped",
    ),
    mistake("test_cross_correlate2d", "width from KH", XCORR_WIDTH_KH, "width uses KH"),
    mistake("test_cross_correlate2d", "integer output", XCORR_INT, "return floats"),
    mistake(
        "test_cross_correlate2d", "scipy", XCORR_SCIPY, "ready-made implementation", "two loops"
    ),
    mistake(
        "test_cross_correlate2d",
        "np.correlate per row",
        XCORR_NP_CORRELATE,
        "ready-made implementation",
    ),
    alternative("test_cross_correlate2d", "float32, einsum over sliding windows", XCORR_FLOAT32),
    alternative("test_cross_correlate2d", "loops over the kernel offsets", XCORR_OFFSETS),
    alternative("test_cross_correlate2d", "plain Python lists", XCORR_LISTS),
    alternative("test_cross_correlate2d", "torch tensors in the loops", XCORR_TORCH_LOOPS),
    # 2. convolve2d
    mistake("test_convolve2d", "not flipped", CONV_NOT_FLIPPED, "not flipped"),
    mistake("test_convolve2d", "rows only", CONV_ROWS_ONLY, "only the rows are flipped"),
    mistake("test_convolve2d", "columns only", CONV_COLS_ONLY, "only the columns are flipped"),
    mistake("test_convolve2d", "transposed", CONV_TRANSPOSED, "transposed"),
    mistake("test_convolve2d", "rotated by 90 degrees", CONV_ROT90, "90 degrees"),
    mistake("test_convolve2d", "the image flipped", CONV_IMAGE_FLIPPED, "image is flipped"),
    mistake("test_convolve2d", "scipy", CONV_SCIPY, "ready-made implementation"),
    mistake(
        "test_convolve2d",
        "not flipped, on a wrong cross_correlate2d",
        CONV_NOT_FLIPPED,
        "not flipped",
        "your cross_correlate2d",
        extra={"answer_cross_correlate2d": XCORR_OFF_BY_ONE},
    ),
    alternative("test_convolve2d", "np.flip", CONV_NP_FLIP),
    alternative("test_convolve2d", "its own loops", CONV_OWN_LOOPS),
    alternative(
        "test_convolve2d",
        "right, on a wrong cross_correlate2d",
        CONV_NP_FLIP,
        extra={"answer_cross_correlate2d": XCORR_OFF_BY_ONE},
    ),
    alternative(
        "test_convolve2d",
        "its own loops, cross_correlate2d not written",
        CONV_OWN_LOOPS,
        extra={"answer_cross_correlate2d": XCORR_STUB},
    ),
    # 3. conv_output_size
    mistake("test_conv_output_size", "ceiling", SIZE_CEIL, "rounded up"),
    mistake("test_conv_output_size", "true division", SIZE_TRUEDIV, "as a float", "floor"),
    mistake("test_conv_output_size", "padding once", SIZE_PAD_ONCE, "one side only"),
    mistake("test_conv_output_size", "+ 1 missing", SIZE_NO_PLUS_ONE, "+ 1 is missing"),
    mistake("test_conv_output_size", "stride ignored", SIZE_NO_STRIDE, "stride is ignored"),
    mistake("test_conv_output_size", "padding ignored", SIZE_NO_PADDING, "padding is ignored"),
    mistake("test_conv_output_size", "a float", SIZE_FLOAT, "as a float", "return an int"),
    mistake(
        "test_conv_output_size",
        "visible cases memorised",
        SIZE_MEMORISED,
        "wrong answer",
        hidden=True,
    ),
    alternative("test_conv_output_size", "warns and prints to stderr", SIZE_WARNS),
    alternative("test_conv_output_size", "math.floor", SIZE_MATH_FLOOR),
    alternative("test_conv_output_size", "counts the window starts", SIZE_COUNT_WINDOWS),
    alternative("test_conv_output_size", "a numpy integer", SIZE_NUMPY_INT),
    # 4. conv2d_naive
    mistake("test_conv2d_naive", "kernel flipped", NAIVE_FLIPPED, "kernel is flipped"),
    mistake(
        "test_conv2d_naive", "first channel only", NAIVE_FIRST_CHANNEL, "channels are not summed"
    ),
    mistake("test_conv2d_naive", "channels averaged", NAIVE_AVERAGED, "averaged, not summed"),
    mistake(
        "test_conv2d_naive", "2P zeros after", NAIVE_TWO_P_AFTER, "padding applied on one side only"
    ),
    mistake(
        "test_conv2d_naive",
        "P zeros on one side",
        NAIVE_P_ONE_SIDE,
        "padding is applied on one side only",
    ),
    mistake("test_conv2d_naive", "padding ignored", NAIVE_NO_PADDING, "padding is ignored"),
    mistake("test_conv2d_naive", "bias missing", NAIVE_NO_BIAS, "bias is missing"),
    mistake(
        "test_conv2d_naive", "bias per channel", NAIVE_BIAS_PER_CHANNEL, "once per input channel"
    ),
    mistake("test_conv2d_naive", "windows move by 1", NAIVE_WINDOWS_BY_ONE, "windows move by 1"),
    mistake("test_conv2d_naive", "stride ignored", NAIVE_NO_STRIDE, "stride is ignored"),
    mistake(
        "test_conv2d_naive", "F.conv2d", NAIVE_TORCH, "ready-made implementation", "write the loops"
    ),
    mistake(
        "test_conv2d_naive",
        "right on small inputs only",
        NAIVE_FIXED_SIZE,
        "values are wrong",
        hidden=True,
    ),
    alternative("test_conv2d_naive", "loops over n, f, i, j", NAIVE_OK),
    alternative(
        "test_conv2d_naive",
        "per position, all images and filters at once",
        NAIVE_POSITIONS_VECTORISED,
    ),
    alternative("test_conv2d_naive", "pure Python, no padded copy", NAIVE_PURE_PYTHON),
    # 5. conv2d_num_params
    mistake("test_conv2d_num_params", "biases missing", PARAMS_NO_BIAS, "biases are missing"),
    mistake(
        "test_conv2d_num_params",
        "input channels missing",
        PARAMS_NO_CIN,
        "input channels are missing",
    ),
    mistake(
        "test_conv2d_num_params",
        "a bias per input channel",
        PARAMS_BIAS_PER_CHANNEL,
        "not one per input channel",
    ),
    mistake("test_conv2d_num_params", "K not squared", PARAMS_K_NOT_SQUARED, "kernel is square"),
    mistake("test_conv2d_num_params", "bias=False ignored", PARAMS_BIAS_ALWAYS, "bias=false"),
    mistake("test_conv2d_num_params", "a float", PARAMS_FLOAT, "as a float", "return an int"),
    alternative("test_conv2d_num_params", "prints to stderr", PARAMS_WARNS),
    alternative("test_conv2d_num_params", "filter by filter", PARAMS_PER_FILTER_LOOP),
    alternative("test_conv2d_num_params", "np.prod", PARAMS_NUMPY),
    # 6. pool2d
    mistake("test_pool2d", "max and average swapped", POOL_SWAPPED, "avg pooling, not max pooling"),
    mistake("test_pool2d", "windows move by 1", POOL_STRIDE1, "windows move by 1"),
    mistake("test_pool2d", "stride ignored", POOL_STRIDE_IGNORED, "stride is ignored"),
    mistake("test_pool2d", "negatives clipped, like a ReLU", POOL_RELU, "not a relu"),
    mistake("test_pool2d", "sum instead of mean", POOL_SUM, "sum of each window"),
    mistake("test_pool2d", "rounded up", POOL_CEIL, "rounded up"),
    mistake("test_pool2d", "across the channels", POOL_ACROSS_CHANNELS, "pooled together"),
    mistake("test_pool2d", "F.max_pool2d", POOL_TORCH, "ready-made implementation"),
    alternative("test_pool2d", "loops over torch slices", POOL_LOOPS_TORCH),
    alternative("test_pool2d", "a reshape when the windows tile", POOL_RESHAPE),
    alternative("test_pool2d", "pure Python loops", POOL_PURE_LOOPS),
    # 7. conv2d_fast
    mistake("test_conv2d_fast", "F.conv2d", FAST_TORCH, "ready-made implementation (conv2d)"),
    mistake(
        "test_conv2d_fast",
        "F.unfold",
        FAST_UNFOLD,
        "ready-made implementation (torch.nn.functional",
    ),
    mistake(
        "test_conv2d_fast", "2P zeros after", FAST_ONE_SIDED, "padding applied on one side only"
    ),
    mistake("test_conv2d_fast", "channels not summed", FAST_NO_SUM, "must be summed"),
    mistake(
        "test_conv2d_fast",
        "flattening orders differ",
        FAST_COLUMN_ORDER,
        "flatten both the same way",
    ),
    mistake("test_conv2d_fast", "windows move by 1", FAST_WINDOWS_BY_ONE, "windows move by 1"),
    mistake("test_conv2d_fast", "kernel flipped", FAST_FLIPPED, "kernel is flipped"),
    mistake(
        "test_conv2d_fast", "calls conv2d_naive", FAST_CALLS_NAIVE, "not vectorised", "conv2d_naive"
    ),
    mistake(
        "test_conv2d_fast",
        "a loop over output positions",
        FAST_POSITION_LOOPS,
        "not vectorised",
        "output positions",
    ),
    mistake(
        "test_conv2d_fast", "float64 out for float32 in", FAST_FLOAT64, "float32 in, float64 out"
    ),
    alternative("test_conv2d_fast", "the solution's im2col, written again", FAST_OK),
    alternative("test_conv2d_fast", "torch's Tensor.unfold and einsum", FAST_TENSOR_UNFOLD),
    alternative("test_conv2d_fast", "loops over the kernel offsets", FAST_OFFSET_LOOPS),
    alternative("test_conv2d_fast", "einsum over sliding windows", FAST_EINSUM),
    alternative(
        "test_conv2d_fast", "tensordot in float64, cast back", FAST_TENSORDOT_FLOAT64_INSIDE
    ),
]
