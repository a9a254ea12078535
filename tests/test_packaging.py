"""pyproject.toml and environment.yml declare the same dependencies."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONDA_NAMES = {"pytorch": "torch"}


def _norm(spec: str) -> tuple[str, str]:
    spec = spec.replace(" ", "")
    m = re.match(r"^([A-Za-z0-9_.\-]+)(.*)$", spec)
    name = m.group(1).lower().replace("_", "-")
    return CONDA_NAMES.get(name, name), m.group(2)


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    want = {_norm(s) for s in py["dependencies"] + py["optional-dependencies"]["test"]}
    text = (ROOT / "environment.yml").read_text()
    lines = text[text.index("dependencies:") :].splitlines()
    # conda packages, and the `- pip:` list of those only on PyPI
    deps = [line.strip()[2:] for line in lines if line.startswith(("  - ", "      - "))]
    got = {_norm(d) for d in deps if not d.startswith(("python", "pip"))}
    assert got == want, (
        f"only in environment.yml: {got - want}; only in pyproject.toml: {want - got}"
    )


def test_makefile_pins_the_cpu_torch_wheel():
    assert "torch==2.13.0" in (ROOT / "Makefile").read_text()
