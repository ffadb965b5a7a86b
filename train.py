"""Train a model: `python train.py model=cgan data=fashion_mnist trainer.max_epochs=5`."""

from condgan.pipelines.train import main

if __name__ == "__main__":
    main()
