"""Notebook 06 (backprop by hand): for every exercise, classic mistakes and correct alternatives.

Each source replaces an answer cell of solutions/06_backprop_by_hand; the names it uses (np,
math, torch, F, the forward layers, earlier exercises) come from the notebook's setup and
instructor cells.
"""

from __future__ import annotations

from . import alternative, mistake

# --- Exercise 1: Value --------------------------------------------------------------------------

_VALUE = """
class Value:
    def __init__(self, data, _children=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_children)
        self._op = _op
        self._backward = lambda: None

    def __repr__(self):
        return f"Value(data={self.data:.4g}, grad={self.grad:.4g})"

    def __pow__(self, k):
        out = Value(self.data ** k, (self,), f"**{k}")

        def _backward():
            self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1.0 - t * t) * out.grad

        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self):
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def backward(self):
        order, visited = [], set()

        def visit(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    visit(child)
                order.append(v)

        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other ** -1

    def __radd__(self, other):
        return self + other

    def __rsub__(self, other):
        return (-self) + other

    def __rmul__(self, other):
        return self * other

    def __rtruediv__(self, other):
        return other * self ** -1
"""


def _value(*pairs: tuple[str, str]) -> str:
    src = _VALUE
    for old, new in pairs:
        assert old in src, old
        src = src.replace(old, new)
    return src


VALUE_OVERWRITE = _value(
    (
        "            self.grad += out.grad\n            other.grad += out.grad",
        "            self.grad = out.grad\n            other.grad = out.grad",
    ),
    (
        "            self.grad += other.data * out.grad\n            other.grad += self.data * out.grad",
        "            self.grad = other.data * out.grad\n            other.grad = self.data * out.grad",
    ),
)
VALUE_NOT_REVERSED = _value(("for v in reversed(order):", "for v in order:"))
VALUE_NOT_SEEDED = _value(("        self.grad = 1.0\n        for v", "        for v"))
VALUE_TANH_TYPO = _value(("(1.0 - t * t) * out.grad", "(1.0 - t) * out.grad"))
VALUE_MUL_SWAPPED = _value(
    (
        "self.grad += other.data * out.grad\n            other.grad += self.data * out.grad",
        "self.grad += self.data * out.grad\n            other.grad += other.data * out.grad",
    )
)
VALUE_NO_VISITED = _value(
    (
        "            if v not in visited:\n                visited.add(v)\n                for",
        "            if True:\n                for",
    )
)
VALUE_EXP_NO_MESSAGE = _value(("self.grad += out.data * out.grad", "self.grad += out.data"))
# the messages computed by torch.autograd: every node keeps a tensor, backward() calls .backward()
VALUE_TORCH = """
import torch


class Value:
    def __init__(self, data, _children=(), _op="", _t=None):
        self._t = torch.tensor(float(data), dtype=torch.float64, requires_grad=True) if _t is None else _t
        self.data = float(self._t)
        self.grad = 0.0
        self._prev = tuple(_children)
        self._op = _op
        self._backward = lambda: None

    def _make(self, t, children, op):
        return Value(0.0, children, op, _t=t)

    def __add__(self, o):
        o = o if isinstance(o, Value) else Value(o)
        return self._make(self._t + o._t, (self, o), "+")

    def __mul__(self, o):
        o = o if isinstance(o, Value) else Value(o)
        return self._make(self._t * o._t, (self, o), "*")

    def __pow__(self, k):
        return self._make(self._t ** k, (self,), f"**{k}")

    def tanh(self):
        return self._make(torch.tanh(self._t), (self,), "tanh")

    def exp(self):
        return self._make(torch.exp(self._t), (self,), "exp")

    def log(self):
        return self._make(torch.log(self._t), (self,), "log")

    def backward(self):
        self._t.retain_grad()
        leaves, stack, seen = [], [self], set()
        while stack:
            v = stack.pop()
            if id(v) in seen:
                continue
            seen.add(id(v))
            v._t.retain_grad()
            leaves.append(v)
            stack.extend(v._prev)
        self._t.backward()
        for v in leaves:
            v.grad = float(v._t.grad) if v._t.grad is not None else 0.0

    def __neg__(self):
        return self * -1

    def __sub__(self, o):
        return self + (-o)

    def __truediv__(self, o):
        return self * o ** -1

    def __radd__(self, o):
        return self + o

    def __rmul__(self, o):
        return self * o
"""
# correct: an iterative topological order (Kahn's algorithm, counting each node's users)
VALUE_KAHN = _value(
    (
        """        order, visited = [], set()

        def visit(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    visit(child)
                order.append(v)

        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()""",
        """        users, stack, seen = {}, [self], {id(self)}
        while stack:
            v = stack.pop()
            for c in v._prev:
                users[id(c)] = users.get(id(c), 0) + 1
                if id(c) not in seen:
                    seen.add(id(c))
                    stack.append(c)
        self.grad = 1.0
        ready = [self]
        while ready:
            v = ready.pop()
            v._backward()
            for c in v._prev:
                users[id(c)] -= 1
                if users[id(c)] == 0:
                    ready.append(c)""",
    )
)
# correct: tanh through exp, grads reset before the pass, closures written as methods' locals
VALUE_OTHER_STYLE = _value(
    (
        "        t = math.tanh(self.data)\n",
        "        e = math.exp(-2.0 * abs(self.data))\n"
        "        t = math.copysign((1.0 - e) / (1.0 + e), self.data)\n",
    ),
    (
        "            self.grad += (1.0 - t * t) * out.grad",
        "            self.grad += (1.0 - t) * (1.0 + t) * out.grad",
    ),
    (
        "        visit(self)\n        self.grad = 1.0",
        "        visit(self)\n        for v in order:\n            v.grad = 0.0\n"
        "        self.grad = 1.0",
    ),
    (
        "            self.grad += out.grad / self.data",
        "            self.grad += out.grad * self.data ** -1",
    ),
)

# --- Exercise 2: grad_check ---------------------------------------------------------------------

_GRAD_CHECK = """
def grad_check(f, x, analytic, h=1e-5):
    x = np.array(x, dtype=float)
    analytic = np.asarray(analytic, dtype=float)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old
        numeric[i] = NUMERIC
    err = ERR
    return float(REDUCE)
"""


def _grad_check(
    numeric="(f_plus - f_minus) / (2 * h)",
    restore=True,
    err="np.abs(numeric - analytic) / np.maximum(np.abs(numeric) + np.abs(analytic), 1e-12)",
    reduce="err.max()",
) -> str:
    src = _GRAD_CHECK.replace("NUMERIC", numeric).replace("ERR", err).replace("REDUCE", reduce)
    return src if restore else src.replace("        x[i] = old\n        numeric", "        numeric")


GC_ONE_SIDED = (
    _grad_check()
    .replace(
        "        x[i] = old - h\n        f_minus = f(x)\n",
        "        x[i] = old\n        f_minus = f(x)\n",
    )
    .replace("(f_plus - f_minus) / (2 * h)", "(f_plus - f_minus) / h")
)
GC_BY_H = _grad_check(numeric="(f_plus - f_minus) / h")
GC_MEAN = _grad_check(reduce="err.mean()")
GC_ABSOLUTE = _grad_check(err="np.abs(numeric - analytic)")
GC_NOT_RESTORED = _grad_check(restore=False)
GC_SCIPY = """
import scipy.optimize


def grad_check(f, x, analytic, h=1e-5):
    x = np.asarray(x, dtype=float)
    numeric = scipy.optimize.approx_fprime(x.ravel(), lambda v: f(v.reshape(x.shape)), h).reshape(x.shape)
    return float(np.max(np.abs(numeric - analytic) / np.maximum(np.abs(numeric) + np.abs(analytic), 1e-12)))
"""
GC_FLAT = """
def grad_check(f, x, analytic, h=1e-5):
    x = np.array(x, dtype=float)
    flat = x.reshape(-1)                      # a view: moving flat[i] moves x
    a = np.asarray(analytic, dtype=float).reshape(-1)
    worst = 0.0
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = f(x)
        flat[i] = old - h
        down = f(x)
        flat[i] = old
        n = (up - down) / (2 * h)
        worst = max(worst, abs(n - a[i]) / max(abs(n) + abs(a[i]), 1e-12))
    return worst
"""
GC_COPIES = """
def grad_check(f, x, analytic, h=1e-5):
    x = np.asarray(x, dtype=float)
    analytic = np.asarray(analytic, dtype=float)
    errors = []
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        e = np.zeros_like(x)
        e[i] = h
        n = (f(x + e) - f(x - e)) / (2 * h)
        errors.append(abs(n - analytic[i]) / max(abs(n) + abs(analytic[i]), 1e-12))
    return max(errors)
"""

# --- Exercises 3 to 7: the layers ---------------------------------------------------------------

AFFINE_DW_TRANSPOSED = """
def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = dout.T @ x.reshape(x.shape[0], -1)
    db = dout.sum(axis=0)
    return dx, dw, db
"""
AFFINE_DB_NOT_SUMMED = """
def affine_backward(dout, cache):
    x, w, b = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout
"""
AFFINE_DB_MEAN = """
def affine_backward(dout, cache):
    x, w, b = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.mean(axis=0)
"""
AFFINE_NOT_RESHAPED = """
def affine_backward(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)
"""
AFFINE_AUTOGRAD = """
def affine_backward(dout, cache):
    x, w, b = (torch.tensor(a, requires_grad=True) for a in cache)
    out = x.reshape(len(x), -1) @ w + b
    out.backward(torch.tensor(dout))
    return x.grad.numpy(), w.grad.numpy(), b.grad.numpy()
"""
AFFINE_EINSUM = """
def affine_backward(dout, cache):
    x, w, b = cache
    x2 = x.reshape(len(x), -1)
    dx = np.einsum("nm,dm->nd", dout, w).reshape(x.shape)
    dw = np.einsum("nd,nm->dm", x2, dout)
    db = np.einsum("nm->m", dout)
    return dx, dw, db
"""
AFFINE_TORCH_OPS = """
def affine_backward(dout, cache):
    x, w, b = (torch.from_numpy(np.asarray(a)) for a in cache)
    d = torch.from_numpy(np.asarray(dout))
    return (d @ w.T).reshape(x.shape).numpy(), (x.reshape(len(x), -1).T @ d).numpy(), d.sum(0).numpy()
"""
RELU_AT_ZERO = "def relu_backward(dout, cache):\n    return dout * (cache >= 0)\n"
RELU_MASK_DOUT = "def relu_backward(dout, cache):\n    return dout * (dout > 0)\n"
RELU_MASK_ONLY = "def relu_backward(dout, cache):\n    return (cache > 0).astype(float)\n"
RELU_PASS = "def relu_backward(dout, cache):\n    return dout\n"
RELU_WHERE = "def relu_backward(dout, cache):\n    return np.where(cache > 0, dout, 0.0)\n"
RELU_COPY = """
def relu_backward(dout, cache):
    dx = np.array(dout, dtype=float, copy=True)
    dx[cache <= 0] = 0
    return dx
"""
SIGMOID_AGAIN = """
def sigmoid_backward(dout, cache):
    s = 1 / (1 + np.exp(-cache))
    return dout * s * (1 - s)
"""
SIGMOID_NO_DOUT = "def sigmoid_backward(dout, cache):\n    return cache * (1 - cache)\n"
SIGMOID_SIGN = "def sigmoid_backward(dout, cache):\n    return dout * cache * (cache - 1)\n"
SIGMOID_EXPANDED = (
    "def sigmoid_backward(dout, cache):\n    return dout * cache - dout * cache ** 2\n"
)
SIGMOID_TORCH = """
def sigmoid_backward(dout, cache):
    s, d = torch.from_numpy(np.asarray(cache)), torch.from_numpy(np.asarray(dout))
    return (d * s * (1 - s)).numpy()
"""
TANH_NOT_SQUARED = "def tanh_backward(dout, cache):\n    return dout * (1 - cache)\n"
TANH_AGAIN = "def tanh_backward(dout, cache):\n    return dout * (1 - np.tanh(cache) ** 2)\n"
TANH_NO_DOUT = "def tanh_backward(dout, cache):\n    return 1 - cache ** 2\n"
TANH_FACTORED = "def tanh_backward(dout, cache):\n    return (1 - cache) * (1 + cache) * dout\n"
TANH_EXPANDED = "def tanh_backward(dout, cache):\n    return dout - dout * cache * cache\n"

_SOFTMAX = """
def softmax_cross_entropy(scores, y):
    n = scores.shape[0]
    shifted = SHIFT
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = LOSS
    d = p.copy()
    SUBTRACT
    return float(loss), d / DIV
"""


def _softmax(
    shift="scores - scores.max(axis=1, keepdims=True)",
    loss="-np.log(p[np.arange(n), y]).mean()",
    subtract="d[np.arange(n), y] -= 1",
    div="n",
) -> str:
    return (
        _SOFTMAX.replace("SHIFT", shift)
        .replace("LOSS", loss)
        .replace("SUBTRACT", subtract)
        .replace("DIV", div)
    )


SOFTMAX_NO_Y = _softmax(subtract="pass")
SOFTMAX_NO_N = _softmax(div="1")
SOFTMAX_UNSTABLE = _softmax(shift="scores")
SOFTMAX_SUM = _softmax(loss="-np.log(p[np.arange(n), y]).sum()")
SOFTMAX_TORCH = """
def softmax_cross_entropy(scores, y):
    s = torch.tensor(scores, requires_grad=True)
    loss = F.cross_entropy(s, torch.tensor(y))
    loss.backward()
    return loss.item(), s.grad.numpy()
"""
SOFTMAX_ONE_HOT = """
def softmax_cross_entropy(scores, y):
    n, c = scores.shape
    one_hot = np.eye(c)[y]
    z = scores - scores.max(axis=1, keepdims=True)
    log_p = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return float(-(one_hot * log_p).sum() / n), (np.exp(log_p) - one_hot) / n
"""
SOFTMAX_ROWS = """
def softmax_cross_entropy(scores, y):
    n = len(scores)
    loss, d = 0.0, np.zeros_like(scores, dtype=float)
    for i in range(n):
        z = scores[i] - scores[i].max()
        log_sum = np.log(np.exp(z).sum())
        loss += (log_sum - z[y[i]]) / n
        d[i] = np.exp(z - log_sum) / n
        d[i, y[i]] -= 1 / n
    return float(loss), d
"""

# --- Exercise 8: two_layer_net ------------------------------------------------------------------

_TWO_LAYER = """
def two_layer_net(params, X, y=None):
    h, cache1 = affine_forward(X, params["w1"], params["b1"])
    a, cache_relu = relu_forward(h)
    scores, cache2 = affine_forward(ACT, params["w2"], params["b2"])
    if y is None:
        return scores
    loss, dscores = softmax_cross_entropy(scores, y)
    da, dw2, db2 = affine_backward(dscores, cache2)
    dh = DH
    _, dw1, db1 = affine_backward(dh, cache1)
    return loss, {KEYS}
"""


def _two_layer(
    act="a", dh="relu_backward(da, cache_relu)", keys='"w1": dw1, "b1": db1, "w2": dw2, "b2": db2'
) -> str:
    return _TWO_LAYER.replace("ACT", act).replace("DH", dh).replace("KEYS", keys)


TWO_SKIP_RELU = _two_layer(dh="da")
TWO_NO_RELU = _two_layer(act="h", dh="da")
TWO_KEYS = _two_layer(keys='"dw1": dw1, "db1": db1, "dw2": dw2, "db2": db2')
TWO_AUTOGRAD = """
def two_layer_net(params, X, y=None):
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    scores = torch.relu(torch.tensor(X) @ t["w1"] + t["b1"]) @ t["w2"] + t["b2"]
    if y is None:
        return scores.detach().numpy()
    loss = F.cross_entropy(scores, torch.tensor(y))
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}
"""
TWO_INLINE = """
def two_layer_net(params, X, y=None):
    w1, b1, w2, b2 = (params[k] for k in ("w1", "b1", "w2", "b2"))
    h = X @ w1 + b1
    a = np.maximum(h, 0)
    scores = a @ w2 + b2
    if y is None:
        return scores
    n = len(X)
    z = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(n), y]).mean()
    dz = p
    dz[np.arange(n), y] -= 1
    dz /= n
    da = dz @ w2.T
    dh = da * (h > 0)
    return float(loss), {"w1": X.T @ dh, "b1": dh.sum(0), "w2": a.T @ dz, "b2": dz.sum(0)}
"""
TWO_LAYER_LIST = """
def two_layer_net(params, X, y=None):
    layers = [("1", True), ("2", False)]
    caches, h = [], X
    for k, relu in layers:
        h, c = affine_forward(h, params["w" + k], params["b" + k])
        caches.append(c)
        if relu:
            h, c = relu_forward(h)
            caches.append(c)
    if y is None:
        return h
    loss, d = softmax_cross_entropy(h, y)
    grads = {}
    d, grads["w2"], grads["b2"] = affine_backward(d, caches.pop())
    d = relu_backward(d, caches.pop())
    d, grads["w1"], grads["b1"] = affine_backward(d, caches.pop())
    return loss, grads
"""

# --- Exercise 9: conv2d_backward ----------------------------------------------------------------

_CONV_SCATTER = """
def conv2d_backward(dout, cache):
    x, w, b, stride, padding = cache
    N, C, H, W = x.shape
    n_f, _, KH, KW = w.shape
    S, P = STRIDE, padding
    Ho, Wo = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    dxp = np.zeros_like(xp, dtype=float)
    dw = np.zeros(w.shape)
    for m in range(KH):
        for q in range(KW):
            rows = slice(m, m + S * (Ho - 1) + 1, S)
            cols = slice(q, q + S * (Wo - 1) + 1, S)
            dw[:, :, m, q] = np.einsum("nfij,ncij->fc", dout, xp[:, :, rows, cols])
            dxp[:, :, rows, cols] += np.einsum("nfij,fc->ncij", dout, WEIGHT)
    DB
    return DX, dw, db
"""


def _conv(
    stride="stride",
    weight="w[:, :, m, q]",
    dx="dxp[:, :, P:P + H, P:P + W]",
    db="db = dout.sum(axis=(0, 2, 3))",
) -> str:
    return (
        _CONV_SCATTER.replace("STRIDE", stride)
        .replace("WEIGHT", weight)
        .replace("DX", dx)
        .replace("DB", db)
    )


CONV_NO_FLIP_DUALITY = """
def conv2d_backward(dout, cache):
    x, w, b, S, P = cache
    N, C, H, W = x.shape
    n_f, _, KH, KW = w.shape
    Ho, Wo = dout.shape[2:]
    spread = np.zeros((N, n_f, (Ho - 1) * S + 1, (Wo - 1) * S + 1))
    spread[:, :, ::S, ::S] = dout
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    dw, _ = conv2d_forward(xp.transpose(1, 0, 2, 3), spread.transpose(1, 0, 2, 3))
    dw = dw[:, :, :KH, :KW].transpose(1, 0, 2, 3)
    full = np.pad(spread, ((0, 0), (0, 0), (KH - 1, KH - 1), (KW - 1, KW - 1)))
    used, _ = conv2d_forward(full, w.transpose(1, 0, 2, 3))       # the kernel NOT flipped
    dxp = np.zeros((N, C, H + 2 * P, W + 2 * P))
    dxp[:, :, :used.shape[2], :used.shape[3]] = used
    return dxp[:, :, P:P + H, P:P + W], dw, dout.sum(axis=(0, 2, 3))
"""
CONV_PADDING_KEPT = _conv(dx="dxp")
CONV_PADDING_ONE_SIDE = _conv(dx="dxp[:, :, :H, :W]")
CONV_STRIDE_IGNORED = _conv(stride="1")
CONV_DB_MEAN = _conv(db="db = dout.mean(axis=(0, 2, 3))")
CONV_TRANSPOSE = """
def conv2d_backward(dout, cache):
    x, w, b, S, P = cache
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=float))
    H, W = x.shape[2:]
    KH, KW = w.shape[2:]
    out_pad = (H + 2 * P - KH) % S, (W + 2 * P - KW) % S
    dx = F.conv_transpose2d(t(dout), t(w), stride=S, padding=P, output_padding=out_pad).numpy()
    dw = torch.nn.grad.conv2d_weight(t(x), w.shape, t(dout), stride=S, padding=P).numpy()
    return dx, dw, dout.sum(axis=(0, 2, 3))
"""
CONV_AUTOGRAD = """
def conv2d_backward(dout, cache):
    x, w, b, S, P = cache
    xt, wt, bt = (torch.tensor(np.asarray(a, dtype=float), requires_grad=True) for a in (x, w, b))
    F.conv2d(xt, wt, bt, stride=S, padding=P).backward(torch.tensor(dout))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()
"""
CONV_SCATTER = _conv()
CONV_NAIVE = """
def conv2d_backward(dout, cache):
    x, w, b, S, P = cache
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    dxp, dw = np.zeros(xp.shape), np.zeros(w.shape)
    N, n_f, Ho, Wo = dout.shape
    KH, KW = w.shape[2:]
    for n in range(N):
        for f in range(n_f):
            for i in range(Ho):
                for j in range(Wo):
                    win = (n, slice(None), slice(i * S, i * S + KH), slice(j * S, j * S + KW))
                    dw[f] += dout[n, f, i, j] * xp[win]
                    dxp[win] += dout[n, f, i, j] * w[f]
    H, W = x.shape[2:]
    return dxp[:, :, P:P + H, P:P + W], dw, dout.sum(axis=(0, 2, 3))
"""

# --- Exercises 10 and 11: pooling ---------------------------------------------------------------

POOL_SPREAD = """
def maxpool_backward(dout, cache):
    x, size, stride = cache
    dx = np.zeros(x.shape)
    Ho, Wo = dout.shape[2:]
    for i in range(Ho):
        for j in range(Wo):
            dx[:, :, i * stride:i * stride + size, j * stride:j * stride + size] += dout[:, :, i:i + 1, j:j + 1]
    return dx
"""
_POOL_LOOPS = """
def maxpool_backward(dout, cache):
    x, size, stride = cache
    dx = np.zeros(x.shape)
    N, C, Ho, Wo = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    win = x[n, c, i * stride:i * stride + size, j * stride:j * stride + size]
                    BODY
    return dx
"""
POOL_ALL_TIES = _POOL_LOOPS.replace(
    "BODY",
    "dx[n, c, i * stride:i * stride + size, j * stride:j * stride + size] += (win == win.max()) * dout[n, c, i, j]",
)
POOL_LAST_TIE = _POOL_LOOPS.replace(
    "BODY",
    "k = win.size - 1 - np.argmax(win.ravel()[::-1])\n"
    "                    r, q = divmod(k, size)\n"
    "                    dx[n, c, i * stride + r, j * stride + q] += dout[n, c, i, j]",
)
POOL_OVERWRITE = _POOL_LOOPS.replace(
    "BODY",
    "r, q = np.unravel_index(np.argmax(win), win.shape)\n"
    "                    dx[n, c, i * stride + r, j * stride + q] = dout[n, c, i, j]",
)
POOL_LOOPS = _POOL_LOOPS.replace(
    "BODY",
    "r, q = np.unravel_index(np.argmax(win), win.shape)\n"
    "                    dx[n, c, i * stride + r, j * stride + q] += dout[n, c, i, j]",
)
POOL_TORCH_UNFOLD = """
def maxpool_backward(dout, cache):
    x, size, stride = cache
    N, C, H, W = x.shape
    Ho, Wo = dout.shape[2:]
    win = torch.from_numpy(np.ascontiguousarray(x)).unfold(2, size, stride).unfold(3, size, stride)
    k = win.reshape(N, C, Ho, Wo, size * size).argmax(-1).numpy()   # torch.argmax: the first maximum
    rows = np.arange(Ho)[:, None] * stride + k // size
    cols = np.arange(Wo)[None, :] * stride + k % size
    flat = ((np.arange(N * C).reshape(N, C, 1, 1) * H + rows) * W + cols).ravel()
    return np.bincount(flat, weights=dout.ravel(), minlength=x.size).reshape(x.shape)
"""
AVG_NOT_DIVIDED = """
def avgpool_backward(dout, cache):
    x, size, stride = cache
    dx = np.zeros(x.shape)
    Ho, Wo = dout.shape[2:]
    for i in range(Ho):
        for j in range(Wo):
            dx[:, :, i * stride:i * stride + size, j * stride:j * stride + size] += dout[:, :, i:i + 1, j:j + 1]
    return dx
"""
AVG_BY_SIZE = AVG_NOT_DIVIDED.replace(
    "dout[:, :, i:i + 1, j:j + 1]", "dout[:, :, i:i + 1, j:j + 1] / size"
)
AVG_OVERWRITE = AVG_NOT_DIVIDED.replace(
    "] += dout[:, :, i:i + 1, j:j + 1]", "] = dout[:, :, i:i + 1, j:j + 1] / size ** 2"
)
AVG_LOOPS = AVG_NOT_DIVIDED.replace(
    "dout[:, :, i:i + 1, j:j + 1]", "dout[:, :, i:i + 1, j:j + 1] / size ** 2"
)
AVG_ADD_AT = """
def avgpool_backward(dout, cache):
    x, size, stride = cache
    dx = np.zeros(x.shape)
    N, C, Ho, Wo = dout.shape
    i, j, m, q = np.meshgrid(np.arange(Ho), np.arange(Wo), np.arange(size), np.arange(size), indexing="ij")
    rows, cols = (i * stride + m).ravel(), (j * stride + q).ravel()
    share = np.repeat(dout.reshape(N, C, Ho * Wo), size * size, axis=2) / size ** 2
    np.add.at(dx, (slice(None), slice(None), rows, cols), share)
    return dx
"""

# --- Exercise 12: lenet_loss --------------------------------------------------------------------

_LENET = """
def lenet_loss(params, x, y=None):
    p = params
    h, conv1 = conv2d_forward(x, p["conv1.w"], p["conv1.b"], 1, 2)
    h, relu1 = relu_forward(h)
    h, pool1 = POOL_forward(h, 2)
    h, conv2 = conv2d_forward(h, p["conv2.w"], p["conv2.b"], 1, 0)
    h, relu2 = relu_forward(h)
    h, pool2 = POOL_forward(h, 2)
    FLAT
    h, fc1 = affine_forward(h, p["fc1.w"], p["fc1.b"])
    h, relu3 = relu_forward(h)
    h, fc2 = affine_forward(h, p["fc2.w"], p["fc2.b"])
    h, relu4 = relu_forward(h)
    scores, fc3 = affine_forward(h, p["fc3.w"], p["fc3.b"])
    LAST
    if y is None:
        return scores
    loss, d = softmax_cross_entropy(scores, y)
    g = {}
    LASTBACK
    d, g["fc3.w"], g["fc3.b"] = affine_backward(d, fc3)
    d, g["fc2.w"], g["fc2.b"] = affine_backward(relu_backward(d, relu4), fc2)
    d, g["fc1.w"], g["fc1.b"] = affine_backward(relu_backward(d, relu3), fc1)
    UNFLAT
    d = POOL_backward(d, pool2)
    d, g["conv2.w"], g["conv2.b"] = conv2d_backward(relu_backward(d, relu2), conv2)
    d = POOL_backward(d, pool1)
    _, g["conv1.w"], g["conv1.b"] = conv2d_backward(relu_backward(d, relu1), conv1)
    return loss, g
"""


def _lenet(pool="maxpool", flat="pass", unflat="pass", last="pass", lastback="pass") -> str:
    return (
        _LENET.replace("POOL", pool)
        .replace("UNFLAT", unflat)
        .replace("FLAT", flat)
        .replace("LASTBACK", lastback)
        .replace("LAST", last)
    )


LENET_AVG = _lenet(pool="avgpool")
LENET_CHANNELS_LAST = _lenet(
    flat="h = h.transpose(0, 2, 3, 1).reshape(len(h), -1)",
    unflat="d = d.reshape(len(d), 5, 5, 16).transpose(0, 3, 1, 2)",
)
LENET_RELU_LAST = _lenet(
    last="scores, relu5 = relu_forward(scores)", lastback="d = relu_backward(d, relu5)"
)
LENET_AUTOGRAD = """
def lenet_loss(params, x, y=None):
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = F.max_pool2d(torch.relu(F.conv2d(torch.from_numpy(x), t["conv1.w"], t["conv1.b"], padding=2)), 2)
    h = F.max_pool2d(torch.relu(F.conv2d(h, t["conv2.w"], t["conv2.b"])), 2).flatten(1)
    h = torch.relu(torch.relu(h @ t["fc1.w"] + t["fc1.b"]) @ t["fc2.w"] + t["fc2.b"])
    scores = h @ t["fc3.w"] + t["fc3.b"]
    if y is None:
        return scores.detach().numpy()
    loss = F.cross_entropy(scores, torch.from_numpy(y))
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}
"""
LENET_EXPLICIT_FLATTEN = _lenet(
    flat="shape2 = h.shape\n    h = h.reshape(len(h), -1)", unflat="d = d.reshape(shape2)"
)
LENET_LAYER_LIST = """
def lenet_loss(params, x, y=None):
    plan = [("conv", "conv1", 2), ("relu",), ("pool",), ("conv", "conv2", 0), ("relu",), ("pool",),
            ("fc", "fc1"), ("relu",), ("fc", "fc2"), ("relu",), ("fc", "fc3")]
    caches, h = [], x
    for step in plan:
        if step[0] == "conv":
            h, c = conv2d_forward(h, params[step[1] + ".w"], params[step[1] + ".b"], 1, step[2])
        elif step[0] == "fc":
            h, c = affine_forward(h, params[step[1] + ".w"], params[step[1] + ".b"])
        elif step[0] == "relu":
            h, c = relu_forward(h)
        else:
            h, c = maxpool_forward(h, 2)
        caches.append(c)
    if y is None:
        return h
    loss, d = softmax_cross_entropy(h, y)
    grads = {}
    for step, c in zip(reversed(plan), reversed(caches)):
        if step[0] == "conv":
            d, grads[step[1] + ".w"], grads[step[1] + ".b"] = conv2d_backward(d, c)
        elif step[0] == "fc":
            d, grads[step[1] + ".w"], grads[step[1] + ".b"] = affine_backward(d, c)
        elif step[0] == "relu":
            d = relu_backward(d, c)
        else:
            d = maxpool_backward(d, c)
    return loss, grads
"""

CASES = [
    # Exercise 1
    mistake(
        "test_Value", "grads overwritten", VALUE_OVERWRITE, "overwritten instead of accumulated"
    ),
    mistake("test_Value", "forward order", VALUE_NOT_REVERSED, "reverse the topological order"),
    mistake("test_Value", "root not seeded", VALUE_NOT_SEEDED, "not set to 1.0"),
    mistake("test_Value", "tanh typo", VALUE_TANH_TYPO, "tanh", "1 − tanh(a)"),
    mistake("test_Value", "mul swapped", VALUE_MUL_SWAPPED, "swapped"),
    mistake("test_Value", "no visited set", VALUE_NO_VISITED, "more than once", "visited"),
    mistake("test_Value", "exp ignores the message", VALUE_EXP_NO_MESSAGE, "exp", "out.grad"),
    mistake("test_Value", "torch.autograd inside", VALUE_TORCH, "ready-made"),
    alternative("test_Value", "Kahn's algorithm", VALUE_KAHN),
    alternative("test_Value", "tanh through exp, grads reset", VALUE_OTHER_STYLE),
    # Exercise 2
    mistake("test_grad_check", "one-sided difference", GC_ONE_SIDED, "one-sided"),
    mistake("test_grad_check", "divided by h", GC_BY_H, "divided by h, not by 2h"),
    mistake("test_grad_check", "mean, not max", GC_MEAN, "mean"),
    mistake("test_grad_check", "absolute error", GC_ABSOLUTE, "absolute error"),
    mistake("test_grad_check", "entries not put back", GC_NOT_RESTORED, "put back"),
    mistake("test_grad_check", "scipy's approx_fprime", GC_SCIPY, "ready-made"),
    alternative("test_grad_check", "a flat view", GC_FLAT),
    alternative("test_grad_check", "nditer and copies", GC_COPIES),
    # Exercise 3
    mistake("test_affine_backward", "dw transposed", AFFINE_DW_TRANSPOSED, "missing transpose"),
    mistake(
        "test_affine_backward", "db not summed", AFFINE_DB_NOT_SUMMED, "not summed over the batch"
    ),
    mistake("test_affine_backward", "db averaged", AFFINE_DB_MEAN, "averaged"),
    mistake("test_affine_backward", "dx not reshaped", AFFINE_NOT_RESHAPED, "reshape"),
    mistake("test_affine_backward", "autograd", AFFINE_AUTOGRAD, "ready-made"),
    alternative("test_affine_backward", "einsum", AFFINE_EINSUM),
    alternative("test_affine_backward", "torch matmuls", AFFINE_TORCH_OPS),
    # Exercise 4
    mistake("test_relu_backward", "gradient 1 at 0", RELU_AT_ZERO, "at 0"),
    mistake("test_relu_backward", "mask from dout", RELU_MASK_DOUT, "from dout"),
    mistake("test_relu_backward", "mask only", RELU_MASK_ONLY, "mask alone"),
    mistake("test_relu_backward", "dout passed through", RELU_PASS, "unchanged"),
    alternative("test_relu_backward", "np.where", RELU_WHERE),
    alternative("test_relu_backward", "copy and zero", RELU_COPY),
    # Exercise 5
    mistake("test_sigmoid_backward", "σ applied again", SIGMOID_AGAIN, "applied σ to it again"),
    mistake("test_sigmoid_backward", "no dout", SIGMOID_NO_DOUT, "local derivative alone"),
    mistake("test_sigmoid_backward", "sign", SIGMOID_SIGN, "sign"),
    alternative("test_sigmoid_backward", "expanded", SIGMOID_EXPANDED),
    alternative("test_sigmoid_backward", "torch ops", SIGMOID_TORCH),
    # Exercise 6
    mistake("test_tanh_backward", "not squared", TANH_NOT_SQUARED, "squared"),
    mistake("test_tanh_backward", "tanh applied again", TANH_AGAIN, "applied tanh to it again"),
    mistake("test_tanh_backward", "no dout", TANH_NO_DOUT, "local derivative alone"),
    alternative("test_tanh_backward", "factored", TANH_FACTORED),
    alternative("test_tanh_backward", "expanded", TANH_EXPANDED),
    # Exercise 7
    mistake(
        "test_softmax_cross_entropy", "y not subtracted", SOFTMAX_NO_Y, "without subtracting y"
    ),
    mistake("test_softmax_cross_entropy", "not divided by N", SOFTMAX_NO_N, "not divided by N"),
    mistake("test_softmax_cross_entropy", "unstable", SOFTMAX_UNSTABLE, "NaN", "maximum"),
    mistake("test_softmax_cross_entropy", "summed loss", SOFTMAX_SUM, "sum over the batch"),
    mistake("test_softmax_cross_entropy", "F.cross_entropy", SOFTMAX_TORCH, "ready-made"),
    alternative("test_softmax_cross_entropy", "one-hot matrix", SOFTMAX_ONE_HOT),
    alternative("test_softmax_cross_entropy", "row by row", SOFTMAX_ROWS),
    # Exercise 8
    mistake("test_two_layer_net", "ReLU skipped in backward", TWO_SKIP_RELU, "skips the ReLU"),
    mistake("test_two_layer_net", "no ReLU", TWO_NO_RELU, "no ReLU"),
    mistake("test_two_layer_net", "wrong keys", TWO_KEYS, "keys"),
    mistake("test_two_layer_net", "autograd", TWO_AUTOGRAD, "ready-made"),
    mistake(
        "test_two_layer_net",
        "its softmax without − y",
        _two_layer(),
        "without subtracting y",
        extra={"answer_softmax_cross_entropy": SOFTMAX_NO_Y},
    ),
    alternative("test_two_layer_net", "inline numpy", TWO_INLINE),
    alternative("test_two_layer_net", "a list of layers", TWO_LAYER_LIST),
    # Exercise 9
    mistake(
        "test_conv2d_backward", "dx without the flip", CONV_NO_FLIP_DUALITY, "without the flip"
    ),
    mistake("test_conv2d_backward", "padding kept", CONV_PADDING_KEPT, "still has the padding"),
    mistake(
        "test_conv2d_backward",
        "padding cut on one side",
        CONV_PADDING_ONE_SIDE,
        "not undone on every side",
    ),
    mistake(
        "test_conv2d_backward", "stride ignored", CONV_STRIDE_IGNORED, "stride is ignored in dx"
    ),
    mistake("test_conv2d_backward", "db averaged", CONV_DB_MEAN, "db is averaged"),
    mistake("test_conv2d_backward", "conv_transpose2d", CONV_TRANSPOSE, "ready-made"),
    mistake("test_conv2d_backward", "autograd", CONV_AUTOGRAD, "ready-made"),
    alternative("test_conv2d_backward", "scatter over kernel offsets", CONV_SCATTER),
    alternative("test_conv2d_backward", "loops over every output", CONV_NAIVE),
    # Exercise 10
    mistake(
        "test_maxpool_backward",
        "spread over the window",
        POOL_SPREAD,
        "spread over the whole window",
    ),
    mistake("test_maxpool_backward", "every tied maximum", POOL_ALL_TIES, "every tied maximum"),
    mistake("test_maxpool_backward", "last tied maximum", POOL_LAST_TIE, "last tied maximum"),
    mistake("test_maxpool_backward", "overlaps overwritten", POOL_OVERWRITE, "overwritten"),
    alternative("test_maxpool_backward", "loops and unravel_index", POOL_LOOPS),
    alternative("test_maxpool_backward", "Tensor.unfold and bincount", POOL_TORCH_UNFOLD),
    # Exercise 11
    mistake("test_avgpool_backward", "not divided", AVG_NOT_DIVIDED, "not divided by size²"),
    mistake("test_avgpool_backward", "divided by size", AVG_BY_SIZE, "divided by size, not size²"),
    mistake("test_avgpool_backward", "overlaps overwritten", AVG_OVERWRITE, "overwritten"),
    alternative("test_avgpool_backward", "loops over the outputs", AVG_LOOPS),
    alternative("test_avgpool_backward", "np.add.at", AVG_ADD_AT),
    # Exercise 12
    mistake("test_lenet_loss", "average pooling", LENET_AVG, "average pooling"),
    mistake(
        "test_lenet_loss",
        "channels-last flatten",
        LENET_CHANNELS_LAST,
        "flattened in another order",
    ),
    mistake("test_lenet_loss", "ReLU after fc3", LENET_RELU_LAST, "ReLU after fc3"),
    mistake("test_lenet_loss", "autograd", LENET_AUTOGRAD, "ready-made"),
    mistake(
        "test_lenet_loss",
        "its softmax without − y",
        _lenet(),
        "without subtracting y",
        extra={"answer_softmax_cross_entropy": SOFTMAX_NO_Y},
    ),
    alternative("test_lenet_loss", "explicit flatten", LENET_EXPLICIT_FLATTEN),
    alternative("test_lenet_loss", "a list of layers", LENET_LAYER_LIST),
]
