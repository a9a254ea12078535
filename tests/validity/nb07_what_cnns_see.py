"""Notebook 07 (what a CNN sees, and how to fool it): classic mistakes and legitimate alternatives.

Each source replaces the solution's answer cell; a mistake must fail with a message containing
its words, an alternative must pass.
"""

from __future__ import annotations

from . import alternative, mistake

# --- Exercise 1: receptive_field -------------------------------------------------------------

_RF = """
def receptive_field(layers):
    size, jump = 1, 1
    out = []
    for layer in layers:
        k, s = layer["kernel"], layer.get("stride", 1)
        span = {span}
        size = {size}
        jump = {jump}
        out.append((int(size), int(jump)))
    return out
"""


def _rf(
    span="layer.get('dilation', 1) * (k - 1) + 1", size="size + (span - 1) * jump", jump="jump * s"
):
    return _RF.format(span=span, size=size, jump=jump)


_RF_AFTER = """
def receptive_field(layers):
    size, jump = 1, 1
    out = []
    for layer in layers:
        k, s = layer["kernel"], layer.get("stride", 1)
        span = layer.get("dilation", 1) * (k - 1) + 1
        jump = jump * s
        size = size + (span - 1) * jump
        out.append((size, jump))
    return out
"""

_RF_LAYER_STRIDE = """
def receptive_field(layers):
    size, jump, out = 1, 1, []
    for layer in layers:
        span = layer.get("dilation", 1) * (layer["kernel"] - 1) + 1
        size += (span - 1) * jump
        jump = layer.get("stride", 1)
        out.append((size, jump))
    return out
"""

_RF_PRODUCT = """
import math


def receptive_field(layers):
    out = []
    for n in range(1, len(layers) + 1):
        strides = [layer.get("stride", 1) for layer in layers[:n]]
        size = 1 + sum((layer.get("dilation", 1) * (layer["kernel"] - 1)) * math.prod(strides[:i])
                       for i, layer in enumerate(layers[:n]))
        out.append((size, math.prod(strides)))
    return out
"""

_RF_BACKWARDS = """
def receptive_field(layers):
    # from the top: a window of r units of layer l covers (r - 1) * s + span units of layer l - 1
    out = []
    for n in range(len(layers)):
        r = 1
        for layer in reversed(layers[:n + 1]):
            span = layer.get("dilation", 1) * (layer["kernel"] - 1) + 1
            r = (r - 1) * layer.get("stride", 1) + span
        jump = 1
        for layer in layers[:n + 1]:
            jump *= layer.get("stride", 1)
        out.append((r, jump))
    return out
"""

# --- Exercise 2: shift_image --------------------------------------------------------------------

_SHIFT_ROLL = """
def shift_image(x, dy, dx):
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
"""

_SHIFT_REVERSED = """
def shift_image(x, dy, dx):
    dy, dx = -dy, -dx
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \\
        x[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out
"""

_SHIFT_SWAPPED = """
def shift_image(x, dy, dx):
    dy, dx = dx, dy
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \\
        x[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out
"""

_SHIFT_IN_PLACE = """
def shift_image(x, dy, dx):
    h, w = x.shape[-2:]
    moved = x.clone()
    x.zero_()
    if abs(dy) < h and abs(dx) < w:
        x[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \\
            moved[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return x
"""

_SHIFT_PAD = """
def shift_image(x, dy, dx):
    h, w = x.shape[-2:]
    if abs(dy) >= h or abs(dx) >= w:
        return torch.zeros_like(x)
    # pad with zeros on the side the content moves away from, then cut the window back out
    padded = F.pad(x, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)))
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top:top + h, left:left + w].clone()
"""

_SHIFT_ROLL_AND_ZERO = """
def shift_image(x, dy, dx):
    h, w = x.shape[-2:]
    out = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    rows = torch.arange(h).view(-1, 1) - dy
    cols = torch.arange(w).view(1, -1) - dx
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    return out * inside.to(out.dtype)
"""

# --- Exercise 3: equivariance_error -------------------------------------------------------------

_EQ = """
def equivariance_error(layer, x, shift, stride=1, margin=0):
    dy, dx = shift
    y = layer(x)
    a = layer(shift_image(x, dy, dx))
    b = {b}
    h, w = y.shape[-2], y.shape[-1]
    m = {m}
    diff = (a - b)[..., m:h - m, m:w - m]
    top = float(diff.abs().{reduce}())
    scale = float(y.abs().max())
    return {ret}
"""


def _eq(
    b="shift_image(y, int(dy / stride), int(dx / stride))",
    m="margin",
    reduce="max",
    ret="top / scale if scale > 0 else 0.0",
):
    return _EQ.format(b=b, m=m, reduce=reduce, ret=ret)


_EQ_ALT = """
import math


def equivariance_error(layer, x, shift, stride=1, margin=0):
    out = layer(x)
    moved_out = shift_image(out, math.trunc(shift[0] / stride), math.trunc(shift[1] / stride))
    out_of_moved = layer(shift_image(x, *shift))
    inner = (slice(None),) * (out.dim() - 2) + (slice(margin, out.shape[-2] - margin), slice(margin, out.shape[-1] - margin))
    largest = out.abs().amax()
    if largest == 0:
        return 0.0
    return ((out_of_moved - moved_out)[inner].abs().amax() / largest).item()
"""

_EQ_MASK = """
def equivariance_error(layer, x, shift, stride=1, margin=0):
    dy, dx = shift
    y = layer(x)
    diff = (layer(shift_image(x, dy, dx)) - shift_image(y, int(dy / stride), int(dx / stride))).abs()
    h, w = y.shape[-2:]
    rows = torch.arange(h)
    cols = torch.arange(w)
    keep = ((rows >= margin) & (rows < h - margin)).view(-1, 1) & ((cols >= margin) & (cols < w - margin)).view(1, -1)
    m = float(y.abs().max())
    return float((diff * keep).max()) / m if m else 0.0
"""

# --- Exercises 4 and 5: separable_params, separable_madds -------------------------------------------

_SP = """
def separable_params(c_in, c_out, k, bias=False):
    b = 1 if bias else 0
    full = c_out * c_in * k * k + b * c_out
    separable = {sep}
    return full, separable
"""

_SP_MODULES = """
def separable_params(c_in, c_out, k, bias=False):
    count = lambda *layers: sum(p.numel() for m in layers for p in m.parameters())
    full = nn.Conv2d(c_in, c_out, k, bias=bias)
    depthwise = nn.Conv2d(c_in, c_in, k, groups=c_in, bias=bias)
    pointwise = nn.Conv2d(c_in, c_out, 1, bias=bias)
    return count(full), count(depthwise, pointwise)
"""

_SP_FACTORED = """
def separable_params(c_in, c_out, k, bias=False):
    extra = (c_in + c_out) if bias else 0
    return c_out * (c_in * k ** 2 + (1 if bias else 0)), c_in * (k ** 2 + c_out) + extra
"""

_SM = """
def separable_madds(c_in, c_out, k, h_out, w_out):
    pixels = {pixels}
    return c_out * c_in * k * k * pixels, {sep}
"""

_SM_RATIO = """
def separable_madds(c_in, c_out, k, h_out, w_out):
    full = c_out * c_in * k * k * h_out * w_out
    return full, round(full * (1 / c_out + 1 / k ** 2))
"""

_SM_LOOP = """
def separable_madds(c_in, c_out, k, h_out, w_out):
    full = separable = 0
    for _ in range(h_out * w_out):          # one output pixel at a time
        full += c_out * (c_in * k * k)      # each output channel: a dot product of c_in·k² numbers
        separable += c_in * (k * k) + c_out * c_in
    return full, separable
"""

# --- Exercise 6: DepthwiseSeparable -------------------------------------------------------------

_DS = """
class DepthwiseSeparable(nn.Module):
    def __init__(self, c_in, c_out, k, padding=0, bias=True):
        super().__init__()
        self.depthwise = {depthwise}
        self.pointwise = {pointwise}

    def forward(self, x):
        return {forward}
"""


def _ds(
    depthwise="nn.Conv2d(c_in, c_in, k, padding=padding, groups=c_in, bias=bias)",
    pointwise="nn.Conv2d(c_in, c_out, 1, bias=bias)",
    forward="self.pointwise(self.depthwise(x))",
):
    return _DS.format(depthwise=depthwise, pointwise=pointwise, forward=forward)


_DS_FUNCTIONAL = """
class DepthwiseSeparable(nn.Module):
    def __init__(self, c_in, c_out, k, padding=0, bias=True):
        super().__init__()
        self.c_in, self.padding = c_in, padding
        self.depthwise = nn.Conv2d(c_in, c_in, (k, k), padding=(padding, padding), groups=c_in, bias=bias)
        self.pointwise = nn.Conv2d(c_in, c_out, (1, 1), bias=bias)

    def forward(self, x):
        d = F.conv2d(x, self.depthwise.weight, self.depthwise.bias, padding=self.padding, groups=self.c_in)
        out = torch.einsum("oc,bchw->bohw", self.pointwise.weight[:, :, 0, 0], d)
        if self.pointwise.bias is not None:
            out = out + self.pointwise.bias.view(1, -1, 1, 1)
        return out
"""

# --- Exercise 7: saliency -----------------------------------------------------------------------

_SAL = """
def saliency(model, x, cls):
    {eval}
    x = x.detach().clone().requires_grad_(True)
    cls = torch.as_tensor(cls).long().reshape(-1).expand(len(x))
    logits = model(x)
    target = {target}
    (grad,) = torch.autograd.grad(target, x)
    return {ret}
"""


def _sal(eval="model.eval()", target="logits.gather(1, cls.view(-1, 1)).sum()", ret="grad"):
    return _SAL.format(eval=eval, target=target, ret=ret)


_SAL_BACKWARD = """
def saliency(model, x, cls):
    model.eval()
    x = x.clone().detach()
    x.requires_grad = True
    if isinstance(cls, int):
        cls = torch.full((len(x),), cls)
    model(x)[torch.arange(len(x)), cls].sum().backward()
    return x.grad.detach()
"""

_SAL_ONE_HOT = """
def saliency(model, x, cls):
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    cls = torch.as_tensor(cls).reshape(-1).expand(len(x))
    (logits * F.one_hot(cls, logits.shape[1]).to(logits.dtype)).sum().backward()
    return x.grad
"""

# --- Exercise 8: maximise_class ---------------------------------------------------------------------

_MAX = """
def maximise_class(model, cls, steps=100, lr=0.1, l2=0.05, x0=None):
    {eval}
    if x0 is None:
        x0 = torch.zeros(1, 1, 28, 28)
    x = x0.detach().clone().requires_grad_(True)
    for _ in range(steps):
        objective = {objective}
        objective.backward()
        with torch.no_grad():
            x {op}= lr * x.grad
        {zero}
    return x.detach()
"""


def _max(
    eval="model.eval()",
    objective="model(x)[0, cls] - l2 * (x ** 2).sum()",
    op="+",
    zero="x.grad.zero_()",
):
    return _MAX.format(eval=eval, objective=objective, op=op, zero=zero)


_MAX_OPTIMIZER = """
def maximise_class(model, cls, steps=100, lr=0.1, l2=0.05, x0=None):
    model.eval()
    x = (torch.zeros(1, 1, 28, 28) if x0 is None else x0.detach().clone()).requires_grad_(True)
    opt = torch.optim.SGD([x], lr=lr, maximize=True)
    for _ in range(steps):
        opt.zero_grad()
        (model(x)[0, cls] - l2 * x.pow(2).sum()).backward()
        opt.step()
    return x.detach()
"""

_MAX_AUTOGRAD = """
def maximise_class(model, cls, steps=100, lr=0.1, l2=0.05, x0=None):
    model.eval()
    x = torch.zeros(1, 1, 28, 28) if x0 is None else x0.detach().clone()
    for _ in range(steps):
        x.requires_grad_(True)
        (g,) = torch.autograd.grad(model(x)[0, cls] - l2 * (x * x).sum(), x)
        x = (x + lr * g).detach()       # a fresh leaf each step: nothing accumulates
    return x
"""

_MAX_WEIGHTS = """
def maximise_class(model, cls, steps=100, lr=0.1, l2=0.05, x0=None):
    model.eval()
    x = (torch.zeros(1, 1, 28, 28) if x0 is None else x0.detach().clone()).requires_grad_(True)
    opt = torch.optim.SGD([x] + list(model.parameters()), lr=lr, maximize=True)
    for _ in range(steps):
        opt.zero_grad()
        (model(x)[0, cls] - l2 * (x ** 2).sum()).backward()
        opt.step()
    return x.detach()
"""

# --- Exercises 9 and 10: fgsm, fgsm_targeted -----------------------------------------------------------

_FGSM = """
def fgsm(model, x, y, eps, lo=0.0, hi=1.0):
    {eval}
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return {ret}.detach()
"""


def _fgsm(eval="model.eval()", ret="(x + eps * grad.sign()).clamp(lo, hi)"):
    return _FGSM.format(eval=eval, ret=ret)


_FGSM_BACKWARD = """
def fgsm(model, x, y, eps, lo=0.0, hi=1.0):
    model.eval()
    x_adv = x.clone().detach().requires_grad_(True)
    loss = F.cross_entropy(model(x_adv), y, reduction="sum")   # the sum: the same sign
    loss.backward()
    x_adv = x_adv + eps * torch.sign(x_adv.grad)
    return torch.clamp(x_adv, min=lo, max=hi).detach()
"""

_FGSM_MINMAX = """
def fgsm(model, x, y, eps, lo=0.0, hi=1.0):
    model.eval()
    with torch.enable_grad():
        xr = x.detach().clone().requires_grad_(True)
        g = torch.autograd.grad(F.nll_loss(F.log_softmax(model(xr), dim=1), y), xr)[0]
    step = torch.where(g > 0, eps, torch.where(g < 0, -eps, 0.0))
    return torch.minimum(torch.maximum(x + step, torch.tensor(lo)), torch.tensor(hi)).detach()
"""

_FGT = """
def fgsm_targeted(model, x, target, eps, lo=0.0, hi=1.0):
    {eval}
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), target), x)
    return {ret}.detach()
"""


def _fgt(eval="model.eval()", ret="(x - eps * grad.sign()).clamp(lo, hi)"):
    return _FGT.format(eval=eval, ret=ret)


_FGT_BACKWARD = """
def fgsm_targeted(model, x, target, eps, lo=0.0, hi=1.0):
    model.eval()
    x_adv = x.clone().detach().requires_grad_(True)
    F.cross_entropy(model(x_adv), target).backward()
    return torch.clamp(x_adv - eps * x_adv.grad.sign(), lo, hi).detach()
"""

_FGT_NEGATED = """
def fgsm_targeted(model, x, target, eps, lo=0.0, hi=1.0):
    model.eval()
    xr = x.detach().clone().requires_grad_(True)
    # ascend the log-probability of the target: the same step as descending its loss
    (g,) = torch.autograd.grad(torch.log_softmax(model(xr), 1).gather(1, target.view(-1, 1)).sum(), xr)
    return (x + eps * g.sign()).clamp(lo, hi).detach()
"""

# --- Exercise 11: one_pixel_attack -----------------------------------------------------------------------

_OP = """
def one_pixel_attack(model, x, y, trials=500, seed=0, lo=0.0, hi=1.0):
    {eval}
    g = {gen}
    h, w = x.shape[-2], x.shape[-1]
    rows = torch.randint(0, h, (trials,), generator=g)
    cols = torch.randint(0, w, (trials,), generator=g)
    values = {values}
    candidates = x.detach().repeat(trials, 1, 1, 1)
    candidates[torch.arange(trials), 0, rows, cols] = values
    with torch.no_grad():
        p = torch.softmax(model(candidates), dim=1)[:, y]
    best = int(p.{pick}())
    x_adv = candidates[best:best + 1].clone()
    with torch.no_grad():
        fooled = {fooled}
    return x_adv, {ret}
"""


def _op(
    eval="model.eval()",
    gen="torch.Generator().manual_seed(seed)",
    values="torch.where(torch.rand(trials, generator=g) < 0.5, lo, hi)",
    pick="argmin",
    fooled="int(model(x_adv).argmax(1)) != int(y)",
    ret="bool(fooled)",
):
    return _OP.format(eval=eval, gen=gen, values=values, pick=pick, fooled=fooled, ret=ret)


_OP_SEVERAL = """
def one_pixel_attack(model, x, y, trials=500, seed=0, lo=0.0, hi=1.0):
    model.eval()
    g = torch.Generator().manual_seed(seed)
    x_adv = x.detach().clone()
    for _ in range(trials):      # every candidate is kept: many pixels change
        r, c = (int(v) for v in torch.randint(0, 28, (2,), generator=g))
        x_adv[0, 0, r, c] = hi if x_adv[0, 0, r, c] < 0.5 else lo
    with torch.no_grad():
        return x_adv, bool(int(model(x_adv).argmax(1)) != y)
"""

_OP_EVOLUTION = """
def one_pixel_attack(model, x, y, trials=500, seed=0, lo=0.0, hi=1.0):
    # a small evolutionary search: keep the 10 best (row, col, value), mutate them
    model.eval()
    g = torch.Generator().manual_seed(seed)
    h, w = x.shape[-2:]

    def evaluate(rows, cols, values):
        c = x.detach().repeat(len(rows), 1, 1, 1)
        c[torch.arange(len(rows)), 0, rows, cols] = values
        with torch.no_grad():
            return c, torch.softmax(model(c), 1)[:, y]

    n = max(trials // 5, 1)
    rows, cols = torch.randint(0, h, (n,), generator=g), torch.randint(0, w, (n,), generator=g)
    values = lo + (hi - lo) * torch.randint(0, 2, (n,), generator=g).float()
    cands, p = evaluate(rows, cols, values)
    used = n
    while used < trials:
        keep = p.argsort()[:10]
        m = min(n, trials - used)
        parent = keep[torch.randint(0, len(keep), (m,), generator=g)]
        r = (rows[parent] + torch.randint(-2, 3, (m,), generator=g)).clamp(0, h - 1)
        c = (cols[parent] + torch.randint(-2, 3, (m,), generator=g)).clamp(0, w - 1)
        v = lo + (hi - lo) * torch.randint(0, 2, (m,), generator=g).float()
        new, pn = evaluate(r, c, v)
        rows, cols, values = torch.cat([rows, r]), torch.cat([cols, c]), torch.cat([values, v])
        cands, p = torch.cat([cands, new]), torch.cat([p, pn])
        used += m
    best = int(p.argmin())
    x_adv = cands[best:best + 1]
    with torch.no_grad():
        return x_adv, bool(int(model(x_adv).argmax(1)) != y)
"""

_OP_EXHAUSTIVE = """
def one_pixel_attack(model, x, y, trials=500, seed=0, lo=0.0, hi=1.0):
    # the first `trials` of all positions × {lo, hi}, in a random order
    model.eval()
    g = torch.Generator().manual_seed(seed)
    h, w = x.shape[-2:]
    order = torch.randperm(2 * h * w, generator=g)[:trials]
    pos, high = order % (h * w), order // (h * w)
    cand = x.detach().reshape(1, -1).repeat(len(order), 1)
    cand[torch.arange(len(order)), pos] = torch.where(high == 1, hi, lo).to(cand.dtype)
    cand = cand.view(-1, 1, h, w)
    with torch.no_grad():
        p = torch.softmax(model(cand), 1)[:, y]
        best = cand[int(p.argmin())].unsqueeze(0)
        return best, bool(model(best).argmax(1).item() != y)
"""

CASES = [
    # receptive_field
    mistake(
        "test_receptive_field",
        "stride product forgotten",
        _rf(size="size + (span - 1)"),
        "stride product",
    ),
    mistake("test_receptive_field", "jump after the layer's stride", _RF_AFTER, "after"),
    mistake(
        "test_receptive_field",
        "jump = this layer's stride",
        _RF_LAYER_STRIDE,
        "stride of this layer only",
    ),
    mistake("test_receptive_field", "dilation ignored", _rf(span="k"), "dilation"),
    mistake(
        "test_receptive_field",
        "padding added",
        _rf(size="size + (span - 1) * jump + 2 * layer.get('padding', 0)"),
        "padding",
    ),
    alternative("test_receptive_field", "closed form with products of strides", _RF_PRODUCT),
    alternative("test_receptive_field", "from the top unit down", _RF_BACKWARDS),
    # shift_image
    mistake("test_shift_image", "torch.roll wraps around", _SHIFT_ROLL, "wraps around"),
    mistake("test_shift_image", "moves the other way", _SHIFT_REVERSED, "up and to the left"),
    mistake("test_shift_image", "dy and dx swapped", _SHIFT_SWAPPED, "swapped"),
    mistake("test_shift_image", "modifies its input", _SHIFT_IN_PLACE, "changed its input"),
    alternative("test_shift_image", "F.pad and a crop", _SHIFT_PAD),
    alternative("test_shift_image", "roll, then zero what wrapped", _SHIFT_ROLL_AND_ZERO),
    # equivariance_error
    mistake(
        "test_equivariance_error",
        "output shifted by the input's shift",
        _eq(b="shift_image(y, dy, dx)"),
        "shifted by the input's shift",
    ),
    mistake(
        "test_equivariance_error",
        "compared with layer(x): invariance",
        _eq(b="y"),
        "not shifted at all",
    ),
    mistake("test_equivariance_error", "margin ignored", _eq(m="0"), "margin"),
    mistake("test_equivariance_error", "not relative", _eq(ret="top"), "not divided"),
    mistake(
        "test_equivariance_error", "the mean difference", _eq(reduce="mean"), "mean difference"
    ),
    alternative("test_equivariance_error", "math.trunc, amax and a slice tuple", _EQ_ALT),
    alternative("test_equivariance_error", "a mask instead of a crop", _EQ_MASK),
    # separable_params
    mistake(
        "test_separable_params",
        "depthwise as a full convolution",
        _SP.format(sep="c_in * c_in * k * k + c_in * c_out + b * (c_in + c_out)"),
        "one k×k filter per input channel",
    ),
    mistake(
        "test_separable_params",
        "pointwise missing",
        _SP.format(sep="c_in * k * k + b * c_in"),
        "pointwise 1×1 convolution is missing",
    ),
    mistake(
        "test_separable_params",
        "pointwise k×k",
        _SP.format(sep="c_in * k * k + c_out * c_in * k * k + b * (c_in + c_out)"),
        "1×1, not k×k",
    ),
    mistake(
        "test_separable_params",
        "depthwise biases forgotten",
        _SP.format(sep="c_in * k * k + c_in * c_out + b * c_out"),
        "c_in biases are missing",
    ),
    alternative("test_separable_params", "count nn.Conv2d parameters", _SP_MODULES),
    alternative("test_separable_params", "factored formula", _SP_FACTORED),
    # separable_madds
    mistake(
        "test_separable_madds",
        "per output pixel only",
        _SM.format(pixels="1", sep="c_in * k * k + c_out * c_in"),
        "per output pixel only",
    ),
    mistake(
        "test_separable_madds",
        "pointwise missing",
        _SM.format(pixels="h_out * w_out", sep="c_in * k * k * pixels"),
        "pointwise",
    ),
    mistake(
        "test_separable_madds",
        "depthwise as a full convolution",
        _SM.format(pixels="h_out * w_out", sep="(c_in * c_in * k * k + c_out * c_in) * pixels"),
        "full convolution",
    ),
    alternative("test_separable_madds", "from the ratio 1/c_out + 1/k²", _SM_RATIO),
    alternative("test_separable_madds", "a loop over output pixels", _SM_LOOP),
    # DepthwiseSeparable
    mistake(
        "test_DepthwiseSeparable",
        "groups missing",
        _ds(depthwise="nn.Conv2d(c_in, c_in, k, padding=padding, bias=bias)"),
        "groups=c_in is missing",
    ),
    mistake(
        "test_DepthwiseSeparable",
        "pointwise k×k",
        _ds(pointwise="nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=bias)"),
        "1×1, not k×k",
    ),
    mistake(
        "test_DepthwiseSeparable",
        "padding on the pointwise convolution",
        _ds(
            depthwise="nn.Conv2d(c_in, c_in, k, groups=c_in, bias=bias)",
            pointwise="nn.Conv2d(c_in, c_out, 1, padding=padding, bias=bias)",
        ),
        "padding belongs to the depthwise",
    ),
    mistake(
        "test_DepthwiseSeparable",
        "pointwise first",
        _ds(
            depthwise="nn.Conv2d(c_out, c_out, k, padding=padding, groups=c_out, bias=bias)",
            forward="self.depthwise(self.pointwise(x))",
        ),
        "comes second",
    ),
    mistake(
        "test_DepthwiseSeparable",
        "a ReLU between",
        _ds(forward="self.pointwise(torch.relu(self.depthwise(x)))"),
        "activation between",
        hidden=True,
    ),
    alternative("test_DepthwiseSeparable", "functional forward with einsum", _DS_FUNCTIONAL),
    alternative(
        "test_DepthwiseSeparable",
        "tuple kernel sizes",
        _ds(
            depthwise="nn.Conv2d(c_in, c_in, kernel_size=(k, k), stride=1, padding=(padding, padding), groups=c_in, bias=bias)",
            pointwise="nn.Conv2d(in_channels=c_in, out_channels=c_out, kernel_size=(1, 1), bias=bias)",
        ),
    ),
    # saliency
    mistake(
        "test_saliency",
        "gradient of the loss",
        _sal(target="F.cross_entropy(logits, cls, reduction='sum')"),
        "gradient of the loss",
    ),
    mistake("test_saliency", "no model.eval()", _sal(eval="pass"), "training mode", "model.eval()"),
    mistake(
        "test_saliency",
        "gradient of the probability",
        _sal(target="torch.softmax(logits, 1).gather(1, cls.view(-1, 1)).sum()"),
        "softmax probability",
    ),
    mistake("test_saliency", "absolute value", _sal(ret="grad.abs()"), "signed gradient"),
    mistake(
        "test_saliency",
        "the predicted class",
        _sal(target="logits.gather(1, logits.argmax(1, keepdim=True)).sum()"),
        "predicted class",
    ),
    alternative("test_saliency", "backward and x.grad", _SAL_BACKWARD),
    alternative("test_saliency", "one-hot mask", _SAL_ONE_HOT),
    # maximise_class
    mistake(
        "test_maximise_class", "gradient never cleared", _max(zero="pass"), "accumulates", "zero"
    ),
    mistake("test_maximise_class", "descends", _max(op="-"), "down", "ascent"),
    mistake(
        "test_maximise_class",
        "no L2 penalty",
        _max(objective="model(x)[0, cls]"),
        "penalty is missing",
    ),
    mistake("test_maximise_class", "no model.eval()", _max(eval="pass"), "training mode"),
    mistake(
        "test_maximise_class",
        "the probability",
        _max(objective="torch.softmax(model(x), 1)[0, cls] - l2 * (x ** 2).sum()"),
        "softmax probability",
    ),
    mistake("test_maximise_class", "optimises the weights too", _MAX_WEIGHTS, "weights changed"),
    alternative("test_maximise_class", "torch.optim.SGD(maximize=True) on x", _MAX_OPTIMIZER),
    alternative("test_maximise_class", "autograd.grad, a fresh leaf per step", _MAX_AUTOGRAD),
    # fgsm
    mistake("test_fgsm", "no sign", _fgsm(ret="(x + eps * grad).clamp(lo, hi)"), "sign"),
    mistake("test_fgsm", "no clip", _fgsm(ret="(x + eps * grad.sign())"), "clip"),
    mistake(
        "test_fgsm",
        "steps down",
        _fgsm(ret="(x - eps * grad.sign()).clamp(lo, hi)"),
        "loss went down",
    ),
    mistake("test_fgsm", "no model.eval()", _fgsm(eval="pass"), "training mode"),
    mistake(
        "test_fgsm",
        "clip to [0, 1] hard-coded",
        _fgsm(ret="(x + eps * grad.sign()).clamp(0, 1)"),
        "instead of [lo, hi]",
        hidden=True,
    ),
    alternative("test_fgsm", "backward, sum reduction, torch.clamp", _FGSM_BACKWARD),
    alternative("test_fgsm", "nll of log_softmax, where and min/max", _FGSM_MINMAX),
    # fgsm_targeted
    mistake(
        "test_fgsm_targeted",
        "steps up the target's loss",
        _fgt(ret="(x + eps * grad.sign()).clamp(lo, hi)"),
        "went up",
    ),
    mistake("test_fgsm_targeted", "no clip", _fgt(ret="(x - eps * grad.sign())"), "outside [0, 1]"),
    mistake("test_fgsm_targeted", "no sign", _fgt(ret="(x - eps * grad).clamp(lo, hi)"), "sign"),
    mistake("test_fgsm_targeted", "no model.eval()", _fgt(eval="pass"), "training mode"),
    alternative("test_fgsm_targeted", "backward and x.grad", _FGT_BACKWARD),
    alternative("test_fgsm_targeted", "ascend the target's log-probability", _FGT_NEGATED),
    # one_pixel_attack
    mistake("test_one_pixel_attack", "several pixels change", _OP_SEVERAL, "differs from x in"),
    mistake(
        "test_one_pixel_attack",
        "values 0..255",
        _op(values="torch.where(torch.rand(trials, generator=g) < 0.5, 0.0, 255.0)"),
        "outside [lo, hi]",
    ),
    mistake(
        "test_one_pixel_attack",
        "keeps the most probable candidate",
        _op(pick="argmax"),
        "no adversarial pixel found",
    ),
    # (an unseeded search is caught by the grader, where the test's own seeding of torch's global
    # generator does not reach the student's process; in this process it can't be told apart)
    mistake(
        "test_one_pixel_attack",
        "fooled is a tensor",
        _op(ret="torch.tensor(fooled)"),
        "Python bool",
    ),
    mistake(
        "test_one_pixel_attack",
        "fooled against the clean prediction",
        _op(fooled="int(model(x_adv).argmax(1)) != int(model(x).argmax(1))"),
        "not with the prediction for the clean image",
        hidden=True,
    ),
    alternative(
        "test_one_pixel_attack",
        "uniform random values",
        _op(values="lo + (hi - lo) * torch.rand(trials, generator=g)"),
    ),
    alternative("test_one_pixel_attack", "an evolutionary search", _OP_EVOLUTION),
    alternative("test_one_pixel_attack", "exhaustive in a random order", _OP_EXHAUSTIVE),
]
