"""Cache files written by several processes at once (the trials of a concurrent sweep) stay whole."""

import multiprocessing

import pytest
import torch

from condgan.data.cache import save_atomically


def write_many(path, value: int, times: int) -> None:
    for _ in range(times):
        save_atomically({"value": torch.full((1000,), value)}, path)


@pytest.mark.slow
def test_processes_writing_one_cache_file_at_once_all_succeed_and_leave_it_whole(tmp_path):
    path = tmp_path / "cache" / "data.pt"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=write_many, args=(path, value, 30)) for value in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0] * 4
    saved = torch.load(path, weights_only=True)["value"]
    assert saved.unique().numel() == 1 and int(saved[0]) in range(4), "one writer's whole copy"
    assert [p.name for p in path.parent.iterdir()] == ["data.pt"], "no temporary file left behind"
