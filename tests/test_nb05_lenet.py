"""Notebook 05 (LeNet-5 on MNIST), coursekit.training and coursekit.probes.

- the training plumbing on its own (fast, no notebook), and ProbeNet, the network the checks of
  exercises 5-9 run the student's code on (what it records);
- the notebook's shape: the release keeps the reference code out;
- a small class graded end to end by coursekit's grader, once per module: the solution (run top
  to bottom in grading mode, the capped budget) gets full marks, a partly correct copy exactly its
  points, and students built from the validity table's cases (tests/validity/nb05_lenet_mnist.py,
  where every mistake and alternative of this notebook lives) get the table's verdicts.
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
import validity.nb05_lenet_mnist as validity
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
    "test_train_val_split": 1,
    "test_lenet_shapes": 2,
    "test_LeNet5": 3,
    "test_count_params": 1,
    "test_cross_entropy": 3,
    "test_train_one_epoch": 3,
    "test_evaluate": 2,
    "test_Dropout": 2,
}


def case(test: str, what: str):
    """The validity table's case `what` of exercise `test`."""
    for c in validity.CASES:
        if c.test == f"test_{test}" and c.what == what:
            return c
    raise KeyError((test, what))


# graded students made of table cases (one per exercise): the real grader must give each case the
# table's verdict — ProbeNet's records, probe_gradient and call_keeping_arguments through the proxy
GRADED = {
    "wrong_a": [
        case("channel_stats", "0-d tensors"),
        case("train_val_split", "two permutations"),
        case("LeNet5", "nn.Sequential (other names)"),
        case("count_params", "state_dict: the buffers too"),
        case("cross_entropy", "NumPy, wrapped in torch.tensor"),
        case("train_one_epoch", "model.train() missing"),
        case("evaluate", "torch.no_grad() missing"),
        case("Dropout", "in place"),
    ],
    "wrong_b": [
        case("train_val_split", "torch's global generator"),
        case("lenet_shapes", "flatten as a number"),
        case("LeNet5", "the bias of fc3, whatever the image"),
        case("cross_entropy", "the log-sum-exp detached"),
        case("train_one_epoch", "the scheduler once per epoch"),
        case("evaluate", "model.eval() missing"),
        case("Dropout", "detached"),
    ],
    "wrong_c": [
        case("train_one_epoch", "gradients never cleared"),
        case("evaluate", "the whole set at once"),
        case("Dropout", "one mask for every call"),
        case("cross_entropy", "one-hot targets, Pan's formula"),
        case("count_params", "parameters_to_vector"),
    ],
}
GRADED_CASES = [(student, c) for student, cases in GRADED.items() for c in cases]


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


def _toy_fit(n: int, epochs: int, **kw):
    """training.fit on n random 4×4 images of a toy task (the sign of their mean), headless."""
    torch.manual_seed(0)
    x = torch.randn(n, 1, 4, 4)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    model = _Tiny()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    h = training.fit(
        model, _epoch, _evaluate, (x, y), (x, y), epochs=epochs, optimizer=opt, batch_size=16,
        progress=False, plot=False, **kw,
    )  # fmt: skip
    return h, model, opt, x, y


def test_fit_runs_the_given_functions_and_records_a_history():
    h, *_ = _toy_fit(64, 3)
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


def test_fit_names_the_set_it_evaluates_and_learning_curves_measure_both_sets():
    h, model, opt, x, y = _toy_fit(48, 1, eval_name="validation")
    assert h.eval_name == "validation" and "validation accuracy" in h.summary()
    assert (
        "test"
        in training.History(
            epoch=[1], test_acc=[0.5], train_seconds=[1.0], images_per_s=[1.0]
        ).summary()
    )  # the default is unchanged
    curves = training.learning_curves(
        model,
        _epoch,
        _evaluate,
        (x[:32], y[:32]),
        (x[32:], y[32:]),
        epochs=3,
        optimizer=opt,
        batch_size=16,
    )
    assert sorted(curves) == ["train_acc", "train_loss", "val_acc", "val_loss"]
    assert all(len(v) == 3 for v in curves.values()) and curves["train_loss"][-1] < 0.7
    import matplotlib

    matplotlib.use("Agg")
    assert training.plot_learning_curves({"a": curves, "b": curves}, title="t") is not None


def test_probenet_records_what_a_training_loop_did():
    from coursekit.probes import ProbeNet

    torch.manual_seed(0)
    net = ProbeNet()
    x, y = torch.randn(30, 1, 28, 28), torch.randint(0, 10, (30,))
    opt = net.make_optimizer("sgd", lr=0.1, momentum=0.9)
    sched = net.make_one_cycle(opt, max_lr=0.1, total_steps=3)
    for i, idx in enumerate(torch.arange(30).split(10)):
        loss = F.cross_entropy(net(x[idx]), y[idx])
        if i != 1:  # the second batch forgets to clear the gradients of the first
            opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    assert [(c["training"], c["grad"], c["batch"]) for c in net.calls] == [(True, True, 10)] * 3
    assert math.isclose(net.calls[0]["checksum"], float(x[:10].double().sum()), rel_tol=1e-9)
    assert net.cleared == [True, False, True]
    assert len(net.lrs) == 3 and net.lrs[0] > net.lrs[1] > net.lrs[2]  # three steps: annealing only
    assert int(sched.last_epoch) == 3
    net.eval()
    with torch.no_grad():
        logits = net(x)
    assert (net.calls[-1]["training"], net.calls[-1]["grad"]) == (False, False)
    assert torch.equal(net.calls[-1]["logits"], logits)
    net.reset()
    assert net.calls == [] and net.cleared == [] and net.lrs == []


def test_probe_gradient_takes_autograd_where_the_function_runs():
    from coursekit.probes import probe_gradient

    out, grad = probe_gradient(lambda t, k: (k * t**2).sum(), torch.tensor([1.0, 2.0]), 3.0)
    assert float(out) == 15.0 and grad.tolist() == [6.0, 12.0]
    out, grad = probe_gradient(lambda t: torch.tensor(t.detach().numpy() * 2), torch.ones(2))
    assert grad is None  # no graph back to the input: not differentiable
    assert probe_gradient(lambda t: 1.0, torch.ones(2)) == (1.0, None)


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
    students = {"partial": submission_from(rel, {gid: _answer(src, gid) for gid in partial_ids})}
    for student, cases in GRADED.items():
        answers: dict = {}
        for c in cases:
            assert not set(c.answers) & set(answers), f"{student}: {c.id} overlaps another case"
            answers.update(c.answers)
        students[student] = submission_from(src, answers)
    return students


register_students(A, class_notebooks)


@pytest.fixture
def graded(tmp_path_factory):
    return graded_class(A, tmp_path_factory)


@pytest.mark.slow
def test_graded_solution_ran_in_grading_mode_on_the_capped_budget(graded):
    s = graded.get("solution")
    text = json.dumps([c.outputs for c in s.cells])
    assert "quick mode: small budget" in text, text[-2000:]
    assert "1 epoch on cpu" not in text  # the training demo (cell_train) is show-only
    # the demos tagged show-only (the speed comparison, the optimizer race, the pictures of the
    # trained net) are not run at all when grading
    ran = {c.source for c in s.cells}
    for cell in source_notebook(A).cells:
        if "show-only" in cell.metadata.get("tags", []):
            assert cell.source not in ran, nbgrader_meta(cell).get("grade_id")
    assert "the speed comparison is skipped" not in text
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
@pytest.mark.parametrize(
    ("student", "c"), GRADED_CASES, ids=[f"{s}-{c.id}" for s, c in GRADED_CASES]
)
def test_graded_cases_get_their_verdict_from_the_grader(graded, student, c):
    e = _get(graded, student).exercise(c.test)
    if c.passes:
        assert e.status == "passed" and e.score == e.max_score, (e.status, e.message)
        return
    assert e.score == 0 and e.status == "failed", (e.status, e.message)
    missing = [w for w in c.words if w.lower() not in e.message.lower()]
    assert not missing, e.message
    assert e.message.startswith("a hidden test failed") == c.hidden, e.message


@pytest.mark.slow
def test_graded_penalties_stay_with_their_exercise(graded):
    """wrong_a's LeNet5 is an nn.Sequential: it loses LeNet5 and nothing else (count_params,
    train_one_epoch and evaluate are graded on ProbeNet); wrong_c's right answers keep theirs."""
    wrong_a = {e.grade_id: e.score for e in _get(graded, "wrong_a").exercises}
    assert wrong_a["test_lenet_shapes"] == POINTS["test_lenet_shapes"]
    wrong_c = _get(graded, "wrong_c")
    right = {
        "test_channel_stats",
        "test_train_val_split",
        "test_lenet_shapes",
        "test_LeNet5",
        "test_count_params",
        "test_cross_entropy",
    }
    assert wrong_c.score == sum(POINTS[g] for g in right), [
        (e.grade_id, e.message) for e in wrong_c.exercises
    ]


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


@pytest.mark.slow
def test_the_graders_thread_count_does_not_change_a_verdict():
    """The reference side of a check runs in the grader, the student's side in the kernel (one
    thread): a grader on two torch threads used to sum in another order, and the hidden Adam
    test of train_one_epoch then failed the correct solution (grade_job called in-process)."""
    from coursekit.grading.assignment import Assignment
    from coursekit.grading.collect import Job
    from coursekit.grading.config import load_settings
    from coursekit.grading.grade import grade_job, same_threads
    from coursekit.notebooks import course_root

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with same_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        raw = json.dumps(submission_from(source_notebook(A))).encode()
        res = grade_job(
            Job("threads", A, raw, "threads"),
            Assignment.load(A, course_root()),
            load_settings().limits_for(A),
        )
    finally:
        torch.set_num_threads(before)
    assert res.score == res.max_score, [(e.grade_id, e.status, e.message) for e in res.exercises]
