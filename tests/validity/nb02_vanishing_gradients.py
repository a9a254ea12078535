"""Notebook 02 (vanishing gradients): for every exercise, classic mistakes and correct alternatives.

Each source replaces an answer cell of solutions/02_vanishing_gradients; the names it uses (np,
math, torch, F) come from the notebook's setup cell. Most mistakes are the solution with one
slip (`_slip`).
"""

from __future__ import annotations

from coursekit.notebooks import cells_by_grade_id, source_notebook

from . import alternative, mistake

_SOLUTION = {
    g: c.source
    for g, c in cells_by_grade_id(source_notebook("02_vanishing_gradients")).items()
    if g.startswith("answer_")
}


def _slip(name: str, *pairs: tuple[str, str]) -> str:
    """The solution of `name` with each `old` replaced by `new` (old must occur)."""
    src = _SOLUTION[f"answer_{name}"]
    for old, new in pairs:
        assert old in src, (name, old)
        src = src.replace(old, new)
    return src


# --- Exercise 1: product_norms ------------------------------------------------------------------

PN_LEFT = _slip(
    "product_norms",
    ("M = M @ rng.normal(0.0, std, size=(n, n))", "M = rng.normal(0.0, std, size=(n, n)) @ M"),
)
PN_SPECTRAL = _slip("product_norms", ("np.linalg.norm(M)", "np.linalg.norm(M, 2)"))
PN_VARIANCE = _slip(
    "product_norms",
    ("rng.normal(0.0, std, size=(n, n))", "rng.normal(0.0, std**2, size=(n, n))"),
)
PN_KEEPS_M0 = """
def product_norms(n, std, steps, seed):
    rng = np.random.default_rng(seed)
    M = rng.normal(0.0, 1.0, size=(n, n))
    out = [np.linalg.norm(M)]
    for _ in range(steps):
        M = M @ rng.normal(0.0, std, size=(n, n))
        out.append(np.linalg.norm(M))
    return np.array(out)
"""
PN_RESEEDED = """
def product_norms(n, std, steps, seed):
    M = np.random.default_rng(seed).normal(0.0, 1.0, size=(n, n))
    out = []
    for _ in range(steps):
        M = M @ np.random.default_rng(seed).normal(0.0, std, size=(n, n))   # the same draw every time
        out.append(np.linalg.norm(M))
    return np.array(out)
"""
PN_LEGACY = """
def product_norms(n, std, steps, seed):
    np.random.seed(seed)
    M = np.random.normal(0.0, 1.0, size=(n, n))
    out = []
    for _ in range(steps):
        M = M @ np.random.normal(0.0, std, size=(n, n))
        out.append(np.linalg.norm(M))
    return np.array(out)
"""
PN_FACTORS_FIRST = """
def product_norms(n, std, steps, seed):
    rng = np.random.default_rng(seed)
    factors = [rng.normal(0.0, std, size=(n, n)) for _ in range(steps)]
    M = rng.normal(0.0, 1.0, size=(n, n))
    out = []
    for Fk in factors:
        M = M @ Fk
        out.append(np.linalg.norm(M))
    return np.array(out)
"""
PN_LIST = _slip("product_norms", ("    return norms\n", "    return norms.tolist()\n"))
PN_ONLY_4X4 = _slip("product_norms", ("size=(n, n)", "size=(4, 4)"))
PN_STANDARD_NORMAL = """
def product_norms(n, std, steps, seed):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    out = []
    for _ in range(steps):
        M = M @ (std * rng.standard_normal((n, n)))
        out.append(math.sqrt((M ** 2).sum()))
    return np.array(out)
"""
PN_ALL_AT_ONCE = """
def product_norms(n, std, steps, seed):
    rng = np.random.default_rng(seed)
    M = rng.normal(0.0, 1.0, size=(n, n))
    factors = rng.normal(0.0, std, size=(steps, n, n))   # F_1 ... F_steps, the same stream
    norms = []
    for Fk in factors:
        M = M @ Fk
        norms.append(np.linalg.norm(M, "fro"))
    return np.array(norms)
"""

# --- Exercise 2: growth_rate --------------------------------------------------------------------

GR_LOG10 = _slip("growth_rate", ("np.log(norms)", "np.log10(norms)"))
GR_RATIO = _slip(
    "growth_rate",
    (
        "return float(np.polyfit(k, np.log(norms), 1)[0])",
        "return float(np.exp(np.polyfit(k, np.log(norms), 1)[0]))",
    ),
)
GR_ENDPOINTS = (
    "def growth_rate(norms):\n    return float(np.log(norms[-1] / norms[0]) / (len(norms) - 1))\n"
)
GR_NO_LOG = _slip("growth_rate", ("np.polyfit(k, np.log(norms), 1)", "np.polyfit(k, norms, 1)"))
GR_BOTH = _slip(
    "growth_rate",
    ("return float(np.polyfit(k, np.log(norms), 1)[0])", "return np.polyfit(k, np.log(norms), 1)"),
)
GR_LSTSQ = """
def growth_rate(norms):
    k = np.arange(1, len(norms) + 1)
    A = np.stack([k, np.ones_like(k)], 1).astype(float)
    return float(np.linalg.lstsq(A, np.log(norms), rcond=None)[0][0])
"""
GR_CLOSED_FORM = """
def growth_rate(norms):
    y = np.log(np.asarray(norms, dtype=float))
    k = np.arange(1.0, len(y) + 1)
    return float(((k - k.mean()) * (y - y.mean())).sum() / ((k - k.mean()) ** 2).sum())
"""
GR_LINREGRESS = """
from scipy.stats import linregress


def growth_rate(norms):
    return float(linregress(np.arange(len(norms)), np.log(norms)).slope)   # k from 0: same slope
"""

# --- Exercise 3: activation_grad ----------------------------------------------------------------

AG_SIGMOID_ITSELF = _slip("activation_grad", ("return s * (1 - s)", "return s"))
AG_TANH_OF_X = _slip("activation_grad", ("return 1 - torch.tanh(x) ** 2", "return 1 - x ** 2"))
AG_RELU_KINK = _slip(
    "activation_grad", ("return (x > 0).to(x.dtype)", "return (x >= 0).to(x.dtype)")
)
AG_LEAKY_AS_RELU = _slip("activation_grad", ("torch.full_like(x, 0.01)", "torch.zeros_like(x)"))
AG_LEAKY_PAN = _slip("activation_grad", ("torch.full_like(x, 0.01)", "torch.full_like(x, 0.1)"))
AG_ELU_FUNCTION = _slip(
    "activation_grad",
    ("torch.ones_like(x), torch.exp(x))", "torch.ones_like(x), torch.exp(x) - 1)"),
)
AG_SOFTSIGN_NO_SQUARE = _slip(
    "activation_grad", ("return 1 / (1 + x.abs()) ** 2", "return 1 / (1 + x.abs())")
)
AG_AUTOGRAD = """
def activation_grad(name, x):
    fn = {'sigmoid': torch.sigmoid, 'tanh': torch.tanh, 'relu': torch.relu,
          'leaky_relu': F.leaky_relu, 'elu': F.elu, 'softplus': F.softplus, 'softsign': F.softsign}[name]
    x = x.detach().clone().requires_grad_(True)
    return torch.autograd.grad(fn(x).sum(), x)[0]
"""
AG_FLOAT64 = _slip("activation_grad", ("return (x > 0).to(x.dtype)", "return (x > 0).double()"))
AG_NO_VALUE_ERROR = _slip(
    "activation_grad", ('raise ValueError(f"unknown activation {name!r}")', "return None")
)
AG_KEY_ERROR = """
def activation_grad(name, x):
    s = torch.sigmoid(x)
    one = torch.ones_like(x)
    return {
        "sigmoid": lambda: s * (1 - s),
        "tanh": lambda: 1 - torch.tanh(x) ** 2,
        "relu": lambda: (x > 0).to(x.dtype),
        "leaky_relu": lambda: torch.where(x > 0, one, 0.01 * one),
        "elu": lambda: torch.where(x > 0, one, torch.exp(x)),
        "softplus": lambda: s,
        "softsign": lambda: 1 / (1 + x.abs()) ** 2,
    }[name]()                      # an unknown name: KeyError
"""
AG_FLATTENED = _slip(
    "activation_grad", ("return torch.sigmoid(x)\n", "return torch.sigmoid(x).reshape(-1)\n")
)
AG_OTHER_FORMULAS = """
def activation_grad(name, x):
    one = torch.ones_like(x)
    if name == 'sigmoid':
        return torch.exp(-x) / (1 + torch.exp(-x)) ** 2
    if name == 'tanh':
        return 1 / torch.cosh(x) ** 2
    if name == 'relu':
        return torch.where(x > 0, one, 0 * one)
    if name == 'leaky_relu':
        return torch.where(x > 0, one, 0.01 * one)
    if name == 'elu':
        return torch.where(x > 0, one, torch.exp(torch.clamp(x, max=0)))
    if name == 'softplus':
        return 1 / (1 + torch.exp(-x))
    if name == 'softsign':
        return (1 + x.abs()) ** -2
    raise ValueError(name)
"""
AG_TABLE = """
_SLOPES = {
    "sigmoid": lambda x: torch.sigmoid(x) * torch.sigmoid(-x),
    "tanh": lambda x: 1 - torch.tanh(x) ** 2,
    "relu": lambda x: torch.heaviside(x, torch.zeros_like(x)),
    "leaky_relu": lambda x: 0.01 + 0.99 * (x > 0).to(x.dtype),
    "elu": lambda x: torch.exp(torch.minimum(x, torch.zeros_like(x))),
    "softplus": torch.sigmoid,
    "softsign": lambda x: 1 / (1 + x.abs()).square(),
}


def activation_grad(name, x):
    if name not in _SLOPES:
        raise ValueError(f"no such activation: {name}")
    return _SLOPES[name](x)
"""

# --- Exercises 4 and 5: xavier_uniform_, he_normal_ ---------------------------------------------

XAV_STANDARD = _slip(
    "xavier_uniform_", ("math.sqrt(6.0 / (fan_in + fan_out))", "1 / math.sqrt(fan_in)")
)
XAV_FAN_IN = _slip(
    "xavier_uniform_", ("math.sqrt(6.0 / (fan_in + fan_out))", "math.sqrt(6.0 / fan_in)")
)
XAV_NORMAL = _slip("xavier_uniform_", ("W.uniform_(-a, a)", "W.normal_(0.0, a / math.sqrt(3))"))
XAV_STD_AS_BOUND = _slip(
    "xavier_uniform_",
    ("math.sqrt(6.0 / (fan_in + fan_out))", "math.sqrt(2.0 / (fan_in + fan_out))"),
)
XAV_INIT = "def xavier_uniform_(W):\n    return torch.nn.init.xavier_uniform_(W)\n"
XAV_RETURNS_NONE = _slip("xavier_uniform_", ("    return W\n", "\n"))
XAV_NEW_TENSOR = """
def xavier_uniform_(W):
    fan_out, fan_in = W.shape
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return torch.empty_like(W).uniform_(-a, a)      # a new tensor: W is left as it was
"""
XAV_NO_NO_GRAD = """
def xavier_uniform_(W):
    fan_out, fan_in = W.shape
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return W.uniform_(-a, a)
"""
XAV_DATA_FLOAT32 = """
def xavier_uniform_(W):
    a = math.sqrt(6.0 / sum(W.shape))
    W.data = torch.rand(W.shape) * 2 * a - a        # a new float32 tensor put behind W
    return W
"""
XAV_COPY = """
def xavier_uniform_(W):
    a = (6 / sum(W.shape)) ** 0.5
    with torch.no_grad():
        W.copy_(torch.rand(W.shape) * 2 * a - a)
    return W
"""
XAV_DATA_UNIFORM = """
def xavier_uniform_(W):
    fan_out, fan_in = W.shape
    bound = (6.0 / (fan_in + fan_out)) ** 0.5
    W.data.uniform_(-bound, bound)                  # .data: outside autograd's view
    return W
"""
XAV_SLICE = """
def xavier_uniform_(W):
    a = math.sqrt(6.0 / (W.shape[0] + W.shape[1]))
    with torch.no_grad():
        W[:] = (2 * torch.rand(W.shape, dtype=W.dtype) - 1) * a
    return W
"""

HE_FAN_OUT = _slip("he_normal_", ("fan_in = W.shape[1]", "fan_in = W.shape[0]"))
HE_VARIANCE = _slip("he_normal_", ("math.sqrt(2.0 / fan_in)", "2.0 / fan_in"))
HE_LECUN = _slip("he_normal_", ("math.sqrt(2.0 / fan_in)", "math.sqrt(1.0 / fan_in)"))
HE_UNIFORM = _slip(
    "he_normal_",
    (
        "W.normal_(0.0, math.sqrt(2.0 / fan_in))",
        "W.uniform_(-math.sqrt(6.0 / fan_in), math.sqrt(6.0 / fan_in))",
    ),
)
HE_INIT = "def he_normal_(W):\n    return torch.nn.init.kaiming_normal_(W, nonlinearity='relu')\n"
HE_NEW_TENSOR = """
def he_normal_(W):
    return torch.randn(W.shape, dtype=W.dtype) * math.sqrt(2.0 / W.shape[1])
"""
HE_NO_NO_GRAD = """
def he_normal_(W):
    return W.normal_(0.0, math.sqrt(2.0 / W.shape[1]))
"""
HE_COPY = """
def he_normal_(W):
    with torch.no_grad():
        W.copy_(torch.randn(W.shape) * (2 / W.shape[1]) ** 0.5)
    return W
"""
HE_DATA = """
def he_normal_(W):
    fan_in = W.size(1)
    W.data.normal_(mean=0.0, std=(2.0 / fan_in) ** 0.5)
    return W
"""

# --- Exercise 6: layer_grad_norms ---------------------------------------------------------------

LG_REVERSED = _slip(
    "layer_grad_norms",
    ("torch.stack([g.norm() for g in grads])", "torch.stack([g.norm() for g in grads[::-1]])"),
)
LG_ACT_ON_LOGITS = _slip(
    "layer_grad_norms",
    ("F.cross_entropy(h @ ws[-1].T, y)", "F.cross_entropy(phi(h @ ws[-1].T), y)"),
)
LG_SUMMED = _slip(
    "layer_grad_norms",
    ("F.cross_entropy(h @ ws[-1].T, y)", "F.cross_entropy(h @ ws[-1].T, y, reduction='sum')"),
)
LG_HIDDEN_ONLY = _slip(
    "layer_grad_norms",
    ("torch.stack([g.norm() for g in grads])", "torch.stack([g.norm() for g in grads[:-1]])"),
)
LG_SQUARED = _slip(
    "layer_grad_norms",
    ("torch.stack([g.norm() for g in grads])", "torch.stack([(g ** 2).sum() for g in grads])"),
)
LG_NLL = _slip(
    "layer_grad_norms", ("F.cross_entropy(h @ ws[-1].T, y)", "F.nll_loss(h @ ws[-1].T, y)")
)
LG_ACT_ON_INPUT = _slip("layer_grad_norms", ("h = x.to(ws[0].dtype)", "h = phi(x.to(ws[0].dtype))"))
LG_LEAKS = """
def layer_grad_norms(weights, x, y, activation):
    phi = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    for W in weights:
        W.requires_grad_(True)          # the caller's own tensors
        W.grad = None
    h = x
    for W in weights[:-1]:
        h = phi(h @ W.T)
    F.cross_entropy(h @ weights[-1].T, y).backward()
    return torch.stack([W.grad.norm() for W in weights])
"""
LG_LIST = _slip(
    "layer_grad_norms",
    ("return torch.stack([g.norm() for g in grads])", "return [float(g.norm()) for g in grads]"),
)
LG_RELU_AS_TANH = _slip("layer_grad_norms", ('"relu": torch.relu', '"relu": torch.tanh'))
LG_BACKWARD_ON_CLONES = """
def layer_grad_norms(weights, x, y, activation):
    ws = [w.clone().requires_grad_() for w in weights]
    h = x
    for w in ws[:-1]:
        h = getattr(torch, activation)(torch.nn.functional.linear(h, w))
    torch.nn.functional.cross_entropy(h @ ws[-1].t(), y).backward()
    return torch.tensor([w.grad.pow(2).sum().sqrt().item() for w in ws], dtype=torch.float64)
"""
LG_MODULES = """
def layer_grad_norms(weights, x, y, activation):
    act = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[activation]
    layers = []
    for i, W in enumerate(weights):
        lin = torch.nn.Linear(W.shape[1], W.shape[0], bias=False).to(W.dtype)
        with torch.no_grad():
            lin.weight.copy_(W)
        layers += [lin] if i == len(weights) - 1 else [lin, act()]
    net = torch.nn.Sequential(*layers)
    torch.nn.functional.cross_entropy(net(x.to(weights[0].dtype)), y).backward()
    return torch.stack([m.weight.grad.norm() for m in net if isinstance(m, torch.nn.Linear)])
"""

# --- Exercise 7: clip_grad_norm -----------------------------------------------------------------

CLIP_PER_TENSOR = """
def clip_grad_norm(grads, max_norm):
    total = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
    return [g * min(1.0, max_norm / (float(g.norm()) + 1e-6)) for g in grads], total
"""
CLIP_ALWAYS = _slip(
    "clip_grad_norm",
    ("coef = min(1.0, max_norm / (total + 1e-6))", "coef = max_norm / (total + 1e-6)"),
)
CLIP_CLIPPED_NORM = _slip(
    "clip_grad_norm",
    ("return [g * coef for g in grads], total", "return [g * coef for g in grads], total * coef"),
)
CLIP_TORCH = """
def clip_grad_norm(grads, max_norm):
    ps = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(ps, grads):
        p.grad = g.clone()
    total = float(torch.nn.utils.clip_grad_norm_(ps, max_norm))
    return [p.grad for p in ps], total
"""
CLIP_IN_PLACE = """
def clip_grad_norm(grads, max_norm):
    total = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
    coef = min(1.0, max_norm / (total + 1e-6))
    for g in grads:
        g.mul_(coef)                    # the caller's gradients, scaled in place
    return list(grads), total
"""
CLIP_TENSOR_TOTAL = """
def clip_grad_norm(grads, max_norm):
    total = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
    coef = min(1.0, max_norm / (float(total) + 1e-6))
    return [g * coef for g in grads], total
"""
CLIP_FLOAT64 = _slip(
    "clip_grad_norm",
    ("return [g * coef for g in grads], total", "return [g.double() * coef for g in grads], total"),
)
CLIP_SQUARED = _slip(
    "clip_grad_norm",
    ("return [g * coef for g in grads], total", "return [g * coef for g in grads], total ** 2"),
)
CLIP_IF = """
def clip_grad_norm(grads, max_norm):
    total = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
    if total > max_norm:
        grads = [g * (max_norm / (total + 1e-6)) for g in grads]
    else:
        grads = [g.clone() for g in grads]
    return list(grads), total
"""
CLIP_CAT = """
def clip_grad_norm(grads, max_norm):
    flat = torch.cat([g.reshape(-1).double() for g in grads])
    total = torch.linalg.vector_norm(flat).item()
    scale = min(1.0, max_norm / (total + 1e-6))
    return [g.mul(scale) for g in grads], total
"""

CASES = [
    # product_norms
    mistake("test_product_norms", "left product", PN_LEFT, "multiplied on the left"),
    mistake("test_product_norms", "spectral norm", PN_SPECTRAL, "spectral norm"),
    mistake("test_product_norms", "variance as scale", PN_VARIANCE, "not the variance"),
    mistake("test_product_norms", "keeps M_0", PN_KEEPS_M0, "leave out the norm of the starting"),
    mistake("test_product_norms", "re-seeded each factor", PN_RESEEDED, "every factor is the same"),
    mistake("test_product_norms", "the global np.random", PN_LEGACY, "global np.random"),
    mistake("test_product_norms", "factors before M_0", PN_FACTORS_FIRST, "draw m_0 first"),
    mistake("test_product_norms", "a list", PN_LIST, "return a numpy array"),
    mistake("test_product_norms", "only 4×4", PN_ONLY_4X4, "n you are given is ignored"),
    alternative("test_product_norms", "standard normals times std", PN_STANDARD_NORMAL),
    alternative("test_product_norms", "all factors drawn at once", PN_ALL_AT_ONCE),
    # growth_rate
    mistake("test_growth_rate", "log10", GR_LOG10, "log10"),
    mistake("test_growth_rate", "the ratio exp(b)", GR_RATIO, "ratio exp(b)"),
    mistake("test_growth_rate", "first and last only", GR_ENDPOINTS, "first and last norms"),
    mistake("test_growth_rate", "no logarithm", GR_NO_LOG, "fit their logarithms"),
    mistake("test_growth_rate", "slope and intercept", GR_BOTH, "[slope, intercept]"),
    alternative("test_growth_rate", "lstsq", GR_LSTSQ),
    alternative("test_growth_rate", "the closed form", GR_CLOSED_FORM),
    alternative("test_growth_rate", "scipy's linregress, k from 0", GR_LINREGRESS),
    # activation_grad
    mistake("test_activation_grad", "sigmoid itself", AG_SIGMOID_ITSELF, "sigmoid(x) itself"),
    mistake("test_activation_grad", "1 - x²", AG_TANH_OF_X, "apply tanh first"),
    mistake("test_activation_grad", "relu'(0) = 1", AG_RELU_KINK, "(and pytorch's) is 0"),
    mistake("test_activation_grad", "leaky slope 0", AG_LEAKY_AS_RELU, "leaky slope is 0.01"),
    mistake("test_activation_grad", "Pan's leaky slope 0.1", AG_LEAKY_PAN, "pan's", "0.01"),
    mistake("test_activation_grad", "elu's function", AG_ELU_FUNCTION, "not its slope e^x"),
    mistake(
        "test_activation_grad", "softsign unsquared", AG_SOFTSIGN_NO_SQUARE, "forgot the square"
    ),
    mistake("test_activation_grad", "autograd", AG_AUTOGRAD, "uses autograd"),
    mistake("test_activation_grad", "float64 slope", AG_FLOAT64, "keep x's dtype"),
    mistake("test_activation_grad", "no ValueError", AG_NO_VALUE_ERROR, "must raise valueerror"),
    mistake(
        "test_activation_grad", "KeyError", AG_KEY_ERROR, "must raise valueerror", "not keyerror"
    ),
    mistake("test_activation_grad", "flattened", AG_FLATTENED, "wrong shape", hidden=True),
    alternative("test_activation_grad", "other formulas", AG_OTHER_FORMULAS),
    alternative("test_activation_grad", "a table of slopes", AG_TABLE),
    # xavier_uniform_
    mistake("test_xavier_uniform_", "±1/√fan_in", XAV_STANDARD, "'standard' rule"),
    mistake("test_xavier_uniform_", "fan_in only", XAV_FAN_IN, "only fan_in"),
    mistake("test_xavier_uniform_", "a normal draw", XAV_NORMAL, "normal distribution"),
    mistake(
        "test_xavier_uniform_", "the std as the bound", XAV_STD_AS_BOUND, "the std, not the bound"
    ),
    mistake("test_xavier_uniform_", "torch.nn.init", XAV_INIT, "ready-made"),
    mistake("test_xavier_uniform_", "returns None", XAV_RETURNS_NONE, "returned none"),
    mistake("test_xavier_uniform_", "a new tensor", XAV_NEW_TENSOR, "w itself was not filled"),
    mistake("test_xavier_uniform_", "no torch.no_grad", XAV_NO_NO_GRAD, "torch.no_grad"),
    mistake("test_xavier_uniform_", "W.data = float32", XAV_DATA_FLOAT32, "dtype"),
    alternative("test_xavier_uniform_", "W.copy_", XAV_COPY),
    alternative("test_xavier_uniform_", "W.data.uniform_", XAV_DATA_UNIFORM),
    alternative("test_xavier_uniform_", "W[:] =", XAV_SLICE),
    # he_normal_
    mistake("test_he_normal_", "fan_out", HE_FAN_OUT, "fan_in is w.shape[1]"),
    mistake("test_he_normal_", "the variance as std", HE_VARIANCE, "that is the variance"),
    mistake("test_he_normal_", "LeCun", HE_LECUN, "lecun"),
    mistake("test_he_normal_", "a uniform draw", HE_UNIFORM, "not normally distributed"),
    mistake("test_he_normal_", "torch.nn.init", HE_INIT, "ready-made"),
    mistake("test_he_normal_", "a new tensor", HE_NEW_TENSOR, "w itself was not filled"),
    mistake("test_he_normal_", "no torch.no_grad", HE_NO_NO_GRAD, "torch.no_grad"),
    alternative("test_he_normal_", "W.copy_", HE_COPY),
    alternative("test_he_normal_", "W.data.normal_", HE_DATA),
    # layer_grad_norms
    mistake("test_layer_grad_norms", "reversed", LG_REVERSED, "reverse order"),
    mistake("test_layer_grad_norms", "activation on the logits", LG_ACT_ON_LOGITS, "to the logits"),
    mistake("test_layer_grad_norms", "summed loss", LG_SUMMED, "summed the loss"),
    mistake("test_layer_grad_norms", "hidden layers only", LG_HIDDEN_ONLY, "output layer included"),
    mistake("test_layer_grad_norms", "squared norms", LG_SQUARED, "squared norms"),
    mistake("test_layer_grad_norms", "nll_loss on logits", LG_NLL, "f.nll_loss on the raw logits"),
    mistake("test_layer_grad_norms", "activation on the input", LG_ACT_ON_INPUT, "to the input x"),
    mistake(
        "test_layer_grad_norms", "the caller's weights", LG_LEAKS, "changed the caller's weights"
    ),
    mistake("test_layer_grad_norms", "a list of floats", LG_LIST, "return a tensor"),
    mistake("test_layer_grad_norms", "relu as tanh", LG_RELU_AS_TANH, "relu", hidden=True),
    alternative("test_layer_grad_norms", "backward on clones", LG_BACKWARD_ON_CLONES),
    alternative("test_layer_grad_norms", "nn.Linear modules", LG_MODULES),
    # clip_grad_norm
    mistake("test_clip_grad_norm", "per tensor", CLIP_PER_TENSOR, "by its own norm"),
    mistake("test_clip_grad_norm", "always rescales", CLIP_ALWAYS, "already short enough"),
    mistake("test_clip_grad_norm", "the clipped norm", CLIP_CLIPPED_NORM, "norm after clipping"),
    mistake("test_clip_grad_norm", "torch's clip_grad_norm_", CLIP_TORCH, "ready-made"),
    mistake("test_clip_grad_norm", "in place", CLIP_IN_PLACE, "changed the gradients"),
    mistake(
        "test_clip_grad_norm", "a 0-d tensor norm", CLIP_TENSOR_TOTAL, "python float", "tensor"
    ),
    mistake("test_clip_grad_norm", "float64 out", CLIP_FLOAT64, "same dtype"),
    mistake("test_clip_grad_norm", "squared norm", CLIP_SQUARED, "squared norm"),
    alternative("test_clip_grad_norm", "an if", CLIP_IF),
    alternative("test_clip_grad_norm", "torch.cat and vector_norm", CLIP_CAT),
]
