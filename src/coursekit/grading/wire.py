"""The wire between the grader and the sandboxed student kernel: plain data only.

A message is a JSON header plus raw array buffers — never pickle. Values that cross:
None, bool, int, float (incl. nan/inf), str, list, tuple, dict, numpy arrays and scalars of
numeric/bool dtypes, and CPU torch tensors. Anything else stays on its side and crosses as a
reference: a *handle* to an object in the sandbox, or a *callback* to a function in the grader.

Frame: 8-byte big-endian header length, header (UTF-8 JSON with "nbuf"), then for each buffer
8-byte length + bytes. The grader reads with size limits and treats every message from the
sandbox as untrusted input: anything malformed is a ProtocolError.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "ProtocolError",
    "Channel",
    "encode",
    "decode",
    "encoded_size",
    "MAX_MESSAGE",
    "MAX_HEADER",
]

MAX_MESSAGE = 64 * 2**20  # bytes in one message, header and buffers together (limits.answer_mb)
MAX_HEADER = 8 * 2**20  # bytes of JSON in one message: parsed JSON takes many times its size
MAX_BUFFERS = 100_000
MAX_DEPTH = 32
_DTYPES = {
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
}


class ProtocolError(RuntimeError):
    """A malformed or oversized message, or a closed channel."""


class Timeout(ProtocolError):
    """No message arrived before the deadline."""


# --- values ------------------------------------------------------------------------------------


def encode(
    value: Any,
    buffers: list[bytes],
    other: Callable[[Any], dict] | None = None,
    _depth: int = 0,
) -> Any:
    """`value` as JSON-able data; arrays appended to `buffers`. `other(obj)` encodes anything
    that is not plain data (as a handle or callback); without it, such a value is a TypeError."""
    if _depth > MAX_DEPTH:
        raise TypeError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) in (int,):
        return value if -(2**63) <= value < 2**63 else {"__int__": str(value)}
    if type(value) is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.generic) and value.dtype.name in _DTYPES:
        return {"__scalar__": _array(np.asarray(value), buffers)}
    if isinstance(value, np.ndarray) and value.dtype.name in _DTYPES:
        return {"__nd__": _array(np.asarray(value).view(np.ndarray), buffers)}
    if _is_tensor(value):
        t = value.detach().to("cpu")
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        arr = t.contiguous().numpy()
        if arr.dtype.name in _DTYPES:
            out = {"__tensor__": _array(arr, buffers), "grad": bool(value.requires_grad)}
            g = getattr(value, "grad", None)
            if _is_tensor(g) and g.shape == value.shape:  # .grad left on it: part of its state
                garr = (
                    g.detach().to("cpu").float().contiguous().numpy()
                    if str(g.dtype) == "torch.bfloat16"
                    else g.detach().to("cpu").contiguous().numpy()
                )
                if garr.dtype.name in _DTYPES:
                    out["gradval"] = _array(garr, buffers)
            return out
    if type(value) in (list, tuple):
        items = [encode(v, buffers, other, _depth + 1) for v in value]
        return items if type(value) is list else {"__tuple__": items}
    if isinstance(value, dict) and type(value).__module__ in ("builtins", "collections"):
        return {
            "__dict__": [
                [encode(k, buffers, other, _depth + 1), encode(v, buffers, other, _depth + 1)]
                for k, v in value.items()
            ]
        }
    if other is None:
        raise TypeError(f"{type(value).__name__} is not plain data")
    return other(value)


def _is_tensor(value: Any) -> bool:
    mod = type(value).__module__
    return (
        (mod == "torch" or mod.startswith("torch."))
        and hasattr(value, "detach")
        and hasattr(value, "numpy")
    )


def _array(arr: np.ndarray, buffers: list[bytes]) -> dict:
    shape = list(np.shape(arr))  # before ascontiguousarray, which turns a 0-d array into (1,)
    arr = np.ascontiguousarray(arr)
    buffers.append(arr.tobytes())
    return {"buf": len(buffers) - 1, "dtype": arr.dtype.name, "shape": shape}


def decode(
    data: Any,
    buffers: list[bytes],
    other: Callable[[dict], Any] | None = None,
    _depth: int = 0,
) -> Any:
    """The inverse of encode. `other(tag_dict)` decodes handles/callbacks."""
    if _depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v, buffers, other, _depth + 1) for v in data]
    if not isinstance(data, dict):
        raise ProtocolError(f"unexpected {type(data).__name__} in message")
    if "__tuple__" in data:
        return tuple(decode(v, buffers, other, _depth + 1) for v in _list(data["__tuple__"]))
    if "__dict__" in data:
        out = {}
        for pair in _list(data["__dict__"]):
            if not isinstance(pair, list) or len(pair) != 2:
                raise ProtocolError("bad dict entry")
            key = decode(pair[0], buffers, other, _depth + 1)
            try:
                out[key] = decode(pair[1], buffers, other, _depth + 1)
            except TypeError as exc:  # unhashable key
                raise ProtocolError(str(exc)) from None
        return out
    if "__nd__" in data:
        return _unarray(data["__nd__"], buffers)
    if "__scalar__" in data:
        return _unarray(data["__scalar__"], buffers)[()]
    if "__tensor__" in data:
        import torch

        t = torch.from_numpy(_unarray(data["__tensor__"], buffers))
        if data.get("grad") and t.is_floating_point():
            t.requires_grad_(True)
        if isinstance(data.get("gradval"), dict) and t.is_floating_point():
            g = torch.from_numpy(_unarray(data["gradval"], buffers))
            if g.shape == t.shape and g.dtype == t.dtype:
                t.grad = g
        return t
    if "__int__" in data:
        try:
            return int(str(data["__int__"]))
        except ValueError:
            raise ProtocolError("bad int") from None
    if "__float__" in data:
        text = str(data["__float__"])
        if text not in ("nan", "inf", "-inf"):
            raise ProtocolError("bad float")
        return float(text)
    if other is not None:
        return other(data)
    raise ProtocolError(f"unexpected object in message: {sorted(data)[:3]}")


def _list(x: Any) -> list:
    if not isinstance(x, list):
        raise ProtocolError("expected a list")
    return x


def _unarray(meta: Any, buffers: list[bytes]) -> np.ndarray:
    if not isinstance(meta, dict):
        raise ProtocolError("bad array")
    dtype, shape, idx = meta.get("dtype"), meta.get("shape"), meta.get("buf")
    if dtype not in _DTYPES or not isinstance(shape, list) or not isinstance(idx, int):
        raise ProtocolError("bad array header")
    if not all(isinstance(n, int) and n >= 0 for n in shape) or not 0 <= idx < len(buffers):
        raise ProtocolError("bad array shape")
    buf = buffers[idx]
    dt = np.dtype(dtype)
    if math.prod(shape) * dt.itemsize != len(buf):
        raise ProtocolError("array size does not match its shape")
    return np.frombuffer(buf, dtype=dt).reshape(shape).copy()


def encoded_size(header: dict, buffers: list[bytes]) -> tuple[int, int]:
    """(JSON bytes, total bytes) of a message, as Channel.send would frame it."""
    raw = len(json.dumps(header, allow_nan=False, separators=(",", ":")))
    return raw, raw + sum(len(b) for b in buffers) + 8 * (1 + len(buffers))


# --- frames ------------------------------------------------------------------------------------


class Channel:
    """Messages over a pair of file descriptors (pipes)."""

    def __init__(
        self, rfd: int, wfd: int, max_message: int = MAX_MESSAGE, max_header: int = MAX_HEADER
    ) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.max_message = max_message
        self.max_header = min(max_header, max_message)
        self._buf = bytearray()

    def send(self, header: dict, buffers: list[bytes] = ()) -> None:
        head = dict(header, nbuf=len(buffers))
        raw = json.dumps(head, allow_nan=False, separators=(",", ":")).encode()
        parts = [struct.pack(">Q", len(raw)), raw]
        for b in buffers:
            parts += [struct.pack(">Q", len(b)), b]
        data = b"".join(parts)
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.wfd, view)
            except (BrokenPipeError, OSError) as exc:
                raise ProtocolError(f"channel closed ({exc.__class__.__name__})") from None
            view = view[n:]

    def _fill(self, n: int, deadline: float | None) -> None:
        while len(self._buf) < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout("timed out")
                ready, _, _ = select.select([self.rfd], [], [], min(left, 1.0))
                if not ready:
                    continue
            try:
                chunk = os.read(self.rfd, max(65536, min(n - len(self._buf), 2**24)))
            except OSError as exc:
                raise ProtocolError(f"channel closed ({exc})") from None
            if not chunk:
                raise ProtocolError("channel closed")
            self._buf += chunk

    def _take(self, n: int, deadline: float | None) -> bytes:
        self._fill(n, deadline)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def recv(self, deadline: float | None = None) -> tuple[dict, list[bytes]]:
        total = 0
        (hlen,) = struct.unpack(">Q", self._take(8, deadline))
        if hlen > self.max_header:  # checked before anything is read or parsed
            raise ProtocolError(f"message too large (a header of {hlen} bytes)")
        try:
            header = json.loads(self._take(hlen, deadline))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ProtocolError("message is not JSON") from None
        if not isinstance(header, dict) or not isinstance(header.get("nbuf", 0), int):
            raise ProtocolError("bad message header")
        if not 0 <= header.get("nbuf", 0) <= MAX_BUFFERS:
            raise ProtocolError("too many buffers")
        total += hlen
        buffers = []
        for _ in range(header.get("nbuf", 0)):
            (blen,) = struct.unpack(">Q", self._take(8, deadline))
            total += blen
            if total > self.max_message:
                raise ProtocolError(f"message too large (over {self.max_message >> 20} MB)")
            buffers.append(self._take(blen, deadline))
        return header, buffers
