"""Entry points: Hydra-configured training and evaluation, called by train.py and evaluate.py."""
