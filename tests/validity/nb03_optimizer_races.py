"""Notebook 03 (optimizer races): for every exercise, classic mistakes and correct alternatives.

Each source replaces an answer cell of solutions/03_optimizer_races; the names it uses (np, torch)
come from the notebook's setup cell. Most mistakes are the solution with one slip (`_slip`): the
slips of the lectures (ε inside the square root, the learning rate inside the velocity, a bias
correction without its exponent...) and of Python (`lr or self.lr`, `w -= ...`).
"""

from __future__ import annotations

from coursekit.notebooks import cells_by_grade_id, source_notebook

from . import alternative, mistake

_SOLUTION = {
    g: c.source
    for g, c in cells_by_grade_id(source_notebook("03_optimizer_races")).items()
    if g.startswith("answer_")
}
LR = "        lr = self.lr if lr is None else lr\n"
LR_OR = "        lr = lr or self.lr\n"
LR_IGNORED = "        lr = self.lr\n"


def _slip(name: str, *pairs: tuple[str, str]) -> str:
    """The solution of `name` with each `old` replaced by `new` (old must occur)."""
    src = _SOLUTION[f"answer_{name}"]
    for old, new in pairs:
        assert old in src, (name, old)
        src = src.replace(old, new)
    return src


# --- Exercise 1: SGD ----------------------------------------------------------------------------

SGD_WD_SIGN = _slip("SGD", ("g = g + self.weight_decay * w", "g = g - self.weight_decay * w"))
SGD_WD_NO_LR = _slip(
    "SGD",
    (
        "        g = g + self.weight_decay * w\n        return w - lr * g",
        "        return w - lr * g - self.weight_decay * w",
    ),
)
SGD_WD_AFTER = _slip(
    "SGD",
    (
        "        g = g + self.weight_decay * w\n        return w - lr * g",
        "        w_new = w - lr * g\n        return w_new - lr * self.weight_decay * w_new",
    ),
)
SGD_LR_OR = _slip("SGD", (LR, LR_OR))
SGD_LR_IGNORED = _slip("SGD", (LR, LR_IGNORED))
SGD_TORCH = """
import torch


class SGD:
    def __init__(self, lr, weight_decay=0.0):
        self.lr, self.wd = lr, weight_decay

    def step(self, w, g, lr=None):
        p = torch.tensor(w, requires_grad=True)
        opt = torch.optim.SGD([p], lr=self.lr if lr is None else lr, weight_decay=self.wd)
        p.grad = torch.tensor(g)
        opt.step()
        return p.detach().numpy()
"""
SGD_IN_PLACE = _slip(
    "SGD",
    (
        "        g = g + self.weight_decay * w\n        return w - lr * g",
        "        w -= lr * (g + self.weight_decay * w)\n        return w",
    ),
)
SGD_G_IN_PLACE = _slip("SGD", ("g = g + self.weight_decay * w", "g += self.weight_decay * w"))
SGD_DEFAULT_WD = _slip(
    "SGD",
    ("def __init__(self, lr, weight_decay=0.0):", "def __init__(self, lr, weight_decay=0.01):"),
)
SGD_HP_DICT = """
class SGD:
    def __init__(self, lr, weight_decay=0.0):
        self.hp = {"lr": lr, "weight_decay": weight_decay}

    def step(self, w, g, lr=None):
        if lr is None:
            lr = self.hp["lr"]
        return np.subtract(w, lr * np.add(g, self.hp["weight_decay"] * w))
"""
SGD_EXPANDED = """
class SGD:
    def __init__(self, lr, weight_decay=0.0):
        self.lr, self.weight_decay = lr, weight_decay

    def step(self, w, g, lr=None):
        step_lr = self.lr if lr is None else lr
        new = np.array(w, dtype=float)          # a copy: the caller's w is untouched
        new -= step_lr * (g + self.weight_decay * w)
        return new
"""

# --- Exercise 2: Momentum -----------------------------------------------------------------------

MOM_LR_INSIDE = """
class Momentum:
    def __init__(self, lr, momentum=0.9, dampening=0.0, weight_decay=0.0):
        self.lr, self.mu, self.d, self.wd, self.v = lr, momentum, dampening, weight_decay, None

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        self.v = lr * g if self.v is None else self.mu * self.v + (1 - self.d) * lr * g
        return w - self.v
"""
MOM_DAMP_FIRST = _slip(
    "Momentum",
    (
        "self.v = np.array(g, dtype=float, copy=True)",
        "self.v = (1 - self.dampening) * np.array(g, dtype=float)",
    ),
)
MOM_V_ZERO = """
class Momentum:
    def __init__(self, lr, momentum=0.9, dampening=0.0, weight_decay=0.0):
        self.lr, self.mu, self.d, self.wd, self.v = lr, momentum, dampening, weight_decay, 0.0

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        self.v = self.mu * self.v + (1 - self.d) * g     # v starts at 0
        return w - lr * self.v
"""
MOM_NO_DAMP = _slip(
    "Momentum",
    (
        "self.v = self.momentum * self.v + (1 - self.dampening) * g",
        "self.v = self.momentum * self.v + g",
    ),
)
MOM_NO_MEMORY = _slip(
    "Momentum", ("        if self.v is None:\n", "        if True:  # a fresh v every step\n")
)
MOM_NESTEROV = _slip(
    "Momentum", ("return w - lr * self.v", "return w - lr * (g + self.momentum * self.v)")
)
MOM_LR_OR = _slip("Momentum", (LR, LR_OR))
MOM_LR_IGNORED = _slip("Momentum", (LR, LR_IGNORED))
MOM_DEFAULT = _slip(
    "Momentum",
    (
        "def __init__(self, lr, momentum=0.9, dampening=0.0, weight_decay=0.0):",
        "def __init__(self, lr, momentum=0.5, dampening=0.0, weight_decay=0.0):",
    ),
)
MOM_COUNTER = """
class Momentum:
    def __init__(self, lr, momentum=0.9, dampening=0.0, weight_decay=0.0):
        self.lr, self.momentum, self.dampening, self.weight_decay = lr, momentum, dampening, weight_decay
        self.t = 0

    def step(self, w, g, lr=None):
        if lr is None:
            lr = self.lr
        d_p = g + self.weight_decay * w
        if self.t == 0:
            self.buf = d_p.copy()
        else:
            self.buf = self.momentum * self.buf + (1.0 - self.dampening) * d_p
        self.t += 1
        return w - lr * self.buf
"""
MOM_OWN_BUFFER = """
class Momentum:
    def __init__(self, lr, momentum=0.9, dampening=0.0, weight_decay=0.0):
        self.lr, self.momentum, self.dampening, self.weight_decay = lr, momentum, dampening, weight_decay
        self.v = None

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        d = g + self.weight_decay * w                 # a new array
        if self.v is None:
            self.v = d
        else:
            self.v *= self.momentum                   # the optimizer's own buffer, in place
            self.v += (1 - self.dampening) * d
        return w - lr * self.v
"""

# --- Exercise 3: Nesterov -----------------------------------------------------------------------

NES_NO_LOOKAHEAD = _slip(
    "Nesterov", ("return w - lr * (g + self.momentum * self.v)", "return w - lr * self.v")
)
NES_DAMPED = _slip(
    "Nesterov",
    ("else self.momentum * self.v + g", "else self.momentum * self.v + (1 - self.momentum) * g"),
)
NES_SIGN = _slip(
    "Nesterov",
    (
        "return w - lr * (g + self.momentum * self.v)",
        "return w - lr * (g - self.momentum * self.v)",
    ),
)
NES_LR_OR = _slip("Nesterov", (LR, LR_OR))
NES_DEFAULT = _slip(
    "Nesterov",
    (
        "def __init__(self, lr, momentum=0.9, weight_decay=0.0):",
        "def __init__(self, lr, momentum=0.99, weight_decay=0.0):",
    ),
)
NES_IN_PLACE = _slip(
    "Nesterov",
    (
        "        return w - lr * (g + self.momentum * self.v)",
        "        w -= lr * (g + self.momentum * self.v)\n        return w",
    ),
)
NES_EXPANDED = """
class Nesterov:
    def __init__(self, lr, momentum=0.9, weight_decay=0.0):
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.v = None

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.weight_decay * w
        if self.v is None:
            self.v = g.copy()
            look = g + self.momentum * self.v
        else:
            look = (1 + self.momentum) * g + self.momentum ** 2 * self.v   # g + μ(μv + g), expanded
            self.v = self.momentum * self.v + g
        return w - lr * look
"""
NES_OWN_BUFFER = """
class Nesterov:
    def __init__(self, lr, momentum=0.9, weight_decay=0.0):
        self.lr, self.mu, self.wd, self.buf = lr, momentum, weight_decay, None

    def step(self, w, g, lr=None):
        if lr is None:
            lr = self.lr
        d = g + self.wd * w
        if self.buf is None:
            self.buf = d.copy()
        else:
            self.buf *= self.mu
            self.buf += d
        return w - lr * (d + self.mu * self.buf)
"""

# --- Exercise 4: AdaGrad ------------------------------------------------------------------------

ADAGRAD_EPS_INSIDE = _slip(
    "AdaGrad",
    ("g / (np.sqrt(self.r) + self.eps)", "g / np.sqrt(self.r + self.eps)"),
)
ADAGRAD_NO_SQRT = _slip("AdaGrad", ("g / (np.sqrt(self.r) + self.eps)", "g / (self.r + self.eps)"))
ADAGRAD_NO_INIT = _slip(
    "AdaGrad",
    (
        "np.full_like(w, self.initial_accumulator_value, dtype=float)",
        "np.zeros_like(w, dtype=float)",
    ),
)
ADAGRAD_NO_ACCUM = _slip("AdaGrad", ("self.r = self.r + g * g", "self.r = g * g"))
ADAGRAD_RAW = _slip(
    "AdaGrad",
    (
        "        g = g + self.weight_decay * w\n",
        "        raw = g\n        g = g + self.weight_decay * w\n",
    ),
    ("self.r = self.r + g * g", "self.r = self.r + raw * raw"),
)
ADAGRAD_LR_OR = _slip("AdaGrad", (LR, LR_OR))
ADAGRAD_DEFAULT_EPS = _slip(
    "AdaGrad",
    (
        "def __init__(self, lr=0.01, eps=1e-10,",
        "def __init__(self, lr=0.01, eps=1e-8,",
    ),
)
ADAGRAD_IN_PLACE = _slip(
    "AdaGrad",
    (
        "        return w - lr * g / (np.sqrt(self.r) + self.eps)",
        "        w -= lr * g / (np.sqrt(self.r) + self.eps)\n        return w",
    ),
)
ADAGRAD_OWN_BUFFER = """
class AdaGrad:
    def __init__(self, lr=0.01, eps=1e-10, weight_decay=0.0, initial_accumulator_value=0.0):
        self.lr, self.eps, self.wd, self.r0 = lr, eps, weight_decay, initial_accumulator_value
        self.sum_sq = None

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        if self.sum_sq is None:
            self.sum_sq = np.full(np.shape(w), float(self.r0))
        np.add(self.sum_sq, g ** 2, out=self.sum_sq)
        return w - lr * g / (np.sqrt(self.sum_sq) + self.eps)
"""
ADAGRAD_SCALED_LR = """
class AdaGrad:
    def __init__(self, lr=0.01, eps=1e-10, weight_decay=0.0, initial_accumulator_value=0.0):
        self.lr, self.eps, self.wd, self.r0 = lr, eps, weight_decay, initial_accumulator_value
        self.r = None

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        self.r = (np.full_like(w, self.r0) if self.r is None else self.r) + np.square(g)
        per_coordinate_lr = lr / (np.sqrt(self.r) + self.eps)
        return w - per_coordinate_lr * g
"""

# --- Exercise 5: RMSProp ------------------------------------------------------------------------

RMS_EPS_INSIDE = _slip(
    "RMSProp",
    ("den = np.sqrt(self.r) + self.eps", "den = np.sqrt(self.r + self.eps)"),
    (
        "den = np.sqrt(self.r - self.gbar * self.gbar) + self.eps",
        "den = np.sqrt(self.r - self.gbar * self.gbar + self.eps)",
    ),
)
RMS_SWAP = _slip(
    "RMSProp",
    ("self.r = a * self.r + (1 - a) * g * g", "self.r = (1 - a) * self.r + a * g * g"),
    ("self.gbar = a * self.gbar + (1 - a) * g", "self.gbar = (1 - a) * self.gbar + a * g"),
)
RMS_R_INIT = """
class RMSProp:
    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, centered=False):
        self.lr, self.a, self.eps, self.wd, self.c = lr, alpha, eps, weight_decay, centered
        self.r = None
        self.m = 0.0

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        self.r = g * g if self.r is None else self.a * self.r + (1 - self.a) * g * g   # starts at g²
        var = self.r
        if self.c:
            self.m = self.a * self.m + (1 - self.a) * g
            var = self.r - self.m * self.m
        return w - lr * g / (np.sqrt(var) + self.eps)
"""
RMS_IGNORES_CENTERED = _slip("RMSProp", ("        if self.centered:\n", "        if False:\n"))
RMS_CENTERED_PLUS = _slip(
    "RMSProp",
    ("np.sqrt(self.r - self.gbar * self.gbar)", "np.sqrt(self.r + self.gbar * self.gbar)"),
)
RMS_GBAR_UNSQUARED = _slip(
    "RMSProp",
    ("np.sqrt(self.r - self.gbar * self.gbar)", "np.sqrt(np.maximum(self.r - self.gbar, 0.0))"),
)
RMS_PAN_DEFAULT = _slip(
    "RMSProp",
    (
        "def __init__(self, lr=0.01, alpha=0.99,",
        "def __init__(self, lr=0.01, alpha=0.9,",
    ),
)
RMS_LR_OR = _slip("RMSProp", (LR, LR_OR))
RMS_STATE_DICT = """
class RMSProp:
    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, centered=False):
        self.lr, self.alpha, self.eps, self.weight_decay, self.centered = lr, alpha, eps, weight_decay, centered
        self.state = {}

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.weight_decay * w
        s = self.state
        if not s:
            s["square_avg"], s["grad_avg"] = np.zeros_like(w), np.zeros_like(w)
        s["square_avg"] = self.alpha * s["square_avg"] + (1 - self.alpha) * g ** 2
        avg = s["square_avg"]
        if self.centered:
            s["grad_avg"] = self.alpha * s["grad_avg"] + (1 - self.alpha) * g
            avg = avg - s["grad_avg"] ** 2
        return w - lr * g / (np.sqrt(avg) + self.eps)
"""
RMS_LERP = """
class RMSProp:
    def __init__(self, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, centered=False):
        self.lr, self.alpha, self.eps, self.wd, self.centered = lr, alpha, eps, weight_decay, centered
        self.r = self.mean = None

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        g = g + self.wd * w
        if self.r is None:
            self.r, self.mean = np.zeros(np.shape(w)), np.zeros(np.shape(w))
        self.r = self.alpha * self.r + (1 - self.alpha) * np.square(g)
        if self.centered:
            self.mean = self.alpha * self.mean + (1 - self.alpha) * g
            std = np.sqrt(self.r - np.square(self.mean))
        else:
            std = np.sqrt(self.r)
        return w - lr * g / (std + self.eps)
"""

# --- Exercises 6 and 7: Adam, AdamW -------------------------------------------------------------

ADAM_EPS_INSIDE = _slip(
    "Adam",
    ("m_hat / (np.sqrt(v_hat) + self.eps)", "m_hat / np.sqrt(v_hat + self.eps)"),
)
ADAM_NO_BIAS = _slip(
    "Adam",
    ("m_hat = self.m / (1 - b1 ** self.t)", "m_hat = self.m"),
    ("v_hat = self.v / (1 - b2 ** self.t)", "v_hat = self.v"),
)
ADAM_BIAS_NO_T = _slip(
    "Adam",
    ("m_hat = self.m / (1 - b1 ** self.t)", "m_hat = self.m / (1 - b1)"),
    ("v_hat = self.v / (1 - b2 ** self.t)", "v_hat = self.v / (1 - b2)"),
)
ADAM_CORREIA = _slip(
    "Adam",
    ("m_hat = self.m / (1 - b1 ** self.t)", "m_hat = self.m / (1 - b1 ** (self.t - 1))"),
    ("v_hat = self.v / (1 - b2 ** self.t)", "v_hat = self.v / (1 - b2 ** (self.t - 1))"),
)
ADAM_M_ONLY = _slip("Adam", ("v_hat = self.v / (1 - b2 ** self.t)", "v_hat = self.v"))
ADAM_DECOUPLED = _slip(
    "Adam",
    ("        g = g + self.weight_decay * w\n", "        w = w * (1 - lr * self.weight_decay)\n"),
)
ADAM_BETAS_SWAPPED = _slip("Adam", ("b1, b2 = self.betas", "b2, b1 = self.betas"))
ADAM_LR_OR = _slip("Adam", (LR, LR_OR))
ADAM_DEFAULT_BETAS = _slip(
    "Adam",
    (
        "betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):",
        "betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0):",
    ),
)
ADAM_IN_PLACE = _slip(
    "Adam",
    (
        "        return w - lr * m_hat / (np.sqrt(v_hat) + self.eps)",
        "        w -= lr * m_hat / (np.sqrt(v_hat) + self.eps)\n        return w",
    ),
)
ADAM_EFFICIENT = """
class Adam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.state = None

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        b1, b2 = self.betas
        g = g + self.weight_decay * w
        if self.state is None:
            self.state = {"t": 0, "m": np.zeros_like(w), "v": np.zeros_like(w)}
        s = self.state
        s["t"] += 1
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        c1, c2 = 1 - b1 ** s["t"], 1 - b2 ** s["t"]
        return w - (lr / c1) * s["m"] / (np.sqrt(s["v"]) / np.sqrt(c2) + self.eps)
"""
ADAM_T_FIRST = """
class Adam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.t, self.m, self.v = 0, 0.0, 0.0       # scalars broadcast to w's shape at the first step

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        self.t += 1
        g = g + self.wd * w
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * np.square(g)
        m_hat = self.m / (1.0 - self.b1 ** self.t)
        v_hat = self.v / (1.0 - self.b2 ** self.t)
        return w - lr * m_hat / (np.sqrt(v_hat) + self.eps)
"""

_ADAMW = """
class AdamW:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        self.lr, self.betas, self.eps, self.wd = lr, betas, eps, weight_decay
        self.m = self.v = None
        self.t = 0

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        b1, b2 = self.betas
        w = w * (1 - lr * self.wd)
        if self.m is None:
            self.m, self.v = np.zeros_like(w), np.zeros_like(w)
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        m_hat, v_hat = self.m / (1 - b1 ** self.t), self.v / (1 - b2 ** self.t)
        return w - lr * m_hat / (np.sqrt(v_hat) + self.eps)
"""


def _adamw(*pairs: tuple[str, str]) -> str:
    src = _ADAMW
    for old, new in pairs:
        assert old in src, old
        src = src.replace(old, new)
    return src


ADAMW_STANDALONE = _ADAMW
ADAMW_COUPLED = _adamw(("        w = w * (1 - lr * self.wd)\n", "        g = g + self.wd * w\n"))
ADAMW_IGNORED = _adamw(("        w = w * (1 - lr * self.wd)\n", ""))
ADAMW_NO_LR = _adamw(("w = w * (1 - lr * self.wd)", "w = w * (1 - self.wd)"))
ADAMW_AFTER = _adamw(
    ("        w = w * (1 - lr * self.wd)\n", ""),
    (
        "        return w - lr * m_hat / (np.sqrt(v_hat) + self.eps)",
        "        return (w - lr * m_hat / (np.sqrt(v_hat) + self.eps)) * (1 - lr * self.wd)",
    ),
)
ADAMW_SELF_LR = _adamw(("w = w * (1 - lr * self.wd)", "w = w * (1 - self.lr * self.wd)"))
ADAMW_LR_OR = _adamw((LR, LR_OR))
ADAMW_DEFAULT_WD = _adamw(("weight_decay=0.01):", "weight_decay=0.0):"))
ADAMW_IN_PLACE = _adamw(("        w = w * (1 - lr * self.wd)\n", "        w *= 1 - lr * self.wd\n"))
ADAMW_SUBCLASS = """
class AdamW(Adam):
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(lr, betas, eps, weight_decay=0.0)
        self.decay = weight_decay

    def step(self, w, g, lr=None):
        lr = self.lr if lr is None else lr
        return super().step(w * (1 - lr * self.decay), g, lr)
"""
# the student's Adam puts ε inside the square root (its own exercise loses its points for that);
# an AdamW that is right on top of it keeps AdamW's point, one that is wrong on top of it does not
ADAMW_COUPLED_ON_ADAM = """
class AdamW:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        self.adam = Adam(lr, betas, eps, weight_decay)   # Adam's L2 penalty, not decoupled decay
        self.lr = lr

    def step(self, w, g, lr=None):
        return self.adam.step(w, g, self.lr if lr is None else lr)
"""

# --- Exercise 8: optimal_momentum_params --------------------------------------------------------

OMP_SWAPPED = """
def optimal_momentum_params(lam_min, lam_max):
    a, b = np.sqrt(lam_min), np.sqrt(lam_max)
    return float(((b - a) / (b + a)) ** 2), float((2 / (a + b)) ** 2)
"""
OMP_NOT_SQUARED = _slip(
    "optimal_momentum_params", ("float(((b - a) / (b + a)) ** 2)", "float((b - a) / (b + a))")
)
OMP_LR_NOT_SQUARED = _slip(
    "optimal_momentum_params", ("float((2 / (a + b)) ** 2)", "float(2 / (a + b))")
)
OMP_GD_LR = _slip(
    "optimal_momentum_params", ("float((2 / (a + b)) ** 2)", "float(2 / (lam_min + lam_max))")
)
OMP_NO_SQRT = _slip(
    "optimal_momentum_params",
    ("a, b = np.sqrt(lam_min), np.sqrt(lam_max)", "a, b = lam_min, lam_max"),
)
OMP_ARRAY = """
def optimal_momentum_params(lam_min, lam_max):
    a, b = np.sqrt(lam_min), np.sqrt(lam_max)
    return np.array([(2 / (a + b)) ** 2, ((b - a) / (b + a)) ** 2])
"""
OMP_TENSORS = """
def optimal_momentum_params(lam_min, lam_max):
    a, b = torch.sqrt(torch.tensor(lam_min)), torch.sqrt(torch.tensor(lam_max))
    return (2 / (a + b)) ** 2, ((b - a) / (b + a)) ** 2
"""
OMP_MATH = """
import math


def optimal_momentum_params(lam_min, lam_max):
    s_min, s_max = math.sqrt(lam_min), math.sqrt(lam_max)
    return 4.0 / (s_min + s_max) ** 2, ((s_max - s_min) / (s_max + s_min)) ** 2
"""
OMP_KAPPA = """
def optimal_momentum_params(lam_min, lam_max):
    rk = float(np.sqrt(lam_max / lam_min))          # √κ
    lr = 4.0 / (lam_min * (1.0 + rk) ** 2)
    return lr, ((rk - 1.0) / (rk + 1.0)) ** 2
"""

# --- Exercise 9: lr_at --------------------------------------------------------------------------

LR_EXP_OFF = _slip("lr_at", ('p["gamma"] ** t)', 'p["gamma"] ** (t + 1))'))
LR_NO_FLOOR = _slip("lr_at", ('** (t // p["step_size"])', '** (t / p["step_size"])'))
LR_GAMMA_REQUIRED = _slip("lr_at", ('p.get("gamma", 0.1)', 'p["gamma"]'))
LR_COSINE_PERIOD = _slip(
    "lr_at", ('np.cos(np.pi * t / p["T_max"])', 'np.cos(2 * np.pi * t / p["T_max"])')
)
LR_COSINE_OFF = _slip(
    "lr_at", ('np.cos(np.pi * t / p["T_max"])', 'np.cos(np.pi * (t + 1) / p["T_max"])')
)
LR_ETA_IGNORED = _slip(
    "lr_at",
    (
        'return float(eta + (p["lr0"] - eta) * (1 + np.cos(np.pi * t / p["T_max"])) / 2)',
        'return float(p["lr0"] * (1 + np.cos(np.pi * t / p["T_max"])) / 2)',
    ),
)
LR_CYCLE_SHORT = _slip("lr_at", ("c = np.floor(1 + t / (2 * s))", "c = np.floor(1 + t / s)"))
LR_CYCLE_SWAPPED = _slip(
    "lr_at",
    (
        'return float(p["base_lr"] + (p["max_lr"] - p["base_lr"]) * max(0.0, 1 - x))',
        'return float(p["max_lr"] + (p["base_lr"] - p["max_lr"]) * max(0.0, 1 - x))',
    ),
)
LR_ANNEAL_PRECEDENCE = _slip("lr_at", ('p["alpha"] / (p["eps"] + t)', 'p["alpha"] / p["eps"] + t'))
LR_NO_VALUE_ERROR = _slip(
    "lr_at", ('raise ValueError(f"unknown schedule {schedule!r}")', "return 0.0")
)
LR_TORCH = """
import torch


def lr_at(schedule, t, **p):
    S = torch.optim.lr_scheduler
    make = {
        "step": lambda o: S.StepLR(o, p["step_size"], p.get("gamma", 0.1)),
        "exponential": lambda o: S.ExponentialLR(o, p["gamma"]),
        "cosine": lambda o: S.CosineAnnealingLR(o, p["T_max"], p.get("eta_min", 0.0)),
        "cyclic": lambda o: S.CyclicLR(o, p["base_lr"], p["max_lr"], p["step_size_up"], cycle_momentum=False),
    }
    if schedule == "anneal":
        return p["alpha"] / (p["eps"] + t)
    if schedule not in make:
        raise ValueError(schedule)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=p.get("lr0", p.get("base_lr")))
    sched = make[schedule](opt)
    for _ in range(t):
        opt.step()
        sched.step()
    return float(opt.param_groups[0]["lr"])
"""
LR_ARRAY = _slip(
    "lr_at",
    ('return float(p["alpha"] / (p["eps"] + t))', 'return np.array([p["alpha"] / (p["eps"] + t)])'),
)
LR_DISPATCH = """
import math


def _step(t, lr0, step_size, gamma=0.1):
    return lr0 * gamma ** math.floor(t / step_size)


def _exponential(t, lr0, gamma):
    return lr0 * gamma ** t


def _cosine(t, lr0, T_max, eta_min=0.0):
    return eta_min + (lr0 - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2


def _anneal(t, alpha, eps):
    return alpha / (eps + t)


def _cyclic(t, base_lr, max_lr, step_size_up):
    pos = (t % (2 * step_size_up)) / step_size_up      # 0 .. 2 within the cycle
    return base_lr + (max_lr - base_lr) * (pos if pos <= 1 else 2 - pos)


_SCHEDULES = {"step": _step, "exponential": _exponential, "cosine": _cosine, "anneal": _anneal, "cyclic": _cyclic}


def lr_at(schedule, t, **params):
    if schedule not in _SCHEDULES:
        raise ValueError(f"no schedule called {schedule!r}")
    return float(_SCHEDULES[schedule](t, **params))
"""
LR_MATCH = """
import math


def lr_at(schedule, t, **p):
    match schedule:
        case "step":
            return p["lr0"] * p.get("gamma", 0.1) ** int(t / p["step_size"])
        case "exponential":
            return float(p["lr0"] * p["gamma"] ** t)
        case "cosine":
            lo = p.get("eta_min", 0.0)
            return lo + 0.5 * (p["lr0"] - lo) * (1 + math.cos(math.pi * t / p["T_max"]))
        case "anneal":
            return p["alpha"] / (p["eps"] + t)
        case "cyclic":
            s = p["step_size_up"]
            x = abs(t / s - 2 * math.floor(1 + t / (2 * s)) + 1)
            return p["base_lr"] + (p["max_lr"] - p["base_lr"]) * max(0.0, 1.0 - x)
    raise ValueError(schedule)
"""

ZERO = "`lr or self.lr`"
CASES = [
    # SGD
    mistake("test_SGD", "weight decay sign", SGD_WD_SIGN, "weight decay with the wrong sign"),
    mistake(
        "test_SGD", "weight decay not times lr", SGD_WD_NO_LR, "not multiplied by the learning rate"
    ),
    mistake("test_SGD", "weight decay after the step", SGD_WD_AFTER, "after the step"),
    mistake("test_SGD", "lr or self.lr", SGD_LR_OR, ZERO, "lr is none"),
    mistake("test_SGD", "the lr passed is ignored", SGD_LR_IGNORED, "is ignored"),
    mistake("test_SGD", "torch.optim inside", SGD_TORCH, "ready-made implementation"),
    mistake("test_SGD", "w -= ...", SGD_IN_PLACE, "changed the w or the g"),
    mistake("test_SGD", "g += ...", SGD_G_IN_PLACE, "changed the w or the g"),
    mistake("test_SGD", "another default weight decay", SGD_DEFAULT_WD, "use torch's defaults"),
    alternative("test_SGD", "a dict of hyper-parameters", SGD_HP_DICT),
    alternative("test_SGD", "a copy updated in place", SGD_EXPANDED),
    # Momentum
    mistake(
        "test_Momentum", "lr inside the velocity (Pan)", MOM_LR_INSIDE, "inside the velocity", "pan"
    ),
    mistake(
        "test_Momentum",
        "dampening at the first step",
        MOM_DAMP_FIRST,
        "dampening applied at the first",
    ),
    mistake("test_Momentum", "v starts at 0", MOM_V_ZERO, "v started at 0"),
    mistake("test_Momentum", "dampening ignored", MOM_NO_DAMP, "dampening ignored"),
    mistake("test_Momentum", "no memory", MOM_NO_MEMORY, "plain sgd"),
    mistake("test_Momentum", "Nesterov's step", MOM_NESTEROV, "nesterov's update"),
    mistake("test_Momentum", "lr or self.lr", MOM_LR_OR, ZERO),
    mistake("test_Momentum", "the lr passed is ignored", MOM_LR_IGNORED, "is ignored"),
    mistake("test_Momentum", "another default momentum", MOM_DEFAULT, "use torch's defaults"),
    alternative("test_Momentum", "a step counter", MOM_COUNTER),
    alternative("test_Momentum", "its own buffer, updated in place", MOM_OWN_BUFFER),
    # Nesterov
    mistake("test_Nesterov", "no look-ahead", NES_NO_LOOKAHEAD, "look-ahead is missing"),
    mistake("test_Nesterov", "dampened", NES_DAMPED, "dampened by (1 - momentum)"),
    mistake("test_Nesterov", "look-ahead sign (Kira's slide)", NES_SIGN, "wrong sign", "kira"),
    mistake("test_Nesterov", "lr or self.lr", NES_LR_OR, ZERO),
    mistake("test_Nesterov", "another default momentum", NES_DEFAULT, "use torch's defaults"),
    mistake("test_Nesterov", "w -= ...", NES_IN_PLACE, "changed the w or the g"),
    alternative("test_Nesterov", "the step expanded", NES_EXPANDED),
    alternative("test_Nesterov", "its own buffer, updated in place", NES_OWN_BUFFER),
    # AdaGrad
    mistake(
        "test_AdaGrad", "eps inside the root", ADAGRAD_EPS_INSIDE, "eps inside the square root"
    ),
    mistake("test_AdaGrad", "no square root", ADAGRAD_NO_SQRT, "no square root"),
    mistake("test_AdaGrad", "initial value ignored", ADAGRAD_NO_INIT, "initial_accumulator_value"),
    mistake("test_AdaGrad", "not accumulated", ADAGRAD_NO_ACCUM, "not accumulated"),
    mistake("test_AdaGrad", "squares before weight decay", ADAGRAD_RAW, "before weight decay"),
    mistake("test_AdaGrad", "lr or self.lr", ADAGRAD_LR_OR, ZERO),
    mistake("test_AdaGrad", "another default eps", ADAGRAD_DEFAULT_EPS, "use torch's defaults"),
    mistake("test_AdaGrad", "w -= ...", ADAGRAD_IN_PLACE, "changed the w or the g"),
    alternative("test_AdaGrad", "np.add(..., out=)", ADAGRAD_OWN_BUFFER),
    alternative("test_AdaGrad", "a per-coordinate lr", ADAGRAD_SCALED_LR),
    # RMSProp
    mistake("test_RMSProp", "eps inside the root", RMS_EPS_INSIDE, "eps inside the square root"),
    mistake("test_RMSProp", "alpha swapped", RMS_SWAP, "alpha and 1 - alpha swapped"),
    mistake("test_RMSProp", "r starts at g²", RMS_R_INIT, "r started at g**2"),
    mistake("test_RMSProp", "centered ignored", RMS_IGNORES_CENTERED, "centered=true ignored"),
    mistake(
        "test_RMSProp", "centered adds the squared mean", RMS_CENTERED_PLUS, "squared mean is added"
    ),
    mistake(
        "test_RMSProp",
        "centered: the mean unsquared",
        RMS_GBAR_UNSQUARED,
        "square of the running mean",
    ),
    mistake("test_RMSProp", "Pan's default decay 0.9", RMS_PAN_DEFAULT, "pan's 0.9", "0.99"),
    mistake("test_RMSProp", "lr or self.lr", RMS_LR_OR, ZERO),
    alternative("test_RMSProp", "a state dict", RMS_STATE_DICT),
    alternative("test_RMSProp", "np.square and a std", RMS_LERP),
    # Adam
    mistake("test_Adam", "eps inside the root", ADAM_EPS_INSIDE, "eps inside the square root"),
    mistake("test_Adam", "no bias correction", ADAM_NO_BIAS, "missing bias correction"),
    mistake("test_Adam", "1 - b (Pan's typo)", ADAM_BIAS_NO_T, "without the step exponent", "pan"),
    mistake(
        "test_Adam",
        "1 - b**(t-1) (Correia's slide)",
        ADAM_CORREIA,
        "previous step's exponent",
        "correia",
    ),
    mistake("test_Adam", "m corrected only", ADAM_M_ONLY, "bias correction of m only"),
    mistake("test_Adam", "decoupled decay", ADAM_DECOUPLED, "that is adamw"),
    mistake("test_Adam", "betas swapped", ADAM_BETAS_SWAPPED, "betas swapped"),
    mistake("test_Adam", "lr or self.lr", ADAM_LR_OR, ZERO),
    mistake("test_Adam", "another default beta2", ADAM_DEFAULT_BETAS, "use torch's defaults"),
    mistake("test_Adam", "w -= ...", ADAM_IN_PLACE, "changed the w or the g"),
    alternative("test_Adam", "Kingma's efficient form", ADAM_EFFICIENT),
    alternative("test_Adam", "scalar state, t counted first", ADAM_T_FIRST),
    # AdamW
    mistake("test_AdamW", "coupled decay", ADAMW_COUPLED, "adam's l2 penalty"),
    mistake("test_AdamW", "decay ignored", ADAMW_IGNORED, "weight decay ignored"),
    mistake("test_AdamW", "decay not times lr", ADAMW_NO_LR, "not multiplied by the learning rate"),
    mistake("test_AdamW", "decay after the step", ADAMW_AFTER, "after the adam step"),
    mistake("test_AdamW", "decay with self.lr", ADAMW_SELF_LR, "uses self.lr"),
    mistake("test_AdamW", "lr or self.lr", ADAMW_LR_OR, ZERO),
    mistake("test_AdamW", "default weight decay 0", ADAMW_DEFAULT_WD, "weight_decay=0.01"),
    mistake("test_AdamW", "w *= ...", ADAMW_IN_PLACE, "changed the w or the g"),
    mistake(
        "test_AdamW",
        "coupled, on an Adam that is wrong too",
        ADAMW_COUPLED_ON_ADAM,
        "neither torch.optim.adamw nor decoupled decay followed by your own adam",
        hidden=True,
        extra={"answer_Adam": ADAM_EPS_INSIDE},
    ),
    alternative("test_AdamW", "on its own", ADAMW_STANDALONE),
    alternative("test_AdamW", "a subclass of Adam", ADAMW_SUBCLASS),
    alternative(
        "test_AdamW",
        "right, on an Adam that is wrong (no penalty twice)",
        _SOLUTION["answer_AdamW"],
        extra={"answer_Adam": ADAM_EPS_INSIDE},
    ),
    # optimal_momentum_params
    mistake("test_optimal_momentum_params", "swapped", OMP_SWAPPED, "lr and momentum swapped"),
    mistake(
        "test_optimal_momentum_params",
        "momentum not squared",
        OMP_NOT_SQUARED,
        "momentum not squared",
    ),
    mistake("test_optimal_momentum_params", "lr not squared", OMP_LR_NOT_SQUARED, "lr not squared"),
    mistake(
        "test_optimal_momentum_params", "gradient descent's lr", OMP_GD_LR, "plain gradient descent"
    ),
    mistake("test_optimal_momentum_params", "no square roots", OMP_NO_SQRT, "square roots belong"),
    mistake("test_optimal_momentum_params", "an array", OMP_ARRAY, "return a pair"),
    # a NumPy-only exercise: tensors (torch itself) are refused outright
    mistake("test_optimal_momentum_params", "0-d tensors", OMP_TENSORS, "graded with numpy only"),
    alternative("test_optimal_momentum_params", "math.sqrt", OMP_MATH),
    alternative("test_optimal_momentum_params", "through √κ", OMP_KAPPA),
    # lr_at
    mistake("test_lr_at", "exponential off by one", LR_EXP_OFF, "at t = 0 the rate is lr0"),
    mistake("test_lr_at", "step without floor", LR_NO_FLOOR, "no floor"),
    mistake(
        "test_lr_at", "gamma has no default", LR_GAMMA_REQUIRED, "takes its default", "gamma=0.1"
    ),
    mistake("test_lr_at", "cosine over a full period", LR_COSINE_PERIOD, "full cosine period"),
    mistake("test_lr_at", "cosine off by one", LR_COSINE_OFF, "off by one"),
    mistake("test_lr_at", "eta_min ignored", LR_ETA_IGNORED, "eta_min ignored"),
    mistake("test_lr_at", "cycle of step_size_up", LR_CYCLE_SHORT, "2 * step_size_up steps long"),
    mistake("test_lr_at", "base and max swapped", LR_CYCLE_SWAPPED, "base_lr and max_lr swapped"),
    mistake("test_lr_at", "alpha / eps + t", LR_ANNEAL_PRECEDENCE, "alpha / eps + t"),
    mistake("test_lr_at", "no ValueError", LR_NO_VALUE_ERROR, "should raise valueerror"),
    mistake("test_lr_at", "torch's schedulers", LR_TORCH, "ready-made implementation"),
    mistake("test_lr_at", "an array", LR_ARRAY, "python float"),
    alternative("test_lr_at", "a dispatch table, modular cycle", LR_DISPATCH),
    alternative("test_lr_at", "match and math", LR_MATCH),
]
