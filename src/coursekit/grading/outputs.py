"""What the student's kernel says, made safe on the grader's side before anything stores it.

Everything the sandbox sends is the student's word: the kernel's own output filter runs inside
the student's process, which student code can reach. So the grader filters again here:

- :func:`safe_text` — any text from a student, safe to write as UTF-8 (CSV, HTML, JSON): lone
  surrogates and control characters replaced, length capped;
- :func:`csv_cell` — a text that a spreadsheet will not run as a formula;
- :class:`OutputBudget` — a cell's outputs reduced to what feedback may show (stream text,
  ``text/plain`` and validated ``image/png``, error name/value/traceback as text; never HTML,
  JavaScript, markdown, widgets or anything else), within a per-notebook total.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["safe_text", "csv_cell", "OutputBudget"]

_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_PNG = b"\x89PNG\r\n\x1a\n"


def safe_text(value: object, limit: int = 100_000) -> str:
    """`value` as a str that any UTF-8 writer accepts: control characters (but \\n, \\r, \\t)
    and lone UTF-16 surrogates become U+FFFD; longer than `limit` is cut with a note."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + f"… [{len(text) - limit} more characters cut]"
    return _BAD.sub("\ufffd", text)


def csv_cell(text: str) -> str:
    """A CSV field a spreadsheet shows as text: a leading = + - @ (a formula) is quoted."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _png(value: object) -> str | None:
    """`value` if it is base64 of a PNG image, else None."""
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return value if raw.startswith(_PNG) else None


class OutputBudget:
    """The outputs of one notebook, filtered and capped: `text_kb` of text in all, `image_kb` of
    PNG in all. What is over the budget is replaced by one note."""

    def __init__(self, text_kb: int, image_kb: int) -> None:
        self.text_left = text_kb * 1024
        self.image_left = image_kb * 1024
        self.text_kb, self.image_kb = text_kb, image_kb
        self.cut_text = self.cut_images = 0

    def _text(self, value: object) -> str:
        text = safe_text(value)
        if len(text) <= self.text_left:
            self.text_left -= len(text)
            return text
        kept = text[: max(self.text_left, 0)]
        self.cut_text += len(text) - len(kept)
        self.text_left = 0
        return kept

    def filter(self, outputs: object) -> list[dict]:
        """The outputs of one cell, as feedback may show them."""
        out: list[dict] = []
        for o in outputs if isinstance(outputs, list) else []:
            if not isinstance(o, dict):
                continue
            kind = o.get("output_type")
            if kind == "stream":
                name = "stderr" if o.get("name") == "stderr" else "stdout"
                text = self._text(o.get("text", ""))
                if text:
                    out.append({"output_type": "stream", "name": name, "text": text})
            elif kind in ("display_data", "execute_result"):
                data = o.get("data") if isinstance(o.get("data"), dict) else {}
                keep: dict[str, str] = {}
                png = _png(data.get("image/png"))
                if png is not None:
                    if len(png) <= self.image_left:
                        self.image_left -= len(png)
                        keep["image/png"] = png
                    else:
                        self.cut_images += 1
                if "text/plain" in data:
                    keep["text/plain"] = self._text(data["text/plain"])
                if keep:
                    item = {"output_type": kind, "data": keep, "metadata": {}}
                    if kind == "execute_result":
                        item["execution_count"] = None
                    out.append(item)
            elif kind == "error":
                tb = o.get("traceback") if isinstance(o.get("traceback"), list) else []
                out.append(
                    {
                        "output_type": "error",
                        "ename": self._text(o.get("ename", "Error"))[:200],
                        "evalue": self._text(o.get("evalue", ""))[:2000],
                        "traceback": [self._text(x)[:4000] for x in tb[-30:]],
                    }
                )
        return out

    def notes(self) -> list[dict]:
        """One output saying what the budget cut, if anything."""
        parts = []
        if self.cut_text:
            parts.append(
                f"{self.cut_text} characters of text (the notebook's outputs are capped at "
                f"{self.text_kb} KB)"
            )
        if self.cut_images:
            parts.append(f"{self.cut_images} pictures (capped at {self.image_kb} KB in all)")
        if not parts:
            return []
        return [
            {
                "output_type": "stream",
                "name": "stderr",
                "text": "[feedback: " + " and ".join(parts) + " were left out]\n",
            }
        ]
