"""Checkpoints from others are data, not code: loading refuses anything but tensors and plain
values unless the user opts in with ``trust_checkpoint=true``."""

import pytest
import torch

from condgan.errors import CheckpointError
from condgan.models.base import CHECKPOINT_KEY
from condgan.models.checkpoint import read_checkpoint
from tests.test_cli import error_lines, run_here


class CreatesAFileWhenUnpickled:
    """What a malicious checkpoint can hold: unpickling it calls ``open(marker, "w")``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture
def crafted(tmp_path):
    marker = tmp_path / "the_code_ran"
    path = tmp_path / "downloaded.ckpt"
    torch.save(
        {CHECKPOINT_KEY: {"model_class": "condgan.models.CGAN"}, "payload": CreatesAFileWhenUnpickled(str(marker))},
        path,
    )
    return path, marker


def test_a_checkpoint_whose_pickle_runs_code_is_refused_and_the_code_does_not_run(crafted):
    path, marker = crafted
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    assert "trust_checkpoint=true" in str(err.value) and "(io.open)" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()
    read_checkpoint(path, trust=True)
    assert marker.exists(), "the opt-in loads it with full pickle, code and all"


@pytest.mark.parametrize("script,argument", [("evaluate.py", "ckpt_path"), ("train.py", "ckpt_path")])
def test_the_command_lines_refuse_it_in_one_line_with_exit_code_2(crafted, tmp_path, script, argument):
    path, marker = crafted
    result = (
        run_here(script, f"{argument}={path}", "callbacks.progress_bar=null", cwd=tmp_path)
        if script == "train.py"
        else run_here(script, f"{argument}={path}", cwd=tmp_path)
    )
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = error_lines(result)
    assert "trust_checkpoint=true" in line
    assert not marker.exists()
