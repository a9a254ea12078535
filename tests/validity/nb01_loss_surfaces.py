"""Notebook 01 (loss surfaces): for every exercise, classic mistakes and correct alternatives.

Each source replaces an answer cell of solutions/01_loss_surfaces; the names it uses (np, math,
torch) come from the notebook's setup cell.
"""

from __future__ import annotations

from . import alternative, mistake

# --- Exercise 1: nll_loss -----------------------------------------------------------------------

NLL_SUMMED = """
def nll_loss(w, X, y):
    z = X @ w
    return float(np.sum(np.logaddexp(0.0, z) - y * z))
"""
NLL_SIGMOID = """
def nll_loss(w, X, y):
    s = 1 / (1 + np.exp(-(X @ w)))
    return float(np.mean(-(y * np.log(s) + (1 - y) * np.log(1 - s))))
"""
NLL_EXP_OVERFLOWS = """
def nll_loss(w, X, y):
    z = X @ w
    return float(np.mean(np.log(1 + np.exp(z)) - y * z))
"""
NLL_LOG1P_OVERFLOWS = """
def nll_loss(w, X, y):
    z = X @ w
    return float(np.mean(np.log1p(np.exp(z)) - y * z))
"""
NLL_CLIPPED = """
def nll_loss(w, X, y):
    s = np.clip(1 / (1 + np.exp(-(X @ w))), 1e-12, 1 - 1e-12)
    return float(np.mean(-(y * np.log(s) + (1 - y) * np.log(1 - s))))
"""
NLL_LOG2 = """
def nll_loss(w, X, y):
    z = X @ w
    return float(np.mean(np.logaddexp(0.0, z) - y * z) / np.log(2))
"""
NLL_SWAPPED = """
def nll_loss(w, X, y):
    z = X @ w
    return float(np.mean(np.logaddexp(0.0, z) - (1 - y) * z))
"""
NLL_LIKELIHOOD = """
def nll_loss(w, X, y):
    z = X @ w
    return float(-np.mean(np.logaddexp(0.0, z) - y * z))
"""
NLL_TENSOR = """
def nll_loss(w, X, y):
    z = torch.as_tensor(X @ w)
    return torch.nn.functional.binary_cross_entropy_with_logits(z, torch.as_tensor(y))
"""
NLL_PER_EXAMPLE = """
def nll_loss(w, X, y):
    z = X @ w
    return np.logaddexp(0.0, z) - y * z
"""
NLL_TORCH = """
def nll_loss(w, X, y):
    z = torch.as_tensor(X @ w)
    return float(torch.nn.functional.binary_cross_entropy_with_logits(z, torch.as_tensor(y)))
"""
NLL_PIECEWISE = """
def nll_loss(w, X, y):
    z = X @ w
    # log(1 + e^z) = max(z, 0) + log(1 + e^-|z|): the exponent is never positive
    return float(np.mean(np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))) - y * z))
"""
NLL_TWO_LOGS = """
def nll_loss(w, X, y):
    z = X @ w
    log_s = -np.logaddexp(0.0, -z)           # log σ(z)
    log_1ms = -np.logaddexp(0.0, z)          # log(1 - σ(z))
    return float(-np.mean(y * log_s + (1 - y) * log_1ms))
"""
NLL_SCIPY = """
from scipy.special import log_expit


def nll_loss(w, X, y):
    z = X @ w
    return float(-np.mean(y * log_expit(z) + (1 - y) * log_expit(-z)))
"""

# --- Exercise 2: nll_grad -----------------------------------------------------------------------

GRAD_ASCENT = """
def nll_grad(w, X, y):
    s = 1 / (1 + np.exp(-(X @ w)))
    return X.T @ (y - s) / len(y)
"""
GRAD_SUMMED = """
def nll_grad(w, X, y):
    s = 1 / (1 + np.exp(-(X @ w)))
    return X.T @ (s - y)
"""
GRAD_PER_EXAMPLE = """
def nll_grad(w, X, y):
    s = 1 / (1 + np.exp(-(X @ w)))
    return (s - y) / len(y)
"""
GRAD_AUTOGRAD = """
def nll_grad(w, X, y):
    wt = torch.tensor(w, requires_grad=True)
    z = torch.as_tensor(X) @ wt
    torch.nn.functional.binary_cross_entropy_with_logits(z, torch.as_tensor(y)).backward()
    return wt.grad.numpy()
"""
GRAD_COLUMN = """
def nll_grad(w, X, y):
    s = 1 / (1 + np.exp(-(X @ w)))
    return X.T @ (s - y).reshape(-1, 1) / len(y)
"""
GRAD_TWO_WEIGHTS = """
def nll_grad(w, X, y):
    s = 1 / (1 + np.exp(-(X @ w)))
    return np.array([np.mean(X[:, 0] * (s - y)), np.mean(X[:, 1] * (s - y))])
"""
GRAD_TORCH_SIGMOID = """
def nll_grad(w, X, y):
    with torch.no_grad():
        s = torch.sigmoid(torch.as_tensor(X @ w)).numpy()
    return np.mean(X * (s - y)[:, None], axis=0)
"""
GRAD_EXPIT_EINSUM = """
from scipy.special import expit


def nll_grad(w, X, y):
    return np.einsum("nd,n->d", X, expit(X @ w) - y) / len(y)
"""
GRAD_LOOP = """
def nll_grad(w, X, y):
    g = np.zeros(len(w))
    for x_i, y_i in zip(X, y):
        z = float(x_i @ w)
        s = math.exp(-np.logaddexp(0.0, -z))     # σ(z), without overflow
        g += x_i * (s - y_i)
    return g / len(y)
"""

# --- Exercise 3: numerical_grad -----------------------------------------------------------------

NG_SCIPY = """
from scipy.optimize import approx_fprime


def numerical_grad(f, w, h=1e-5):
    return approx_fprime(np.asarray(w, float), f, h)
"""
NG_FORWARD = """
def numerical_grad(f, w, h=1e-5):
    w = np.asarray(w, float)
    return np.array([(f(w + h * e) - f(w)) / h for e in np.eye(w.size)])
"""
NG_BY_H = """
def numerical_grad(f, w, h=1e-5):
    w = np.asarray(w, float)
    return np.array([(f(w + h * e) - f(w - h * e)) / h for e in np.eye(w.size)])
"""
NG_FLIPPED = """
def numerical_grad(f, w, h=1e-5):
    w = np.asarray(w, float)
    return np.array([(f(w - h * e) - f(w + h * e)) / (2 * h) for e in np.eye(w.size)])
"""
NG_IGNORES_H = """
def numerical_grad(f, w, h=1e-5):
    w = np.asarray(w, float)
    return np.array([(f(w + 1e-5 * e) - f(w - 1e-5 * e)) / 2e-5 for e in np.eye(w.size)])
"""
NG_NOT_RESTORED = """
def numerical_grad(f, w, h=1e-5):
    w = np.asarray(w, dtype=float)      # no copy: the caller's array
    g = np.zeros_like(w)
    for d in range(w.size):
        w[d] += h
        up = f(w)
        w[d] -= 2 * h
        down = f(w)
        g[d] = (up - down) / (2 * h)
    return g
"""
NG_DEFAULT_H = """
def numerical_grad(f, w, h=1e-3):
    w = np.asarray(w, float)
    return np.array([(f(w + h * e) - f(w - h * e)) / (2 * h) for e in np.eye(w.size)])
"""
NG_VECTOR = """
def numerical_grad(f, w, h=1e-5):
    w = np.asarray(w, float)
    E = h * np.eye(w.size)
    return np.array([f(w + e) - f(w - e) for e in E]) / (2 * h)
"""
NG_IN_PLACE_RESTORED = """
def numerical_grad(f, w, h=1e-5):
    w = np.array(w, dtype=float)
    g = np.empty_like(w)
    for d in range(w.size):
        old = w[d]
        w[d] = old + h
        up = f(w)
        w[d] = old - h
        down = f(w)
        w[d] = old
        g[d] = (up - down) / (2 * h)
    return g
"""

# --- Exercise 4: gradient_descent ---------------------------------------------------------------

GD_NO_W0 = """
def gradient_descent(grad, w0, lr, steps):
    w = np.array(w0, float)
    path = []
    for _ in range(steps):
        w = w - lr * grad(w)
        path.append(w)
    return np.array(path).reshape(steps, -1)
"""
GD_SAME_ARRAY = """
def gradient_descent(grad, w0, lr, steps):
    w = np.array(w0, float)
    path = [w]
    for _ in range(steps):
        w -= lr * grad(w)
        path.append(w)
    return np.array(path)
"""
GD_UPHILL = """
def gradient_descent(grad, w0, lr, steps):
    path = [np.array(w0, float)]
    for _ in range(steps):
        path.append(path[-1] + lr * grad(path[-1]))
    return np.array(path)
"""
GD_GRAD_TWICE = """
def gradient_descent(grad, w0, lr, steps):
    path = [np.array(w0, float)]
    for _ in range(steps):
        grad(path[-1])                                   # a look at the gradient...
        path.append(path[-1] - lr * np.asarray(grad(path[-1])))   # ...and another call
    return np.array(path)
"""
GD_CHANGES_W0 = """
def gradient_descent(grad, w0, lr, steps):
    w = np.asarray(w0, dtype=float)     # no copy: the caller's array
    path = [w.copy()]
    for _ in range(steps):
        w -= lr * np.asarray(grad(w))
        path.append(w.copy())
    return np.array(path)
"""
GD_GRAD_AT_W0 = """
def gradient_descent(grad, w0, lr, steps):
    w0 = np.array(w0, float)
    path = [w0]
    for _ in range(steps):
        path.append(path[-1] - lr * np.asarray(grad(w0)))
    return np.array(path)
"""
GD_PREALLOCATED = """
def gradient_descent(grad, w0, lr, steps):
    w0 = np.asarray(w0, dtype=float)
    path = np.empty((steps + 1, w0.size))
    path[0] = w0
    for k in range(steps):
        path[k + 1] = path[k] - lr * np.asarray(grad(path[k]))
    return path
"""
GD_VSTACK = """
def gradient_descent(grad, w0, lr, steps):
    path = np.array(w0, dtype=float)[None, :]
    for _ in range(steps):
        path = np.vstack([path, path[-1] - lr * np.asarray(grad(path[-1].copy()))])
    return path
"""

# --- Exercise 5: convexity_violation ------------------------------------------------------------

_CV = """
def convexity_violation(f, w0, w1, n=101):
    w0, w1 = np.asarray(w0, float), np.asarray(w1, float)
    f0, f1 = f(w0), f(w1)
    gaps = [GAP for lam in LAMS]
    return float(REDUCE(gaps))
"""


def _cv(
    gap="f(lam * w0 + (1 - lam) * w1) - (lam * f0 + (1 - lam) * f1)",
    lams="np.linspace(0.0, 1.0, n)",
    reduce="max",
) -> str:
    return _CV.replace("GAP", gap).replace("LAMS", lams).replace("REDUCE", reduce)


CV_FLIPPED = _cv(gap="(lam * f0 + (1 - lam) * f1) - f(lam * w0 + (1 - lam) * w1)")
CV_MISMATCHED = _cv(gap="f(lam * w0 + (1 - lam) * w1) - (lam * f1 + (1 - lam) * f0)")
CV_NO_ENDS = _cv(lams="np.linspace(0.0, 1.0, n)[1:-1]")
CV_MEAN = _cv(reduce="np.mean")
CV_N_IGNORED = _cv(lams="np.linspace(0.0, 1.0, 101)")
CV_ARRAY = """
def convexity_violation(f, w0, w1, n=101):
    w0, w1 = np.asarray(w0, float), np.asarray(w1, float)
    lams = np.linspace(0, 1, n)
    gaps = np.array([f(l * w0 + (1 - l) * w1) for l in lams]) - (lams * f(w0) + (1 - lams) * f(w1))
    return float(gaps.max())
"""
CV_FROM_W1 = """
def convexity_violation(f, w0, w1, n=101):
    # walk from w1 with mu = 1 - lambda: the same points, the same chord
    w0, w1 = np.asarray(w0, float), np.asarray(w1, float)
    worst = -math.inf
    for mu in np.linspace(0, 1, n):
        worst = max(worst, f(mu * w1 + (1 - mu) * w0) - (mu * f(w1) + (1 - mu) * f(w0)))
    return float(worst)
"""

# --- Exercise 6: hessian_fd ---------------------------------------------------------------------

HESS_OVER_H2 = """
def hessian_fd(f, w, h=1e-4):
    w = np.asarray(w, float)
    E = np.eye(w.size) * h
    return np.array([[(f(w + a + b) - f(w + a - b) - f(w - a + b) + f(w - a - b)) / (h * h)
                      for b in E] for a in E])
"""
HESS_DIAGONAL = """
def hessian_fd(f, w, h=1e-4):
    w = np.asarray(w, float)
    E = np.eye(w.size) * h
    return np.diag([(f(w + e) - 2 * f(w) + f(w - e)) / h**2 for e in E])
"""
HESS_FORWARD = """
def hessian_fd(f, w, h=1e-4):
    w = np.asarray(w, float)
    E = np.eye(w.size) * h
    return np.array([[(f(w + a + b) - f(w + a) - f(w + b) + f(w)) / h**2 for b in E] for a in E])
"""
HESS_ASYMMETRIC = """
def hessian_fd(f, w, h=1e-4):
    # differences of Exercise 3's numerical_grad (its own h = 1e-5 inside, h outside): not symmetric
    w = np.asarray(w, float)
    return np.array([(numerical_grad(f, w + h * e) - numerical_grad(f, w - h * e)) / (2 * h)
                     for e in np.eye(w.size)])
"""
HESS_OF_GRADIENT = """
def hessian_fd(f, w, h=1e-4):
    w = np.asarray(w, float)
    def g(v):  # central-difference gradient
        return np.array([(f(v + h * e) - f(v - h * e)) / (2 * h) for e in np.eye(v.size)])
    H = np.array([(g(w + h * e) - g(w - h * e)) / (2 * h) for e in np.eye(w.size)])
    return 0.5 * (H + H.T)
"""
HESS_IGNORES_H = """
def hessian_fd(f, w, h=1e-4):
    h = 1e-4
    w = np.asarray(w, float)
    E = np.eye(w.size) * h
    H = np.array([[(f(w + a + b) - f(w + a - b) - f(w - a + b) + f(w - a - b)) / (4 * h * h)
                   for b in E] for a in E])
    return 0.5 * (H + H.T)
"""
HESS_IN_PLACE = """
def hessian_fd(f, w, h=1e-4):
    w = np.asarray(w, dtype=float)        # the caller's array, moved in place
    D = w.size
    H = np.zeros((D, D))
    f0 = f(w)
    for i in range(D):
        for j in range(i + 1, D):
            E_i, E_j = h * np.eye(D)[i], h * np.eye(D)[j]
            H[i, j] = H[j, i] = (f(w + E_i + E_j) - f(w + E_i - E_j) - f(w - E_i + E_j) + f(w - E_i - E_j)) / (4 * h * h)
    for i in range(D):
        w[i] += h
        up = f(w)
        w[i] -= 2 * h
        down = f(w)                       # ...and w[i] is not put back
        H[i, i] = (up - 2 * f0 + down) / h**2
    return H
"""
HESS_THREE_POINT = """
def hessian_fd(f, w, h=1e-4):
    w = np.asarray(w, float)
    D = w.size
    E = np.eye(D) * h
    H = np.empty((D, D))
    for i in range(D):
        H[i, i] = (f(w + E[i]) - 2 * f(w) + f(w - E[i])) / h**2
        for j in range(i):
            H[i, j] = H[j, i] = (f(w + E[i] + E[j]) - f(w + E[i] - E[j])
                                 - f(w - E[i] + E[j]) + f(w - E[i] - E[j])) / (4 * h * h)
    return H
"""

# --- Exercise 7: classify_critical_point --------------------------------------------------------

_CLS = """
def classify_critical_point(H, tol=1e-8):
    lam = np.linalg.eigvalsh(np.asarray(H, float))
    if lam.max() > tol and lam.min() < -tol:
        return "saddle"
    if np.any(np.abs(lam) <= tol):
        return "degenerate"
    return "minimum" if lam.min() > 0 else "maximum"
"""


def _cls(*pairs: tuple[str, str]) -> str:
    src = _CLS
    for old, new in pairs:
        assert old in src, old
        src = src.replace(old, new)
    return src


CLS_DIAGONAL = _cls(("np.linalg.eigvalsh(np.asarray(H, float))", "np.diag(np.asarray(H, float))"))
CLS_DEGENERATE_FIRST = """
def classify_critical_point(H, tol=1e-8):
    lam = np.linalg.eigvalsh(np.asarray(H, float))
    if np.any(np.abs(lam) <= tol):
        return "degenerate"
    if lam.max() > tol and lam.min() < -tol:
        return "saddle"
    return "minimum" if lam.min() > 0 else "maximum"
"""
CLS_IGNORES_TOL = _cls(
    ("lam.max() > tol and lam.min() < -tol", "lam.max() > 1e-8 and lam.min() < -1e-8"),
    ("np.abs(lam) <= tol", "np.abs(lam) <= 1e-8"),
)
CLS_NO_DEFAULT_TOL = _cls(
    ("def classify_critical_point(H, tol=1e-8):", "def classify_critical_point(H, tol=0.0):")
)
CLS_DET_TRACE = """
def classify_critical_point(H, tol=1e-8):
    H = np.asarray(H, float)
    det, tr = np.linalg.det(H), np.trace(H)
    if det < -tol:
        return "saddle"
    if abs(det) <= tol:
        return "degenerate"
    return "minimum" if tr > 0 else "maximum"
"""
CLS_SIGNS_SWAPPED = _cls(
    ('"minimum" if lam.min() > 0 else "maximum"', '"maximum" if lam.min() > 0 else "minimum"')
)
CLS_EIGVALS = """
def classify_critical_point(H, tol=1e-8):
    lam = np.linalg.eigvals(np.asarray(H)).real
    pos, neg = (lam > tol).any(), (lam < -tol).any()
    if pos and neg:
        return 'saddle'
    if (abs(lam) <= tol).any():
        return 'degenerate'
    return 'minimum' if pos else 'maximum'
"""
CLS_COUNTS = """
def classify_critical_point(H, tol=1e-8):
    lam = np.linalg.eigh(H)[0]
    n_pos, n_neg, n_zero = int(np.sum(lam > tol)), int(np.sum(lam < -tol)), int(np.sum(abs(lam) <= tol))
    if n_pos and n_neg:
        return "saddle"
    if n_zero:
        return "degenerate"
    return "minimum" if n_pos == len(lam) else "maximum"
"""

# --- Exercise 8: max_stable_lr ------------------------------------------------------------------

LR_ONE_OVER = "def max_stable_lr(H):\n    return float(1 / np.linalg.eigvalsh(H).max())\n"
LR_MIN = "def max_stable_lr(H):\n    return float(2 / np.linalg.eigvalsh(H).min())\n"
LR_DIAGONAL = "def max_stable_lr(H):\n    return float(2 / np.max(np.diag(H)))\n"
LR_TRACE = "def max_stable_lr(H):\n    return float(2 / np.trace(H))\n"
LR_ARRAY = "def max_stable_lr(H):\n    return 2 / np.linalg.eigvalsh(H)[-1:]\n"
LR_SPECTRAL_NORM = "def max_stable_lr(H):\n    return 2.0 / float(np.linalg.norm(H, 2))\n"
LR_POWER = """
def max_stable_lr(H):
    H = np.asarray(H, float)
    v = np.ones(len(H))
    for _ in range(500):                       # power iteration: the largest eigenvalue
        v = H @ v
        v /= np.linalg.norm(v)
    return float(2 / (v @ H @ v))
"""

# --- Exercise 9: best_step_along_gradient -------------------------------------------------------

STEP_UPSIDE_DOWN = "def best_step_along_gradient(g, H):\n    return float(g @ H @ g / (g @ g))\n"
STEP_TWICE = "def best_step_along_gradient(g, H):\n    return float(2 * (g @ g) / (g @ H @ g))\n"
STEP_LAMBDA_MAX = (
    "def best_step_along_gradient(g, H):\n    return float(1 / np.linalg.eigvalsh(H).max())\n"
)
STEP_NORMS = (
    "def best_step_along_gradient(g, H):\n"
    "    return float(np.linalg.norm(g) / np.linalg.norm(H @ g))\n"
)
STEP_ARRAY = "def best_step_along_gradient(g, H):\n    return np.array([g @ g / (g @ H @ g)])\n"
STEP_EINSUM = (
    "def best_step_along_gradient(g, H):\n"
    "    return float(np.einsum('i,i->', g, g) / np.einsum('i,ij,j->', g, H, g))\n"
)
STEP_DOT = (
    "def best_step_along_gradient(g, H):\n"
    "    Hg = np.dot(H, g)\n    return float(np.dot(g, g)) / float(np.dot(Hg, g))\n"
)

CASES = [
    # nll_loss
    mistake("test_nll_loss", "summed", NLL_SUMMED, "sum over the 3 examples"),
    mistake("test_nll_loss", "sigmoid then log", NLL_SIGMOID, "σ(40) rounds to 1", "np.logaddexp"),
    mistake(
        "test_nll_loss",
        "log(1 + exp(z)) overflows",
        NLL_EXP_OVERFLOWS,
        "overflows",
        "709",
        "logaddexp",
    ),
    mistake("test_nll_loss", "log1p(exp(z)) overflows", NLL_LOG1P_OVERFLOWS, "overflows", "709"),
    mistake("test_nll_loss", "probabilities clipped", NLL_CLIPPED, "capped", "clipping σ"),
    mistake("test_nll_loss", "log base 2", NLL_LOG2, "log base 2"),
    mistake("test_nll_loss", "y and 1 - y swapped", NLL_SWAPPED, "swapped"),
    mistake("test_nll_loss", "minus sign missing", NLL_LIKELIHOOD, "minus sign is missing"),
    mistake("test_nll_loss", "a 0-d tensor", NLL_TENSOR, "python float", "not a tensor"),
    mistake("test_nll_loss", "one loss per example", NLL_PER_EXAMPLE, "one loss per example"),
    alternative("test_nll_loss", "torch's BCE with logits", NLL_TORCH),
    alternative("test_nll_loss", "max(z, 0) + log1p(exp(-|z|))", NLL_PIECEWISE),
    alternative("test_nll_loss", "the two stable logs", NLL_TWO_LOGS),
    alternative("test_nll_loss", "scipy's log_expit", NLL_SCIPY),
    # nll_grad
    mistake("test_nll_grad", "gradient ascent", GRAD_ASCENT, "log-likelihood", "flip its sign"),
    mistake("test_nll_grad", "summed", GRAD_SUMMED, "summed over the examples"),
    mistake("test_nll_grad", "one number per example", GRAD_PER_EXAMPLE, "multiply by Xᵀ"),
    mistake("test_nll_grad", "by autograd", GRAD_AUTOGRAD, "automatic differentiation"),
    mistake("test_nll_grad", "a column", GRAD_COLUMN, "a column (d, 1)"),
    mistake(
        "test_nll_grad", "2 weights only", GRAD_TWO_WEIGHTS, "nll_grad on other data", hidden=True
    ),
    alternative("test_nll_grad", "torch's sigmoid, no autograd", GRAD_TORCH_SIGMOID),
    alternative("test_nll_grad", "expit and einsum", GRAD_EXPIT_EINSUM),
    alternative("test_nll_grad", "a loop over the examples", GRAD_LOOP),
    # numerical_grad
    mistake("test_numerical_grad", "scipy's approx_fprime", NG_SCIPY, "ready-made implementation"),
    mistake("test_numerical_grad", "one-sided", NG_FORWARD, "one-sided"),
    mistake("test_numerical_grad", "divided by h", NG_BY_H, "divided by h instead of 2h"),
    mistake("test_numerical_grad", "sign flipped", NG_FLIPPED, "sign is flipped"),
    mistake("test_numerical_grad", "h ignored", NG_IGNORES_H, "h you are given is ignored"),
    mistake(
        "test_numerical_grad",
        "w moved and not put back",
        NG_NOT_RESTORED,
        "changed the w it was given",
    ),
    mistake("test_numerical_grad", "another default h", NG_DEFAULT_H, "default step h = 1e-5"),
    alternative("test_numerical_grad", "rows of h·I", NG_VECTOR),
    alternative("test_numerical_grad", "in place on a copy, put back", NG_IN_PLACE_RESTORED),
    # gradient_descent
    mistake("test_gradient_descent", "no start row", GD_NO_W0, "row 0 must be the start point"),
    mistake("test_gradient_descent", "the same array stored", GD_SAME_ARRAY, "store copies"),
    mistake("test_gradient_descent", "uphill", GD_UPHILL, "goes uphill"),
    mistake(
        "test_gradient_descent",
        "grad called twice",
        GD_GRAD_TWICE,
        "6 times for 3 steps",
        "once per step",
    ),
    mistake(
        "test_gradient_descent", "w0 changed in place", GD_CHANGES_W0, "changed the caller's w0"
    ),
    mistake("test_gradient_descent", "grad always at w0", GD_GRAD_AT_W0, "at the current point"),
    alternative("test_gradient_descent", "a preallocated path", GD_PREALLOCATED),
    alternative("test_gradient_descent", "np.vstack", GD_VSTACK),
    # convexity_violation
    mistake("test_convexity_violation", "sign flipped", CV_FLIPPED, "sign is flipped"),
    mistake("test_convexity_violation", "λ mismatched", CV_MISMATCHED, "λ weights w0"),
    mistake("test_convexity_violation", "ends left out", CV_NO_ENDS, "ends λ = 0 and λ = 1"),
    mistake("test_convexity_violation", "mean, not max", CV_MEAN, "the mean over the λ"),
    mistake("test_convexity_violation", "n ignored", CV_N_IGNORED, "n you are given is ignored"),
    alternative("test_convexity_violation", "arrays", CV_ARRAY),
    alternative("test_convexity_violation", "walking from w1", CV_FROM_W1),
    # hessian_fd
    mistake("test_hessian_fd", "divided by h²", HESS_OVER_H2, "4 times too large"),
    mistake("test_hessian_fd", "the diagonal only", HESS_DIAGONAL, "only the diagonal"),
    mistake("test_hessian_fd", "forward differences", HESS_FORWARD, "one-sided (forward)"),
    mistake("test_hessian_fd", "not symmetric", HESS_ASYMMETRIC, "not symmetric"),
    mistake("test_hessian_fd", "h ignored", HESS_IGNORES_H, "h you are given were ignored"),
    mistake("test_hessian_fd", "w moved in place", HESS_IN_PLACE, "changed the w it was given"),
    alternative(
        "test_hessian_fd", "differences of a central-difference gradient", HESS_OF_GRADIENT
    ),
    alternative("test_hessian_fd", "3-point diagonal, 4-point off-diagonal", HESS_THREE_POINT),
    # classify_critical_point
    mistake("test_classify_critical_point", "the diagonal", CLS_DIAGONAL, "not the diagonal"),
    mistake(
        "test_classify_critical_point",
        "degenerate before saddle",
        CLS_DEGENERATE_FIRST,
        "test 'saddle' first",
    ),
    mistake(
        "test_classify_critical_point", "tol ignored", CLS_IGNORES_TOL, "tolerance you are given"
    ),
    mistake("test_classify_critical_point", "default tol 0", CLS_NO_DEFAULT_TOL, "default tol"),
    mistake("test_classify_critical_point", "det and trace", CLS_DET_TRACE, "only in 2-d"),
    mistake(
        "test_classify_critical_point",
        "minimum and maximum swapped",
        CLS_SIGNS_SWAPPED,
        "expected 'minimum'",
    ),
    alternative("test_classify_critical_point", "np.linalg.eigvals, real part", CLS_EIGVALS),
    alternative("test_classify_critical_point", "counting signs", CLS_COUNTS),
    # max_stable_lr
    mistake("test_max_stable_lr", "1/λ_max", LR_ONE_OVER, "bound is 2/λ_max"),
    mistake("test_max_stable_lr", "λ_min", LR_MIN, "largest eigenvalue sets the limit"),
    mistake(
        "test_max_stable_lr", "the largest diagonal entry", LR_DIAGONAL, "largest diagonal entry"
    ),
    mistake("test_max_stable_lr", "the trace", LR_TRACE, "sum of the eigenvalues"),
    mistake("test_max_stable_lr", "an array", LR_ARRAY, "python float", "ndarray"),
    alternative("test_max_stable_lr", "the spectral norm", LR_SPECTRAL_NORM),
    alternative("test_max_stable_lr", "power iteration", LR_POWER),
    # best_step_along_gradient
    mistake("test_best_step_along_gradient", "upside down", STEP_UPSIDE_DOWN, "upside down"),
    mistake("test_best_step_along_gradient", "twice the step", STEP_TWICE, "twice the best step"),
    mistake(
        "test_best_step_along_gradient", "1/λ_max", STEP_LAMBDA_MAX, "steepest eigenvector only"
    ),
    mistake("test_best_step_along_gradient", "a ratio of norms", STEP_NORMS, "ratio of norms"),
    mistake("test_best_step_along_gradient", "an array", STEP_ARRAY, "python float"),
    alternative("test_best_step_along_gradient", "einsum", STEP_EINSUM),
    alternative("test_best_step_along_gradient", "np.dot", STEP_DOT),
]
