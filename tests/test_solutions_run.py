"""Every solution notebook runs top to bottom, headless, in a real Jupyter kernel, without error
(notebook 04's own test module runs it too, with its timing). Widgets draw static pictures here;
their live behaviour is tested in JupyterLab by tests/browser/."""

import time
from pathlib import Path

import pytest

from coursekit.notebooks import ASSIGNMENTS, execute, source_notebook, source_path

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow
COVERED_ELSEWHERE = {"04_convolution_by_hand"}
LIMIT_S = {"01_loss_surfaces": 60, "02_vanishing_gradients": 90, "03_optimizer_races": 90, "05_lenet_mnist": 90}


@pytest.mark.parametrize(
    "assignment", [a for a in ASSIGNMENTS if a not in COVERED_ELSEWHERE and source_path(a, ROOT).is_file()]
)
def test_solution_notebook_runs_top_to_bottom(assignment, tmp_path):
    t0 = time.perf_counter()
    nb = execute(source_notebook(assignment), timeout=600, cwd=tmp_path)
    seconds = time.perf_counter() - t0
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    assert images >= 3, f"{assignment} shows only {images} pictures"
    print(f"{assignment}: {seconds:.1f} s (target {LIMIT_S.get(assignment)} s on an idle 2-core CPU)")
