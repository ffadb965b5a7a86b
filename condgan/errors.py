"""Errors that describe a user's mistake and say how to fix it.

Entry points print these as one line, without a traceback; anything else is a bug.
"""


class CondganError(Exception):
    """Base class of every error whose message is meant for the user."""


class DatasetNotFoundError(CondganError):
    """Dataset files are missing and cannot be downloaded."""


class CorruptDatasetError(CondganError):
    """A dataset file exists but cannot be decoded."""


class LabelRangeError(CondganError, ValueError):
    """A class label lies outside ``0 .. num_classes - 1``."""


class NonFiniteLossError(CondganError, FloatingPointError):
    """A training loss became NaN or infinite."""


class CheckpointError(CondganError):
    """A checkpoint cannot be read or was not written by condgan."""


class ConfigError(CondganError, ValueError):
    """A configuration value is inconsistent."""


class InceptionUnavailableError(CondganError):
    """InceptionV3 weights are neither configured, cached nor downloadable."""
