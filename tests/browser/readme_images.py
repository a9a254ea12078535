"""Copy the best widget screenshots of the last browser-suite run into docs/img/ for the README.

    .venv/bin/python -m pytest -m browser          # writes artifacts/browser/<notebook>/*.png
    .venv/bin/python tests/browser/readme_images.py

Each picture is reduced to a 256-colour palette PNG (and scaled down if still needed) so that
it stays under 150 KB.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
DEST = REPO / "docs" / "img"
LIMIT = 150_000

# docs/img/<name>.png ← artifacts/browser/<source>.png
PICKS = {
    "explorer": "01_loss_surfaces/explorer_diverges",
    "gradflow": "02_vanishing_gradients/gradflow_sigmoid_uniform",
    "race": "03_optimizer_races/race_leaderboard",
    "stepper": "04_convolution_by_hand/stepper_position4",
    "lenet_training": "05_lenet_mnist/training",
    "validate": "04_convolution_by_hand/nbgrader_validate",
    # test_hub.py: a student's Assignments tab on the hub, and the feedback she fetched
    "hub_assignments": "hub/assignments",
    "hub_feedback": "hub/feedback",
}


def small_png(src: Path) -> bytes:
    img = Image.open(src).convert("RGB")
    scale = 1.0
    while True:
        im = (
            img
            if scale == 1.0
            else img.resize((int(img.width * scale), int(img.height * scale)), Image.LANCZOS)
        )
        buf = io.BytesIO()
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            buf, format="PNG", optimize=True
        )
        if buf.tell() <= LIMIT or scale < 0.4:
            return buf.getvalue()
        scale *= 0.85


def main() -> int:
    DEST.mkdir(parents=True, exist_ok=True)
    missing = []
    for name, source in PICKS.items():
        src = ARTIFACTS / f"{source}.png"
        if not src.is_file():
            missing.append(str(src))
            continue
        data = small_png(src)
        (DEST / f"{name}.png").write_bytes(data)
        print(f"docs/img/{name}.png  {len(data) / 1000:.0f} KB  ← {src.relative_to(REPO)}")
    for m in missing:
        print(f"missing (run the browser suite first): {m}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
