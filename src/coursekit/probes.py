"""What notebook 05's checks train and evaluate: a small network that records how it is used.

A check of `train_one_epoch` or `evaluate` must not depend on the student's own `LeNet5` (a
mistake there would cost a second exercise), and it must see what a loop does that its numbers
hide: whether the model was in training or evaluation mode, whether autograd was on, which
batches came in which order, whether the old gradients were cleared, which learning rate each
step used. :class:`ProbeNet` records all of that while it is used; the check then reads the
record (plain data) and compares it with what the contract asks::

    >>> net = ProbeNet()                                  # conv → batch norm → ReLU → linear
    >>> opt = net.make_optimizer("sgd", lr=0.1)           # records the lr of every step
    >>> sched = net.make_one_cycle(opt, max_lr=0.1, total_steps=10)
    >>> loss = train_one_epoch(net, x, y, opt, batch_size=50, scheduler=sched)
    >>> net.calls[0]["training"], net.calls[0]["grad"], net.cleared, net.lrs

Batch norm makes the mode change the numbers (batch statistics while training, running ones in
evaluation), so a missing ``model.train()`` or ``model.eval()`` is visible in the results too.
The objects live where the student's code runs (in the grader: the sandbox); a check builds
them through the student's namespace, which imports this module. Nothing here is an answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

__all__ = ["ProbeNet", "probe_gradient"]


class ProbeNet(nn.Module):
    """A small CNN for 1×28×28 images (conv 5×5 stride 2 → batch norm → ReLU → linear) that
    records how it is used.

    calls: one dict per forward call — ``training`` (the module's mode), ``grad`` (autograd on),
        ``batch`` (the number of images), ``checksum`` (the sum of the input batch) and
        ``logits`` (the output, detached, on the CPU).
    cleared: one bool per backward pass — were the gradients of the last layer cleared (None
        or zero) before this backward added to them?
    lrs: the learning rate of every step of an optimizer made by :meth:`make_optimizer`.
    """

    def __init__(self, num_classes: int = 10, channels: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, channels, 5, stride=2)
        self.bn = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels * 12 * 12, num_classes)
        self.calls: list[dict[str, Any]] = []
        self.cleared: list[bool] = []
        self.lrs: list[float] = []
        self.fc.weight.register_hook(self._before_accumulating)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))
        self.calls.append(
            {
                "training": bool(self.training),
                "grad": bool(torch.is_grad_enabled()),
                "batch": int(x.shape[0]),
                "checksum": float(x.detach().double().sum()),
                "logits": out.detach().cpu().clone(),
            }
        )
        return out

    def _before_accumulating(self, grad: torch.Tensor) -> None:
        old = self.fc.weight.grad  # what this backward adds to
        self.cleared.append(old is None or not bool(old.abs().sum() > 0))

    def make_optimizer(self, kind: str = "sgd", lr: float = 0.01, **kwargs: Any):
        """torch.optim.SGD or Adam (`kind` "sgd" / "adam") over this network's parameters,
        which appends the learning rate of each step to :attr:`lrs`."""
        base = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[kind]
        probe = self

        class Recording(base):  # type: ignore[misc, valid-type]
            def step(self, closure: Callable | None = None):
                probe.lrs.append(float(self.param_groups[0]["lr"]))
                return super().step(closure)

        Recording.__name__ = f"Recording{base.__name__}"
        return Recording(self.parameters(), lr=lr, **kwargs)

    @staticmethod
    def make_one_cycle(optimizer: Any, max_lr: float, total_steps: int):
        """torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr, total_steps): its
        ``last_epoch`` counts the scheduler's steps."""
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=max_lr, total_steps=int(total_steps)
        )

    def reset(self) -> None:
        """Forget what was recorded."""
        self.calls.clear()
        self.cleared.clear()
        self.lrs.clear()


def probe_gradient(fn: Callable[..., Any], x: torch.Tensor, *args: Any) -> tuple[Any, Any]:
    """``(fn(x, *args), d sum(fn(x, *args)) / dx)`` taken by autograd where `fn` runs: the
    output (detached) and the gradient with respect to `x` (a float tensor), or None for the
    gradient when the output does not depend on `x` through autograd (not differentiable)."""
    x = torch.as_tensor(x).detach().clone().requires_grad_(True)
    out = fn(x, *args)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return out, None
    (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    return out.detach(), grad
