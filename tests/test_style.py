"""The code keeps the pinned style: ruff's formatter and lint rules (``[tool.ruff]`` in
pyproject.toml; ``make format`` rewrites the code to it)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [["format", "--check"], ["check"]], ids=["format", "lint"])
def test_the_code_keeps_the_pinned_style(command):
    result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"run `make format`:\n{result.stdout}{result.stderr}"
