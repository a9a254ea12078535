"""Choosing where tensors live: one code path for cpu, cuda and mps.

>>> device = pick_device("auto")     # the best device this machine has
>>> device = pick_device("cuda")     # on a machine without a GPU: says so, returns cpu
"""

from __future__ import annotations

import warnings

import torch

__all__ = ["available_devices", "pick_device", "describe_device", "DEVICE_CHOICES"]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """The devices this machine can use, best first, always ending with "cpu"."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if _mps_available():
        found.append("mps")
    return [*found, "cpu"]


def pick_device(choice: str = "auto", *, quiet: bool = False) -> torch.device:
    """ "auto" → the best available device; a device that isn't there → cpu, with one sentence why."""
    choice = str(choice).lower().strip()
    if choice not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, not {choice!r}")
    have = available_devices()
    if choice == "auto":
        return torch.device(have[0])
    if choice in have:
        return torch.device(choice)
    if not quiet:
        warnings.warn(
            f"Device {choice!r} is not available on this machine (available: {', '.join(have)}); "
            "using the CPU instead.",
            stacklevel=2,
        )
    return torch.device("cpu")


def describe_device(device: torch.device | str) -> str:
    """A one-line description: "cuda (NVIDIA H100, 80 GB)" or "cpu (2 threads)"."""
    device = torch.device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"cuda ({props.name}, {props.total_memory / 2**30:.0f} GB)"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"
