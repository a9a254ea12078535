"""Notebook 05 (LeNet-5 on MNIST): for every exercise, classic mistakes and correct alternatives.

Each source replaces an answer cell of solutions/05_lenet_mnist; the names it uses (np, torch, nn,
F, math, permutation_batches, and the earlier exercises) come from the notebook's setup cell and
answer cells. The checks of exercises 5-9 run the student's code on coursekit.probes.ProbeNet, so
none of these cases depends on the notebook's LeNet5.
"""

from __future__ import annotations

from . import alternative, mistake


def _edit(src: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in src, old
        src = src.replace(old, new)
    return src


# --- Exercise 1: channel_stats -----------------------------------------------------------------

_STATS = """
def channel_stats(images):
    x = torch.as_tensor(np.asarray(images)).to(torch.float32) / 255.0
    return x.mean().item(), x.std(correction=0).item()
"""
STATS_NOT_SCALED = _edit(_STATS, (" / 255.0", ""))
STATS_UNBIASED = _edit(_STATS, ("x.std(correction=0)", "x.std()"))
STATS_PER_IMAGE = _edit(
    _STATS, ("x.std(correction=0).item()", "x.flatten(1).std(dim=1, correction=0).mean().item()")
)
STATS_VARIANCE = _edit(_STATS, ("x.std(correction=0).item()", "x.var(correction=0).item()"))
STATS_TENSORS = _edit(
    _STATS,
    ("return x.mean().item(), x.std(correction=0).item()", "return x.mean(), x.std(correction=0)"),
)
STATS_UINT8_SQUARES = """
def channel_stats(images):
    a = np.asarray(images)
    mean = a.mean() / 255
    var = (a ** 2).mean() / 255 ** 2 - mean ** 2     # the squares in uint8: 255 ** 2 wraps around
    return float(mean), float(np.sqrt(var))
"""
STATS_FLOAT64 = """
def channel_stats(images):
    x = np.asarray(images, dtype=np.float64) / 255.0
    return float(x.mean()), float(x.std())
"""
STATS_TWO_MOMENTS = """
def channel_stats(images):
    x = np.asarray(images, dtype=np.float64) / 255.0
    mean = x.mean()
    return float(mean), float(np.sqrt((x * x).mean() - mean * mean))
"""
STATS_STD_MEAN = """
def channel_stats(images):
    std, mean = torch.std_mean(torch.as_tensor(np.asarray(images)).double() / 255, correction=0)
    return mean.item(), std.item()
"""
STATS_CHUNKS = """
def channel_stats(images):
    a = np.asarray(images)
    total = total_sq = 0.0
    for start in range(0, len(a), 5000):          # 5,000 images at a time: little memory
        chunk = a[start:start + 5000].astype(np.float64) / 255.0
        total += chunk.sum()
        total_sq += (chunk * chunk).sum()
    n = a.size
    mean = total / n
    return float(mean), float(math.sqrt(total_sq / n - mean * mean))
"""

# --- Exercise 2: train_val_split ---------------------------------------------------------------

_SPLIT = """
def train_val_split(n, n_val, seed=0):
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:], perm[:n_val]
"""
SPLIT_NOT_SHUFFLED = """
def train_val_split(n, n_val, seed=0):
    idx = torch.arange(n)
    return idx[:n - n_val], idx[n - n_val:]
"""
SPLIT_GLOBAL_RNG = _edit(_SPLIT, (", generator=torch.Generator().manual_seed(seed)", ""))
SPLIT_SEED_IGNORED = _edit(_SPLIT, ("manual_seed(seed)", "manual_seed(0)"))
SPLIT_TWO_DRAWS = """
def train_val_split(n, n_val, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[n_val:], torch.randperm(n, generator=g)[:n_val]
"""
SPLIT_SWAPPED = _edit(
    _SPLIT, ("return perm[n_val:], perm[:n_val]", "return perm[:n_val], perm[n_val:]")
)
SPLIT_NUMPY = """
def train_val_split(n, n_val, seed=0):
    perm = np.random.default_rng(seed).permutation(n)
    return perm[n_val:], perm[:n_val]
"""
SPLIT_OFF_BY_ONE = _edit(
    _SPLIT, ("return perm[n_val:], perm[:n_val]", "return perm[n_val + 1:], perm[:n_val]")
)
SPLIT_LAST_PART = _edit(
    _SPLIT, ("return perm[n_val:], perm[:n_val]", "return perm[:n - n_val], perm[n - n_val:]")
)
SPLIT_NUMPY_TO_TORCH = """
def train_val_split(n, n_val, seed=0):
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(n)).long()
    return perm[n_val:], perm[:n_val]
"""
SPLIT_SORTED = """
def train_val_split(n, n_val, seed=0):
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train, val = torch.split(perm, [n - n_val, n_val])
    return train.sort().values, val.sort().values       # sorted: the same sets, easier to read
"""

# --- Exercise 3: lenet_shapes ------------------------------------------------------------------

_SHAPES = """
def lenet_shapes(height=28, width=28):
    def out(n, f, p=0, s=1):
        return (n - f + 2 * p) // s + 1
    h, w = height, width
    shapes = {"input": (1, h, w)}
    h, w = out(h, 5, P1), out(w, 5, P1)
    shapes["conv1"] = (6, h, w)
    h, w = out(h, 2, 0, S), out(w, 2, 0, S)
    shapes["pool1"] = (6, h, w)
    h, w = out(h, 5, P2), out(w, 5, P2)
    shapes["conv2"] = (16, h, w)
    h, w = out(h, 2, 0, 2), out(w, 2, 0, 2)
    shapes["pool2"] = (16, h, w)
    shapes["flatten"] = FLAT
    shapes["fc1"] = (120,)
    shapes["fc2"] = (84,)
    shapes["fc3"] = (10,)
    return shapes
"""


def shapes(p1="2", p2="0", s="2", flat="(16 * h * w,)") -> str:
    return _SHAPES.replace("P1", p1).replace("P2", p2).replace("S)", s + ")").replace("FLAT", flat)


SHAPES_NO_PADDING = shapes(p1="0")
SHAPES_CONV2_PADDED = shapes(p2="2")
SHAPES_POOL_STRIDE1 = shapes(s="1")
SHAPES_FLAT_INT = shapes(flat="16 * h * w")
SHAPES_NOT_FLATTENED = shapes(flat="(16, h, w)")
SHAPES_HARDCODED = """
def lenet_shapes(height=28, width=28):
    return {"input": (1, height, width), "conv1": (6, 28, 28), "pool1": (6, 14, 14), "conv2": (16, 10, 10),
            "pool2": (16, 5, 5), "flatten": (400,), "fc1": (120,), "fc2": (84,), "fc3": (10,)}
"""
SHAPES_BY_TORCH = """
def lenet_shapes(height=28, width=28):
    x = torch.zeros(1, 1, height, width)
    out = {"input": tuple(x.shape[1:])}
    x = F.conv2d(x, torch.zeros(6, 1, 5, 5), padding=2); out["conv1"] = tuple(x.shape[1:])
    x = F.max_pool2d(x, 2); out["pool1"] = tuple(x.shape[1:])
    x = F.conv2d(x, torch.zeros(16, 6, 5, 5)); out["conv2"] = tuple(x.shape[1:])
    x = F.max_pool2d(x, 2); out["pool2"] = tuple(x.shape[1:])
    out["flatten"] = (x.numel(),)
    return {**out, "fc1": (120,), "fc2": (84,), "fc3": (10,)}
"""
SHAPES_LISTS = shapes().replace("return shapes", "return {k: list(v) for k, v in shapes.items()}")

# --- Exercise 4: LeNet5 ------------------------------------------------------------------------

_LENET = """
class LeNet5(nn.Module):
    def __init__(self, variant="modern", num_classes=10):
        super().__init__()
        if variant not in ("modern", "classic"):
            raise ValueError(variant)
        self.variant = variant
        self.conv1 = nn.Conv2d(1, 6, 5, padding=PAD)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(FLAT, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, CLASSES)

    def forward(self, x):
        act = ACT
        pool = POOL
        x = pool(act(self.conv1(x)), 2)
        x = pool(act(self.conv2(x)), 2).flatten(1)
        x = act(self.fc1(x))
        x = AFTER_FC2
        return LAST
"""


def lenet(
    pad="2",
    flat="400",
    classes="num_classes",
    act='F.relu if self.variant == "modern" else torch.tanh',
    pool='F.max_pool2d if self.variant == "modern" else F.avg_pool2d',
    after_fc2="act(self.fc2(x))",
    last="self.fc3(x)",
) -> str:
    src = _LENET
    for key, value in (
        ("PAD", pad),
        ("FLAT", flat),
        ("CLASSES", classes),
        ("AFTER_FC2", after_fc2),
        ("ACT", act),
        ("POOL", pool),
        ("LAST", last),
    ):
        src = src.replace(key, value)
    return src


LENET_OK = lenet()
LENET_RELU_EVERYWHERE = lenet(act="F.relu")
LENET_MAX_EVERYWHERE = lenet(pool="F.max_pool2d")
LENET_SOFTMAX = lenet(last="torch.softmax(self.fc3(x), dim=1)")
LENET_ACT_LAST = lenet(last="act(self.fc3(x))")
LENET_NO_ACT_FC2 = lenet(after_fc2="self.fc2(x)")
LENET_NO_PADDING = lenet(pad="0", flat="256")
LENET_TEN_CLASSES = lenet(classes="10")
LENET_SEQUENTIAL = """
class LeNet5(nn.Module):
    def __init__(self, variant="modern", num_classes=10):
        super().__init__()
        act = nn.ReLU() if variant == "modern" else nn.Tanh()
        pool = nn.MaxPool2d(2) if variant == "modern" else nn.AvgPool2d(2)
        self.net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), act, pool, nn.Conv2d(6, 16, 5), act, pool,
                                 nn.Flatten(), nn.Linear(400, 120), act, nn.Linear(120, 84), act,
                                 nn.Linear(84, num_classes))

    def forward(self, x):
        return self.net(x)
"""
LENET_BIAS_ONLY = lenet(last="self.fc3.bias.expand(len(x), -1) + 0 * x.sum()")
LENET_ZERO_WEIGHTS_BIAS = """
class LeNet5(nn.Module):                 # the right names and shapes, all weights 0, no computation
    def __init__(self, variant="modern", num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        for p in self.parameters():
            nn.init.zeros_(p)
        nn.init.normal_(self.fc3.bias)

    def forward(self, x):
        return self.fc3.bias.expand(len(x), -1).clone()
"""
LENET_MODULES = """
class LeNet5(nn.Module):
    def __init__(self, variant="modern", num_classes=10):
        super().__init__()
        self.variant = variant
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        self.act = nn.ReLU() if variant == "modern" else nn.Tanh()       # modules without parameters
        self.pool = nn.MaxPool2d(2) if variant == "modern" else nn.AvgPool2d(2)

    def forward(self, x):
        x = self.pool(self.act(self.conv1(x)))
        x = self.pool(self.act(self.conv2(x)))
        x = x.view(x.size(0), -1)
        return self.fc3(self.act(self.fc2(self.act(self.fc1(x)))))
"""
LENET_TORCH_FUNCTIONS = lenet(
    act='torch.relu if self.variant == "modern" else torch.tanh',
    pool='(lambda t, k: F.max_pool2d(t, k, stride=k)) if self.variant == "modern" else '
    "(lambda t, k: F.avg_pool2d(t, kernel_size=k))",
)

# --- Exercise 5: count_params ------------------------------------------------------------------

PARAMS_STATE_DICT = (
    "def count_params(model):\n    return sum(v.numel() for v in model.state_dict().values())\n"
)
PARAMS_WEIGHTS_ONLY = (
    "def count_params(model):\n"
    "    return sum(p.numel() for n, p in model.named_parameters() if n.endswith('weight'))\n"
)
PARAMS_TENSORS = "def count_params(model):\n    return len(list(model.parameters()))\n"
PARAMS_FIRST_DIMS = (
    "def count_params(model):\n    return sum(p.shape[0] for p in model.parameters())\n"
)
PARAMS_TENSOR = "def count_params(model):\n    return sum(p.numel() for p in model.parameters()) * torch.ones((), dtype=torch.long)\n"
PARAMS_VECTOR = (
    "def count_params(model):\n"
    "    return torch.nn.utils.parameters_to_vector(model.parameters()).numel()\n"
)
PARAMS_PROD = (
    "def count_params(model):\n"
    "    return sum(math.prod(p.shape) for _, p in model.named_parameters())\n"
)

# --- Exercise 6: cross_entropy -----------------------------------------------------------------

_CE = """
def cross_entropy(logits, targets):
    m = logits.max(dim=1, keepdim=True).values.detach()
    shifted = logits - m
    log_z = shifted.exp().sum(dim=1).log()
    picked = shifted.gather(1, targets.long().view(-1, 1)).squeeze(1)
    return (log_z - picked).mean()
"""
CE_NAIVE = """
def cross_entropy(logits, targets):
    p = logits.exp() / logits.exp().sum(dim=1, keepdim=True)
    return -p[torch.arange(len(targets)), targets].log().mean()
"""
CE_SUM = _edit(_CE, ("(log_z - picked).mean()", "(log_z - picked).sum()"))
CE_LOG2 = _edit(_CE, ("(log_z - picked).mean()", "((log_z - picked) / math.log(2)).mean()"))
CE_PICKED_NOT_SHIFTED = _edit(_CE, ("picked = shifted.gather", "picked = logits.gather"))
CE_MAX_DIM0 = _edit(_CE, ("logits.max(dim=1, keepdim=True)", "logits.max(dim=0, keepdim=True)"))
CE_NUMPY = """
def cross_entropy(logits, targets):
    z = logits.detach().numpy().astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    loss = np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(z)), targets.numpy()]
    return torch.tensor(loss.mean(), dtype=logits.dtype)
"""
CE_LOG_SOFTMAX = (
    "def cross_entropy(logits, targets):\n"
    "    return -F.log_softmax(logits, dim=1).gather(1, targets.view(-1, 1)).mean()\n"
)
CE_LSE_NOT_DIFFERENTIABLE = _edit(
    _CE,
    ("log_z = shifted.exp().sum(dim=1).log()", "log_z = shifted.detach().exp().sum(dim=1).log()"),
)
CE_ONE_HOT = """
def cross_entropy(logits, targets):
    m = logits.max(dim=1, keepdim=True).values
    log_p = logits - m - (logits - m).exp().sum(dim=1, keepdim=True).log()     # log softmax, by hand
    one_hot = torch.zeros_like(logits).scatter_(1, targets.view(-1, 1), 1.0)
    return -(one_hot * log_p).sum(dim=1).mean()                                # Pan: -sum_i y_i log p_i
"""
CE_INDEXING = """
def cross_entropy(logits, targets):
    m, _ = logits.max(dim=1)
    lse = m + torch.log(torch.sum(torch.exp(logits - m[:, None]), dim=1))
    return torch.mean(lse - logits[torch.arange(logits.shape[0]), targets])
"""
CE_FLOAT64_INSIDE = """
def cross_entropy(logits, targets):
    z = logits.double()
    z = z - z.max(dim=1, keepdim=True).values
    loss = z.exp().sum(1).log() - z[torch.arange(len(z)), targets]
    return loss.mean().to(logits.dtype)
"""

# --- Exercise 7: train_one_epoch ---------------------------------------------------------------

_HEAD = """
def train_one_epoch(model, images, labels, optimizer=None, *, batch_size=64, seed=0,
                    scheduler=None, on_batch=None, lr=3e-3):
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
"""
_EPOCH = (
    _HEAD
    + """    model.train()
    total = torch.zeros((), device=images.device)
    for idx in permutation_batches(len(images), batch_size, seed=seed, device=images.device):
        x, y = images[idx], labels[idx]
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.detach() * len(idx)
        if on_batch is not None:
            on_batch(len(idx))
    return total.item() / len(images)
"""
)


def epoch(*pairs: tuple[str, str]) -> str:
    return _edit(_EPOCH, *pairs)


EPOCH_NO_TRAIN = epoch(("    model.train()\n", ""))
EPOCH_BATCH_MEANS = epoch(
    ("total = torch.zeros((), device=images.device)", "means = []"),
    ("total += loss.detach() * len(idx)", "means.append(loss.item())"),
    ("return total.item() / len(images)", "return sum(means) / len(means)"),
)
EPOCH_LAST_BATCH = epoch(("return total.item() / len(images)", "return loss.item()"))
EPOCH_IN_ORDER = epoch(
    (
        "for idx in permutation_batches(len(images), batch_size, seed=seed, device=images.device):",
        "for idx in torch.arange(len(images)).split(batch_size):",
    )
)
EPOCH_SEED_IGNORED = epoch(("seed=seed, device", "seed=0, device"))
EPOCH_GLOBAL_RNG = epoch(
    (
        "for idx in permutation_batches(len(images), batch_size, seed=seed, device=images.device):",
        "for idx in torch.randperm(len(images)).split(batch_size):",
    )
)
EPOCH_NO_ZERO_GRAD = epoch(("        optimizer.zero_grad(set_to_none=True)\n", ""))
EPOCH_SCHEDULER_PER_EPOCH = epoch(
    ("        if scheduler is not None:\n            scheduler.step()\n", ""),
    (
        "    return total.item() / len(images)",
        "    if scheduler is not None:\n        scheduler.step()\n    return total.item() / len(images)",
    ),
)
EPOCH_SCHEDULER_NEVER = epoch(
    ("        if scheduler is not None:\n            scheduler.step()\n", "")
)
EPOCH_SCHEDULER_FIRST = epoch(
    (
        "        optimizer.step()\n        if scheduler is not None:\n            scheduler.step()\n",
        "        if scheduler is not None:\n            scheduler.step()\n        optimizer.step()\n",
    )
)
EPOCH_NO_ON_BATCH = epoch(
    ("        if on_batch is not None:\n            on_batch(len(idx))\n", "")
)
EPOCH_TENSOR = epoch(("return total.item() / len(images)", "return total / len(images)"))
EPOCH_SUMMED_LOSS = epoch(
    ("loss = F.cross_entropy(model(x), y)", "loss = F.cross_entropy(model(x), y, reduction='sum')"),
    ("total += loss.detach() * len(idx)", "total += loss.detach()"),
)
EPOCH_WHOLE_SET = epoch(
    (
        "for idx in permutation_batches(len(images), batch_size, seed=seed, device=images.device):",
        "for idx in [torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))]:",
    )
)
EPOCH_ITEM = (
    _HEAD
    + """    model.train()
    total = 0.0
    for idx in permutation_batches(len(images), batch_size, seed=seed, device=images.device):
        optimizer.zero_grad()                         # before the forward pass
        loss = F.cross_entropy(model(images[idx]), labels[idx])
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item() * len(idx)               # .item() every batch: slower on a GPU, same numbers
        if on_batch is not None:
            on_batch(len(idx))
    return total / len(images)
"""
)
EPOCH_MODEL_ZERO_GRAD = epoch(
    ("optimizer.zero_grad(set_to_none=True)", "model.zero_grad(set_to_none=False)")
)
EPOCH_ENUMERATE = (
    _HEAD
    + """    batches = list(permutation_batches(len(images), batch_size, seed=seed, device=images.device))
    losses = []
    for i, idx in enumerate(batches):
        model.train()                                 # every batch: harmless
        logits = model(images[idx])
        loss = F.cross_entropy(logits, labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler is not None and scheduler.step()
        losses.append(loss.detach() * len(idx))
        on_batch and on_batch(len(idx))
    return float(torch.stack(losses).sum() / len(images))
"""
)

# --- Exercise 8: evaluate ----------------------------------------------------------------------

_EVAL = """
def evaluate(model, images, labels, batch_size=1000):
    model.eval()
    total_loss = torch.zeros((), device=images.device)
    correct = torch.zeros((), dtype=torch.long, device=images.device)
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x, y = images[start:start + batch_size], labels[start:start + batch_size]
            logits = model(x)
            total_loss += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(dim=1) == y).sum()
    n = max(len(images), 1)
    return total_loss.item() / n, correct.item() / n
"""
EVAL_NO_EVAL = _edit(_EVAL, ("    model.eval()\n", ""))
EVAL_NO_NO_GRAD = _edit(
    _EVAL,
    ("    with torch.no_grad():\n        for start", "    if True:\n        for start"),
    (
        'total_loss += F.cross_entropy(logits, y, reduction="sum")',
        'total_loss = total_loss + F.cross_entropy(logits, y, reduction="sum").detach()',
    ),
)
EVAL_WHOLE_SET = """
def evaluate(model, images, labels, batch_size=1000):
    model.eval()
    with torch.no_grad():
        logits = model(images)
    return F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).double().mean().item()
"""
EVAL_BATCH_MEANS = """
def evaluate(model, images, labels, batch_size=1000):
    model.eval()
    losses, accs = [], []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(images[start:start + batch_size])
            y = labels[start:start + batch_size]
            losses.append(F.cross_entropy(logits, y).item())
            accs.append((logits.argmax(1) == y).double().mean().item())
    return sum(losses) / len(losses), sum(accs) / len(accs)
"""
EVAL_PERCENT = _edit(_EVAL, ("correct.item() / n", "100 * correct.item() / n"))
EVAL_COUNT = _edit(_EVAL, ("correct.item() / n", "correct.item()"))
EVAL_TENSORS = _edit(
    _EVAL,
    ("return total_loss.item() / n, correct.item() / n", "return total_loss / n, correct / n"),
)
EVAL_DETACH = _edit(
    _EVAL,
    ("    with torch.no_grad():\n        for start", "    if True:\n        for start"),
    ("logits = model(x)", "logits = model(x).detach()"),
)
EVAL_INFERENCE_MODE = _edit(_EVAL, ("with torch.no_grad():", "with torch.inference_mode():"))
EVAL_DECORATOR = """
@torch.no_grad()
def evaluate(model, images, labels, batch_size=1000):
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(images), batch_size):
        logits = model(images[start:start + batch_size])
        y = labels[start:start + batch_size]
        loss_sum += F.cross_entropy(logits, y).item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
    return loss_sum / len(images), correct / len(images)
"""
EVAL_SET_GRAD = _edit(_EVAL, ("with torch.no_grad():", "with torch.set_grad_enabled(False):"))

# --- Exercise 9: Dropout -----------------------------------------------------------------------

_DROP = """
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"p must be in [0, 1), not {p}")
        self.p = float(p)

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep / (1 - self.p)
"""


def drop(*pairs: tuple[str, str]) -> str:
    return _edit(_DROP, *pairs)


DROP_KEEP_PROB = drop(("keep = torch.rand_like(x) >= self.p", "keep = torch.rand_like(x) < self.p"))
DROP_NOT_SCALED = drop(("return x * keep / (1 - self.p)", "return x * keep"))
DROP_TIMES_KEEP = drop(("return x * keep / (1 - self.p)", "return x * keep * (1 - self.p)"))
DROP_ALWAYS = drop(("if not self.training or self.p == 0:", "if self.p == 0:"))
DROP_ORIGINAL = drop(
    (
        "        if not self.training or self.p == 0:\n            return x\n",
        "        if not self.training:\n            return x * (1 - self.p)\n",
    ),
    ("return x * keep / (1 - self.p)", "return x * keep"),
)
DROP_FIXED_MASK = drop(
    (
        "        keep = torch.rand_like(x) >= self.p\n",
        "        if getattr(self, 'keep', None) is None or self.keep.shape != x.shape:\n"
        "            self.keep = torch.rand_like(x) >= self.p           # drawn once, then reused\n"
        "        keep = self.keep\n",
    ),
)
DROP_IN_PLACE = drop(("return x * keep / (1 - self.p)", "return x.mul_(keep).div_(1 - self.p)"))
DROP_DETACHED = drop(("return x * keep / (1 - self.p)", "return x.detach() * keep / (1 - self.p)"))
DROP_TORCH = drop(
    (
        "        keep = torch.rand_like(x) >= self.p\n        return x * keep / (1 - self.p)\n",
        "        return F.dropout(x, self.p, training=True)\n",
    )
)
DROP_PER_ROW = drop(
    (
        "keep = torch.rand_like(x) >= self.p",
        "keep = torch.rand(x.shape[0], *[1] * (x.ndim - 1)) >= self.p",
    )
)
DROP_NO_CHECK = drop(
    (
        '        if not 0 <= p < 1:\n            raise ValueError(f"p must be in [0, 1), not {p}")\n',
        "",
    )
)
DROP_BERNOULLI = drop(
    (
        "keep = torch.rand_like(x) >= self.p",
        "keep = torch.bernoulli(torch.full_like(x, 1 - self.p))",
    )
)
DROP_WHERE = drop(
    (
        "return x * keep / (1 - self.p)",
        "return torch.where(keep, x / (1 - self.p), torch.zeros_like(x))",
    )
)
DROP_UNIFORM = drop(
    (
        "keep = torch.rand_like(x) >= self.p",
        "keep = (x.new_empty(x.shape).uniform_() > self.p).to(x.dtype)",
    )
)


CASES = [
    # 1. channel_stats
    mistake("test_channel_stats", "not scaled to [0, 1]", STATS_NOT_SCALED, "not scaled to [0, 1]"),
    mistake("test_channel_stats", "unbiased std", STATS_UNBIASED, "unbiased std"),
    mistake("test_channel_stats", "mean of the per-image stds", STATS_PER_IMAGE, "per-image stds"),
    mistake("test_channel_stats", "the variance", STATS_VARIANCE, "the variance"),
    mistake("test_channel_stats", "0-d tensors", STATS_TENSORS, "python floats"),
    mistake("test_channel_stats", "squares in uint8", STATS_UINT8_SQUARES, "uint8", "wraps around"),
    alternative("test_channel_stats", "NumPy in float64", STATS_FLOAT64),
    alternative(
        "test_channel_stats", "mean of the squares minus the square of the mean", STATS_TWO_MOMENTS
    ),
    alternative("test_channel_stats", "torch.std_mean", STATS_STD_MEAN),
    alternative("test_channel_stats", "running sums over chunks", STATS_CHUNKS),
    # 2. train_val_split
    mistake(
        "test_train_val_split", "not shuffled: the last n_val", SPLIT_NOT_SHUFFLED, "random sample"
    ),
    mistake(
        "test_train_val_split",
        "torch's global generator",
        SPLIT_GLOBAL_RNG,
        "same seed",
        "global generator",
    ),
    mistake("test_train_val_split", "seed ignored", SPLIT_SEED_IGNORED, "seed is ignored"),
    mistake("test_train_val_split", "two permutations", SPLIT_TWO_DRAWS, "in both parts"),
    mistake("test_train_val_split", "parts swapped", SPLIT_SWAPPED, "parts are swapped"),
    mistake("test_train_val_split", "NumPy arrays", SPLIT_NUMPY, "int64 tensor"),
    mistake("test_train_val_split", "one index lost", SPLIT_OFF_BY_ONE, "sizes"),
    alternative("test_train_val_split", "the validation part at the end", SPLIT_LAST_PART),
    alternative("test_train_val_split", "NumPy's generator, as tensors", SPLIT_NUMPY_TO_TORCH),
    alternative("test_train_val_split", "torch.split, sorted parts", SPLIT_SORTED),
    # 3. lenet_shapes
    mistake("test_lenet_shapes", "conv1 not padded", SHAPES_NO_PADDING, "conv1 has padding 2"),
    mistake("test_lenet_shapes", "conv2 padded", SHAPES_CONV2_PADDED, "conv2 has no padding"),
    mistake("test_lenet_shapes", "pooling stride 1", SHAPES_POOL_STRIDE1, "stride 2"),
    mistake("test_lenet_shapes", "flatten as a number", SHAPES_FLAT_INT, "shape tuple", "(400,)"),
    mistake("test_lenet_shapes", "flatten not flattened", SHAPES_NOT_FLATTENED, "one vector"),
    mistake("test_lenet_shapes", "only 28 x 28", SHAPES_HARDCODED, "wrong answer", hidden=True),
    alternative("test_lenet_shapes", "zeros through PyTorch's layers", SHAPES_BY_TORCH),
    alternative("test_lenet_shapes", "lists instead of tuples", SHAPES_LISTS),
    # 4. LeNet5
    mistake(
        "test_LeNet5", "nn.Sequential (other names)", LENET_SEQUENTIAL, "attribute names", "conv1"
    ),
    mistake("test_LeNet5", "conv1 not padded", LENET_NO_PADDING, "conv1 has no padding"),
    mistake("test_LeNet5", "softmax at the end", LENET_SOFTMAX, "raw logits"),
    mistake("test_LeNet5", "num_classes ignored", LENET_TEN_CLASSES, "num_classes"),
    mistake(
        "test_LeNet5",
        "ReLU in the classic variant",
        LENET_RELU_EVERYWHERE,
        "activation of the other variant",
        hidden=True,
    ),
    mistake(
        "test_LeNet5",
        "max pooling in the classic variant",
        LENET_MAX_EVERYWHERE,
        "pooling of the other variant",
        hidden=True,
    ),
    mistake(
        "test_LeNet5",
        "an activation after fc3",
        LENET_ACT_LAST,
        "activation after the last layer",
        hidden=True,
    ),
    mistake(
        "test_LeNet5",
        "no activation after fc2",
        LENET_NO_ACT_FC2,
        "no activation after fc2",
        hidden=True,
    ),
    mistake(
        "test_LeNet5",
        "the bias of fc3, whatever the image",
        LENET_BIAS_ONLY,
        "values are wrong",
        hidden=True,
    ),
    mistake(
        "test_LeNet5",
        "zero weights, a forward that returns the bias",
        LENET_ZERO_WEIGHTS_BIAS,
        "values are wrong",
        hidden=True,
    ),
    alternative("test_LeNet5", "modules for the activation and the pooling", LENET_MODULES),
    alternative("test_LeNet5", "torch.relu and explicit strides", LENET_TORCH_FUNCTIONS),
    alternative("test_LeNet5", "the solution, written again", LENET_OK),
    # 5. count_params
    mistake("test_count_params", "state_dict: the buffers too", PARAMS_STATE_DICT, "buffers"),
    mistake("test_count_params", "weights only", PARAMS_WEIGHTS_ONLY, "only the weights"),
    mistake("test_count_params", "the number of tensors", PARAMS_TENSORS, "numel"),
    mistake("test_count_params", "first dimensions", PARAMS_FIRST_DIMS, "first dimension"),
    mistake("test_count_params", "a 0-d tensor", PARAMS_TENSOR, "python int"),
    alternative("test_count_params", "parameters_to_vector", PARAMS_VECTOR),
    alternative("test_count_params", "math.prod of the shapes", PARAMS_PROD),
    # 6. cross_entropy
    mistake(
        "test_cross_entropy", "softmax, then log (overflows)", CE_NAIVE, "overflows", "log-sum-exp"
    ),
    mistake("test_cross_entropy", "the sum over the batch", CE_SUM, "take the mean"),
    mistake("test_cross_entropy", "log base 2", CE_LOG2, "log base 2"),
    mistake(
        "test_cross_entropy",
        "the picked logit not shifted",
        CE_PICKED_NOT_SHIFTED,
        "true class's logit",
    ),
    mistake("test_cross_entropy", "the max over the batch", CE_MAX_DIM0, "dim 0"),
    mistake("test_cross_entropy", "NumPy, wrapped in torch.tensor", CE_NUMPY, "not differentiable"),
    mistake("test_cross_entropy", "F.log_softmax", CE_LOG_SOFTMAX, "ready-made implementation"),
    mistake(
        "test_cross_entropy",
        "the log-sum-exp detached",
        CE_LSE_NOT_DIFFERENTIABLE,
        "outside autograd",
    ),
    alternative("test_cross_entropy", "one-hot targets, Pan's formula", CE_ONE_HOT),
    alternative("test_cross_entropy", "indexing, max without keepdim", CE_INDEXING),
    alternative("test_cross_entropy", "float64 inside", CE_FLOAT64_INSIDE),
    # 7. train_one_epoch
    mistake("test_train_one_epoch", "model.train() missing", EPOCH_NO_TRAIN, "model.train()"),
    mistake(
        "test_train_one_epoch",
        "the mean of the batch means",
        EPOCH_BATCH_MEANS,
        "mean of the batch means",
    ),
    mistake("test_train_one_epoch", "the last batch's loss", EPOCH_LAST_BATCH, "last batch only"),
    mistake("test_train_one_epoch", "images in order", EPOCH_IN_ORDER, "in their order", "shuffle"),
    mistake("test_train_one_epoch", "seed ignored", EPOCH_SEED_IGNORED, "seed is ignored"),
    mistake(
        "test_train_one_epoch", "torch's global generator", EPOCH_GLOBAL_RNG, "permutation_batches"
    ),
    mistake("test_train_one_epoch", "the whole set as one batch", EPOCH_WHOLE_SET, "as one batch"),
    mistake("test_train_one_epoch", "gradients never cleared", EPOCH_NO_ZERO_GRAD, "zero_grad"),
    mistake(
        "test_train_one_epoch",
        "the scheduler once per epoch",
        EPOCH_SCHEDULER_PER_EPOCH,
        "once per epoch",
    ),
    mistake(
        "test_train_one_epoch",
        "the scheduler never stepped",
        EPOCH_SCHEDULER_NEVER,
        "never stepped",
    ),
    mistake(
        "test_train_one_epoch",
        "the scheduler before the optimizer",
        EPOCH_SCHEDULER_FIRST,
        "before optimizer.step()",
    ),
    mistake("test_train_one_epoch", "on_batch never called", EPOCH_NO_ON_BATCH, "on_batch"),
    mistake("test_train_one_epoch", "a tensor returned", EPOCH_TENSOR, "python float"),
    mistake(
        "test_train_one_epoch",
        "the loss summed over the batch",
        EPOCH_SUMMED_LOSS,
        "summed over the batch",
        hidden=True,
    ),
    alternative("test_train_one_epoch", ".item() every batch, zero_grad first", EPOCH_ITEM),
    alternative("test_train_one_epoch", "model.zero_grad(), zeros kept", EPOCH_MODEL_ZERO_GRAD),
    alternative("test_train_one_epoch", "a list of batches, enumerate", EPOCH_ENUMERATE),
    # 8. evaluate
    mistake("test_evaluate", "model.eval() missing", EVAL_NO_EVAL, "model.eval()"),
    mistake("test_evaluate", "torch.no_grad() missing", EVAL_NO_NO_GRAD, "torch.no_grad()"),
    mistake("test_evaluate", "a graph built, then detached", EVAL_DETACH, "graph"),
    mistake("test_evaluate", "the whole set at once", EVAL_WHOLE_SET, "batch sizes"),
    mistake(
        "test_evaluate", "the mean of the batch means", EVAL_BATCH_MEANS, "mean of the batch means"
    ),
    mistake("test_evaluate", "a percentage", EVAL_PERCENT, "percentage"),
    mistake("test_evaluate", "a count", EVAL_COUNT, "divide by n"),
    mistake("test_evaluate", "tensors returned", EVAL_TENSORS, "python floats"),
    alternative("test_evaluate", "torch.inference_mode()", EVAL_INFERENCE_MODE),
    alternative("test_evaluate", "@torch.no_grad(), Python sums", EVAL_DECORATOR),
    alternative("test_evaluate", "torch.set_grad_enabled(False)", EVAL_SET_GRAD),
    # 9. Dropout
    mistake(
        "test_Dropout", "p as the probability of keeping", DROP_KEEP_PROB, "probability of dropping"
    ),
    mistake("test_Dropout", "not scaled", DROP_NOT_SCALED, "not scaled", "1 − p"),
    mistake("test_Dropout", "multiplied by 1 - p", DROP_TIMES_KEEP, "multiplied by 1 − p"),
    mistake(
        "test_Dropout", "active in evaluation mode", DROP_ALWAYS, "evaluation mode still drops"
    ),
    mistake(
        "test_Dropout", "the original dropout (scaled at evaluation)", DROP_ORIGINAL, "inverted"
    ),
    mistake("test_Dropout", "one mask for every call", DROP_FIXED_MASK, "new random mask"),
    mistake("test_Dropout", "in place", DROP_IN_PLACE, "in place"),
    mistake("test_Dropout", "detached", DROP_DETACHED, "not differentiable"),
    mistake("test_Dropout", "F.dropout", DROP_TORCH, "ready-made implementation"),
    mistake("test_Dropout", "one mask per row", DROP_PER_ROW, "whole rows"),
    mistake("test_Dropout", "p unchecked", DROP_NO_CHECK, "valueerror"),
    alternative("test_Dropout", "torch.bernoulli", DROP_BERNOULLI),
    alternative("test_Dropout", "torch.where", DROP_WHERE),
    alternative("test_Dropout", "uniform_ on a new tensor, a float mask", DROP_UNIFORM),
]
