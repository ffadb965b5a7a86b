"""Evaluate a checkpoint: `python evaluate.py ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt`."""

from condgan.pipelines.evaluate import main

if __name__ == "__main__":
    main()
