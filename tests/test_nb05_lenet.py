"""Notebook 05 (LeNet-5 on MNIST) and coursekit.training.

- the training plumbing on its own (fast, no notebook);
- the notebook's shape: metadata, points, no outputs, the release in step;
- a small class graded end to end by coursekit's grader, once per module: the solution (run top
  to bottom in grading mode, the capped budget) gets full marks, a blank copy 0, a partly correct
  one exactly its points, and each wrong variant fails its exercise with its diagnosis.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from gradekit import graded_class, register_students

from coursekit import training
from coursekit.notebooks import (
    nbgrader_meta,
    release_notebook,
    source_notebook,
    submission_from,
)

A = "05_lenet_mnist"
POINTS = {
    "test_channel_stats": 1,
    "test_lenet_shapes": 2,
    "test_LeNet5": 3,
    "test_count_params": 1,
    "test_cross_entropy": 3,
    "test_train_one_epoch": 3,
    "test_evaluate": 2,
}

# --- wrong answers a student could write ------------------------------------------------------

WRONG = {
    "answer_channel_stats": (
        "def channel_stats(images):\n"
        "    x = torch.as_tensor(np.asarray(images)).float()\n"
        "    return x.mean().item(), x.std(correction=0).item()\n",
        "not scaled to [0, 1]",
    ),
    "answer_lenet_shapes": (
        "def lenet_shapes(height=28, width=28):\n"
        "    return {'input': (1, height, width), 'conv1': (6, height, width), 'pool1': (6, height // 2, width // 2),\n"
        "            'conv2': (16, height // 2, width // 2), 'pool2': (16, height // 4, width // 4),\n"
        "            'flatten': (16 * (height // 4) * (width // 4),), 'fc1': (120,), 'fc2': (84,), 'fc3': (10,)}\n",
        "conv2 has no padding",
    ),
    "answer_LeNet5": (  # the classic variant with ReLU: the modern one (used for training) is right
        "class LeNet5(nn.Module):\n"
        "    def __init__(self, variant='modern', num_classes=10):\n"
        "        super().__init__()\n"
        "        self.variant = variant\n"
        "        self.conv1 = nn.Conv2d(1, 6, 5, padding=2); self.conv2 = nn.Conv2d(6, 16, 5)\n"
        "        self.fc1 = nn.Linear(400, 120); self.fc2 = nn.Linear(120, 84); self.fc3 = nn.Linear(84, num_classes)\n"
        "    def forward(self, x):\n"
        "        pool = F.max_pool2d if self.variant == 'modern' else F.avg_pool2d\n"
        "        x = pool(F.relu(self.conv1(x)), 2)\n"
        "        x = pool(F.relu(self.conv2(x)), 2).flatten(1)\n"
        "        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))\n",
        "the activation of the other variant",
    ),
    "answer_count_params": (
        "def count_params(model):\n"
        "    return sum(p.numel() for n, p in model.named_parameters() if n.endswith('weight'))\n",
        "wrong answer",
    ),
    "answer_cross_entropy": (
        "def cross_entropy(logits, targets):\n"
        "    p = logits.exp() / logits.exp().sum(dim=1, keepdim=True)\n"
        "    return -p[torch.arange(len(targets)), targets].log().mean()\n",
        "NaN or infinity",
    ),
    "answer_train_one_epoch": (
        "def train_one_epoch(model, images, labels, optimizer=None, *, batch_size=64, seed=0,\n"
        "                    scheduler=None, on_batch=None, lr=3e-3):\n"
        "    if optimizer is None:\n"
        "        optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
        "    model.train(); losses = []\n"
        "    for idx in permutation_batches(len(images), batch_size, seed=seed):\n"
        "        loss = F.cross_entropy(model(images[idx]), labels[idx])\n"
        "        optimizer.zero_grad(); loss.backward(); optimizer.step()\n"
        "        losses.append(loss.item())\n"
        "        if on_batch: on_batch(len(idx))\n"
        "    return sum(losses) / len(losses)\n",
        "weight each batch by its size",
    ),
    "answer_evaluate": (
        "def evaluate(model, images, labels, batch_size=1000):\n"
        "    model.eval()\n"
        "    with torch.no_grad():\n"
        "        logits = model(images)\n"
        "    return F.cross_entropy(logits, labels).item(), 100.0 * (logits.argmax(1) == labels).float().mean().item()\n",
        "a percentage",
    ),
}
# A second set: other classic mistakes.
WRONG2 = {
    "answer_channel_stats": (
        "def channel_stats(images):\n"
        "    x = torch.as_tensor(np.asarray(images)).float() / 255\n"
        "    return x.mean().item(), x.std().item()\n",
        None,
    ),  # n − 1 on 47 M pixels is within tolerance on MNIST; the tiny example catches it
    "answer_LeNet5": (
        "class LeNet5(nn.Module):\n"
        "    def __init__(self, variant='modern', num_classes=10):\n"
        "        super().__init__()\n"
        "        self.variant = variant\n"
        "        self.conv1 = nn.Conv2d(1, 6, 5, padding=2); self.conv2 = nn.Conv2d(6, 16, 5)\n"
        "        self.fc1 = nn.Linear(400, 120); self.fc2 = nn.Linear(120, 84); self.fc3 = nn.Linear(84, num_classes)\n"
        "    def forward(self, x):\n"
        "        act = F.relu if self.variant == 'modern' else torch.tanh\n"
        "        x = F.max_pool2d(act(self.conv1(x)), 2)\n"
        "        x = F.max_pool2d(act(self.conv2(x)), 2).flatten(1)\n"
        "        return self.fc3(act(self.fc2(act(self.fc1(x)))))\n",
        None,
    ),
    "answer_cross_entropy": (
        "def cross_entropy(logits, targets):\n"
        "    z = logits - logits.max(dim=1, keepdim=True).values\n"
        "    return (z.exp().sum(1).log() - z[torch.arange(len(targets)), targets]).sum()\n",
        "take the mean",
    ),
    "answer_train_one_epoch": (
        "def train_one_epoch(model, images, labels, optimizer=None, *, batch_size=64, seed=0,\n"
        "                    scheduler=None, on_batch=None, lr=3e-3):\n"
        "    if optimizer is None:\n"
        "        optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
        "    model.train(); total = 0.0\n"
        "    for idx in permutation_batches(len(images), batch_size, seed=seed):\n"
        "        loss = F.cross_entropy(model(images[idx]), labels[idx])\n"
        "        loss.backward(); optimizer.step()\n"
        "        total += loss.item() * len(idx)\n"
        "        if on_batch: on_batch(len(idx))\n"
        "    return total / len(images)\n",
        "zero_grad",
    ),
}
WRONG2_MESSAGES = {
    "test_channel_stats": "unbiased std",
    "test_cross_entropy": "take the mean",
    "test_LeNet5": "the pooling of the other variant",
    "test_train_one_epoch": "zero_grad",
}


def _answer(nb, gid: str) -> str:
    for c in nb.cells:
        if nbgrader_meta(c).get("grade_id") == gid:
            return c.source
    raise KeyError(gid)


# --- the plumbing -----------------------------------------------------------------------------


def test_to_tensors_shapes_normalisation_and_device():
    imgs = np.array([[[0, 255], [255, 0]]] * 3, dtype=np.uint8)
    imgs.setflags(write=False)  # as load_mnist returns them
    x, y = training.to_tensors(imgs, np.array([1, 2, 3]), "cpu", mean=0.5, std=0.5)
    assert x.shape == (3, 1, 2, 2) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.allclose(x[0, 0], torch.tensor([[-1.0, 1.0], [1.0, -1.0]]))
    assert imgs[0, 0, 1] == 255  # the input is untouched
    x2, _ = training.to_tensors(imgs, [0, 0, 0])
    assert float(x2.max()) == 1.0 and float(x2.min()) == 0.0


def test_permutation_batches_cover_everything_once_and_repeat_with_a_seed():
    batches = list(training.permutation_batches(10, 4, seed=3))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    again = torch.cat(list(training.permutation_batches(10, 4, seed=3)))
    assert torch.equal(torch.cat(batches), again)
    assert torch.equal(again, torch.randperm(10, generator=torch.Generator().manual_seed(3)))
    other = torch.cat(list(training.permutation_batches(10, 4, seed=4)))
    assert not torch.equal(again, other)
    with pytest.raises(ValueError):
        list(training.permutation_batches(10, 0))


def test_confusion_matrix_counts_true_rows_predicted_columns():
    cm = training.confusion_matrix(
        torch.tensor([0, 1, 1, 2]), np.array([0, 1, 2, 2]), num_classes=3
    )
    assert cm.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, padding=1)
        self.fc3 = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc3(F.relu(self.conv1(x)).flatten(1))


def _epoch(model, x, y, optimizer, *, batch_size, seed, scheduler=None, on_batch=None):
    total = 0.0
    for idx in training.permutation_batches(len(x), batch_size, seed=seed):
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item() * len(idx)
        if on_batch:
            on_batch(len(idx))
    return total / len(x)


def _evaluate(model, x, y):
    with torch.no_grad():
        logits = model(x)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def test_fit_runs_the_given_functions_and_records_a_history():
    torch.manual_seed(0)
    x = torch.randn(64, 1, 4, 4)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    model = _Tiny()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    h = training.fit(
        model,
        _epoch,
        _evaluate,
        (x, y),
        (x, y),
        epochs=3,
        optimizer=opt,
        batch_size=16,
        progress=False,
        plot=False,
    )
    assert h.epoch == [1, 2, 3] and len(h.test_acc) == 3 and h.device == "cpu"
    assert h.train_seconds == sorted(h.train_seconds) and all(v > 0 for v in h.images_per_s)
    assert h.train_loss[-1] < h.train_loss[0]
    assert "3 epochs on cpu" in h.summary()


def test_feature_maps_and_pictures_headless():
    import matplotlib

    matplotlib.use("Agg")
    model = _Tiny()
    maps = training.feature_maps(model, torch.zeros(1, 4, 4))
    assert (
        list(maps) == ["conv1", "fc3"]
        and maps["conv1"].shape == (2, 4, 4)
        and maps["fc3"].shape == (3,)
    )
    imgs = np.zeros((5, 28, 28), dtype=np.uint8)
    assert training.show_digits(imgs, [1, 2, 3, 4, 5], predictions=[1, 2, 0, 4, 5], n=5) is not None
    assert (
        training.show_misclassified(imgs, np.array([1, 2, 3, 4, 5]), np.array([1, 2, 0, 4, 5]))
        is not None
    )
    assert training.plot_confusion(np.eye(10, dtype=int) * 5) is not None
    assert training.show_filters(torch.randn(6, 1, 5, 5)) is not None
    assert training.show_feature_maps({"input": torch.zeros(1, 4, 4), **maps}) is not None
    live = training.LivePlot(3)
    h = training.History(
        epoch=[1],
        train_loss=[0.5],
        test_loss=[0.4],
        test_acc=[0.9],
        train_seconds=[1.0],
        images_per_s=[100.0],
    )
    live.update(h)
    assert live.view is None  # headless: a plain Agg figure


def test_device_menu_lists_what_exists_and_falls_back_to_cpu():
    menu = training.device_menu("auto")
    assert "coursekit-device" in menu._dom_classes
    assert [v for _, v in menu.options] == ["auto", "cpu", "cuda", "mps"]
    labels = dict((v, lab) for lab, v in menu.options)
    if not torch.cuda.is_available():
        assert "not on this machine" in labels["cuda"]
    assert training.chosen_device(menu).type == training.available_devices()[0]
    if not torch.cuda.is_available():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert training.chosen_device("cuda").type == "cpu"
        assert any("not available" in str(x.message) for x in w)
    data = training.dataset_menu()
    assert "coursekit-dataset" in data._dom_classes and data.value == "mnist"


# --- the notebook's shape ---------------------------------------------------------------------


def test_release_keeps_the_reference_code_out():
    rel = release_notebook(A)
    text = "\n".join(c.source for c in rel.cells)
    assert (
        "_ref_forward" not in text
        and "permutation_batches(len(images), batch_size, seed=seed, device" not in text
    )
    assert text.count("raise NotImplementedError()") >= 7
    src_ids = [nbgrader_meta(c).get("grade_id") for c in source_notebook(A).cells]
    assert [nbgrader_meta(c).get("grade_id") for c in rel.cells] == src_ids


# --- a small class, graded end to end ---------------------------------------------------------


def class_notebooks() -> dict:
    """This notebook's students in its graded class (beside the standard solution and blank)."""
    src, rel = source_notebook(A), release_notebook(A)
    partial_ids = (
        "answer_channel_stats",
        "answer_lenet_shapes",
        "answer_LeNet5",
        "answer_count_params",
    )
    return {
        "partial": submission_from(rel, {gid: _answer(src, gid) for gid in partial_ids}),
        "wrong": submission_from(src, {k: v for k, (v, _) in WRONG.items()}),
        "wrong2": submission_from(src, {k: v for k, (v, _) in WRONG2.items()}),
    }


register_students(A, class_notebooks)


@pytest.fixture
def graded(tmp_path_factory):
    return graded_class(A, tmp_path_factory)


@pytest.mark.slow
def test_graded_solution_ran_in_grading_mode_on_the_capped_budget(graded):
    s = graded.get("solution")
    text = json.dumps([c.outputs for c in s.cells])
    assert "quick mode: small budget" in text and "1 epoch on cpu" in text, text[-2000:]
    assert "the speed comparison is skipped" in text and "the optimizer race is skipped" in text
    print(f"solution graded in {s.seconds:.1f} s")  # the budget: ≤ 60 s on 2 free cores


@pytest.mark.slow
def test_graded_partial_gets_exactly_its_score(graded):
    s = _get(graded, "partial")
    want = sum(
        POINTS[g]
        for g in ("test_channel_stats", "test_lenet_shapes", "test_LeNet5", "test_count_params")
    )
    assert s.score == want, [(e.grade_id, e.score, e.message) for e in s.exercises]


@pytest.mark.slow
def test_graded_wrong_variants_fail_with_helpful_messages(graded):
    s = _get(graded, "wrong")
    for answer, (_, message) in WRONG.items():
        e = s.exercise(answer.replace("answer_", "test_"))
        assert e.score == 0 and e.status == "failed", (e.grade_id, e.status, e.message)
        assert message in e.message, (e.grade_id, e.message)
    s2 = _get(graded, "wrong2")
    for gid, message in WRONG2_MESSAGES.items():
        e = s2.exercise(gid)
        assert e.score == 0 and message in e.message, (gid, e.message)
    right = {"test_lenet_shapes", "test_count_params", "test_evaluate"}
    assert s2.score == sum(POINTS[g] for g in right)


def _get(result, student):
    return result.get(student, A)


def test_lenet_classic_parameter_count_is_61706():
    # the reference count the notebook's check and the issue quote
    layers = [
        nn.Conv2d(1, 6, 5, padding=2),
        nn.Conv2d(6, 16, 5),
        nn.Linear(400, 120),
        nn.Linear(120, 84),
        nn.Linear(84, 10),
    ]
    assert sum(p.numel() for m in layers for p in m.parameters()) == 61706
    assert math.isclose(-math.log2(0.66), 0.5995, abs_tol=1e-4)


def test_live_plot_draws_before_the_first_epoch(monkeypatch):
    """Live in JupyterLab the canvas draws at once, before any loss exists (log axis)."""
    from coursekit import interactive, training

    monkeypatch.setattr(interactive, "is_headless", lambda: False)
    plot = training.LivePlot(3)
    plot.fig.canvas.draw()
    h = training.History()
    h.epoch, h.train_loss, h.test_loss, h.test_acc = [1], [0.3], [0.1], [0.97]
    plot.update(h)
    plot.fig.canvas.draw()
    assert plot.ax_loss.get_ylim()[0] > 0
