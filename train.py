"""Train a model: `python train.py model=cgan data=fashion_mnist trainer.max_epochs=5`."""

from condgan.pipelines.train import run

if __name__ == "__main__":
    run()
