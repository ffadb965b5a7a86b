"""Every experiment config (one per report) composes and runs a fast dev run, on stand-in files
written in the exact format its dataset's loader reads."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from condgan.pipelines.train import train
from tests.conftest import QUIET, SMALL_METRICS, compose_config
from tests.helpers import write_idx, write_image_folder, write_k49, write_mnist_style
from tests.test_configs import CONF, options, sequence_options
from tests.test_image_folders import write_celeba


def emnist_letters(root: Path) -> None:
    written = write_mnist_style(root, 104, 52, num_classes=26, gzipped=True, prefix="emnist-letters-", label_offset=1)
    for split in ("train", "test"):
        write_idx(root / f"emnist-letters-{split}-images-idx3-ubyte", written[split][0].transpose(0, 2, 1).copy(), True)


# dataset config -> writer of stand-in files into data.root
STAND_INS = {
    "mnist": lambda root: write_mnist_style(root, 80, 20, num_classes=10, gzipped=True),
    "fashion_mnist": lambda root: write_mnist_style(root, 80, 20, num_classes=10, gzipped=True),
    "emnist": emnist_letters,
    "kuzushiji49": lambda root: write_k49(root, 147, 49),
    "animal_faces": lambda root: write_image_folder(root, {"cat": 8, "dog": 8, "wild": 8}, size=(40, 40)),
    "cryptopunks": lambda root: write_image_folder(root, {"": 24}, size=(24, 24)),
    "celeba": lambda root: write_celeba(root, n=24),
}


def data_of(experiment: str) -> str:
    """The dataset an experiment overrides (found in the experiment it builds on, if it does)."""
    first = OmegaConf.load(CONF / "experiment" / f"{experiment}.yaml").defaults[0]
    return data_of(first) if isinstance(first, str) else first["override /data"]


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiment_runs_a_fast_dev_run_on_stand_in_files(experiment, tmp_path, data_dir):
    data = data_of(experiment)
    overrides = [f"experiment={experiment}", "data.batch_size=8", "debug=fdr", *QUIET]
    if data in sequence_options("data"):  # arithmetic queries over rendered digits; no image metrics
        overrides += ["data.digits.samples_per_class=24", "data.digits.test_samples_per_class=4"]
    else:
        overrides += SMALL_METRICS
    if data in STAND_INS:
        root = tmp_path / "stand_in"
        STAND_INS[data](root)
        overrides.append(f"data.root={root}")
    elif data not in sequence_options("data"):  # rendered, not read from files (glyphs)
        overrides += ["data.samples_per_class=24", "data.test_samples_per_class=4"]
    if "download" in OmegaConf.load(CONF / "data" / f"{data}.yaml"):
        overrides.append("data.download=false")
    trainer = train(compose_config("train", overrides, tmp_path / "run", data_dir))
    assert trainer.state.finished
    module = trainer.lightning_module
    if experiment.startswith("k49"):
        assert module.attributes == {"style": 2} and module.label_sizes == [49, 2]
    if experiment.startswith("mnist_cdcgan"):
        assert trainer.datamodule.train_set.images.shape[-1] == 64
