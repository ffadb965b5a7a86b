"""Batch order and the two ways of serving batches (DataLoader on the host, tensors on the device)."""

import torch

from condgan.data import GlyphsDataModule
from condgan.data.batching import DeviceBatches, EpochBatchSampler
from condgan.pipelines.train import train


def test_epoch_batch_sampler_is_a_seeded_permutation_per_epoch():
    sampler = EpochBatchSampler(10, 3, shuffle=True, drop_last=True, seed=4)

    def batches(sampler):
        drawn = list(sampler)
        assert all(b.dtype == torch.int64 for b in drawn), "index tensors: a split indexes faster with them"
        return [b.tolist() for b in drawn]

    sampler.set_epoch(0)
    first = batches(sampler)
    assert len(first) == len(sampler) == 3 and all(len(b) == 3 for b in first)
    assert len({i for b in first for i in b}) == 9
    sampler.set_epoch(0)
    assert batches(sampler) == first, "the same epoch gives the same order"
    second = batches(sampler)  # advanced to epoch 1 on its own
    assert second != first
    other_seed = EpochBatchSampler(10, 3, shuffle=True, drop_last=True, seed=5)
    assert batches(other_seed) != first
    assert batches(EpochBatchSampler(7, 3, shuffle=False, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]


def test_device_resident_batches_equal_the_dataloader_batches(tmp_path):
    dm = GlyphsDataModule(
        str(tmp_path),
        num_classes=26,
        channels=1,
        image_size=28,
        samples_per_class=8,
        test_samples_per_class=2,
        batch_size=16,
        on_device=False,
    )
    dm.setup("fit")
    loader = dm.train_dataloader()
    device = DeviceBatches(
        dm.train_set.images,
        dm.train_set.labels,
        EpochBatchSampler(len(dm.train_set), 16, True, True, dm.hparams.seed),
        torch.device("cpu"),
    )
    for epoch in (0, 1):
        loader.sampler.set_epoch(epoch)
        device.sampler.set_epoch(epoch)
        host = list(loader)
        resident = list(device)
        assert len(host) == len(resident) == len(loader) == len(device) > 1
        for (hi, hl), (di, dl) in zip(host, resident):
            assert torch.equal(hi, di) and torch.equal(hl, dl)
    shards = [
        DeviceBatches(
            dm.train_set.images,
            dm.train_set.labels,
            EpochBatchSampler(len(dm.train_set), 16, True, True, 0),
            torch.device("cpu"),
            rank,
            2,
        )
        for rank in (0, 1)
    ]
    seen = [torch.cat([labels for _, labels in shard]) for shard in shards]
    assert len(seen[0]) == len(seen[1]) == 16 * (len(dm.train_set) // 16 // 2)


def test_training_with_device_resident_data_runs(train_config):
    trainer = train(train_config("debug=fdr", "data.on_device=true"))
    assert trainer.state.finished
    assert type(trainer.train_dataloader).__name__ == "DeviceBatches"


def test_a_batch_already_on_the_device_passes_through_and_others_are_moved(tmp_path):
    dm = GlyphsDataModule(str(tmp_path), num_classes=26, channels=1, image_size=28, samples_per_class=2)
    batch = (torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.arange(4))
    assert dm.transfer_batch_to_device(batch, torch.device("cpu"), 0) is batch
    moved = dm.transfer_batch_to_device(batch, torch.device("meta"), 0)
    assert [part.device.type for part in moved] == ["meta", "meta"]


def test_evaluation_batches_are_padded_so_every_rank_gets_the_same_number():
    images, labels = torch.zeros(5, 1, 2, 2, dtype=torch.uint8), torch.arange(5)
    shards = [
        DeviceBatches(images, labels, EpochBatchSampler(5, 2, False, False), torch.device("cpu"), rank, 2)
        for rank in (0, 1)
    ]
    assert [len(s) for s in shards] == [2, 2]
    assert [[b.tolist() for _, b in s] for s in shards] == [[[0, 1], [4]], [[2, 3], [0, 1]]]


def test_a_mid_epoch_resume_skips_that_epochs_batches_already_trained_once():
    plain = EpochBatchSampler(20, 4, shuffle=True, drop_last=True, seed=3)
    resumed = EpochBatchSampler(20, 4, shuffle=True, drop_last=True, seed=3, resume_at=(1, 2))
    expected = [plain.index_batches() for _ in range(3)]
    got = [resumed.index_batches() for _ in range(3)]
    assert [b.tolist() for b in got[0]] == [b.tolist() for b in expected[0]]
    assert [b.tolist() for b in got[1]] == [b.tolist() for b in expected[1][2:]]
    assert [b.tolist() for b in got[2]] == [b.tolist() for b in expected[2]]
