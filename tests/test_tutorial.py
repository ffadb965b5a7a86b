"""docs/tutorial.md stays true: its commands run, in order, on a tiny generated image folder."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_image_folder

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "docs" / "tutorial.md"


def tutorial_commands() -> list[list[str]]:
    """Every command of the page's ``bash`` blocks (continued lines joined), as argument lists."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", TUTORIAL.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                commands.append(shlex.split(line))
    return commands


def test_the_tutorial_runs_every_kind_of_step():
    scripts = [" ".join(command[:2]) for command in tutorial_commands()]
    assert scripts.count("python train.py") == 3 and scripts.count("python evaluate.py") == 4
    assert all(script in ("python train.py", "python evaluate.py") for script in scripts)


@pytest.mark.slow
def test_every_tutorial_command_runs_on_a_tiny_image_folder(tmp_path):
    write_image_folder(tmp_path / "my_images", {"circle": 12, "square": 12, "triangle": 12}, size=(40, 36))
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONWARNINGS": "ignore"}
    for command in tutorial_commands():
        script = REPO / command[1]
        result = subprocess.run(
            [sys.executable, str(script), *command[2:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"{shlex.join(command)}\n{result.stderr[-3000:]}"
    logs = tmp_path / "logs" / "tutorial"
    assert (logs / "first" / "checkpoints" / "best.ckpt").is_file()
    assert sorted(p.name for p in (logs / "compare").iterdir() if p.is_dir()) == ["0", "1"]
    assert (logs / "search" / "optuna.db").is_file()
    reports = sorted((tmp_path / "logs" / "eval" / "runs").glob("*/report.md"))
    assert len(reports) == 3 and "Optuna study" in reports[-1].read_text()
