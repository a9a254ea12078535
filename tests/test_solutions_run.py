"""Every solution notebook runs top to bottom, headless, in a real Jupyter kernel, without error,
and shows its pictures. Widgets draw static pictures here; their live behaviour is tested in
JupyterLab by tests/browser/. (How long each takes is measured by bench/bench_course.py, not
asserted here.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from coursekit.notebooks import (
    ASSIGNMENTS,
    cells_by_grade_id,
    execute,
    source_notebook,
    source_path,
)

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# What a notebook's own cells must print when they run (cell grade_id: words).
PRINTS = {
    "01_loss_surfaces": {"cell_explorer": ("GD DIVERGES", "GD is stable")},  # headless explorer
    "07_what_cnns_see": {"cell_train": ("test accuracy 9",), "cell_rf_measure": ("✓",)},
    "06_backprop_by_hand": {
        "cell_lenet_train": ("your gradients: 240 steps", "autograd: 240 steps")
    },
    "04_convolution_by_hand": {
        "cell_mnist_maps": ("feature maps (3, 26, 26) -> pooled (3, 13, 13)", "your conv2d_fast")
    },
    "05_lenet_mnist": {
        "cell_train": ("validation accuracy",),
        "cell_with_dropout": ("no dropout: after", "dropout 0.5: after"),
        "cell_test_once": ("used once",),
    },
}


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if source_path(a, ROOT).is_file()])
def test_solution_notebook_runs_top_to_bottom(assignment, tmp_path):
    nb = execute(source_notebook(assignment), timeout=600, cwd=tmp_path)
    errors = [
        (i, o.get("ename"), o.get("evalue"))
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, errors
    images = sum(
        1
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    )
    assert images >= 3, f"{assignment} shows only {images} pictures"
    cells = cells_by_grade_id(nb)
    for gid, words in PRINTS.get(assignment, {}).items():
        printed = "".join(o.get("text", "") for o in cells[gid].outputs)
        assert all(w in printed for w in words), (gid, printed[-500:])
