"""Hydra sweep overrides as Optuna distributions, and sampled values back as override text.

``key=choice(a,b)`` / ``key=a,b`` is categorical; ``key=range(lo,hi,step)`` is an int (or float) range
with ``hi`` excluded, as Hydra's ``range``; ``key=interval(lo,hi)`` is a float interval, an int one
inside ``int(...)``; ``tag(log, ...)`` samples a range or an interval on a log scale.
"""

import re

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from condgan.errors import ConfigError

PLAIN = re.compile(r"[A-Za-z0-9_./+\-]+")


def override_text(value) -> str:
    """``value`` as it would be typed after ``key=`` (lists and dicts inline, odd strings quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(override_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{override_text(item)}" for key, item in value.items()) + "}"
    text = str(value)
    return text if PLAIN.fullmatch(text) else "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _choice(value):
    """A categorical choice as Optuna stores it: primitives as they are, containers as override text."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else override_text(value)


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override."""
    sweep, log = override.value(), "log" in override.value().tags
    if isinstance(sweep, ChoiceSweep):
        if log:
            raise ConfigError(f"{override.input_line}: tag(log, ...) applies to range() and interval(), not choices")
        return CategoricalDistribution([_choice(value) for value in sweep.list])
    if isinstance(sweep, RangeSweep):
        values = list(sweep.range())
        if not values:
            raise ConfigError(f"{override.input_line}: the range is empty")
        if all(isinstance(v, int) for v in (sweep.start, sweep.stop, sweep.step)):
            return IntDistribution(values[0], values[-1], step=1 if log else sweep.step, log=log)
        return FloatDistribution(min(values), max(values), step=None if log else abs(float(sweep.step)), log=log)
    if isinstance(sweep, IntervalSweep):
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return IntDistribution(sweep.start, sweep.end, log=log)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    raise ConfigError(f"{override.input_line}: not a sweep (use choice(), range() or interval())")


def search_space(arguments: list[str], params: dict[str, str] | None) -> tuple[dict[str, BaseDistribution], list[str]]:
    """(distribution per key, the fixed overrides) from the command line's overrides and the config's
    ``params`` (``key: "interval(1e-4, 1e-3)"``); a key swept on the command line replaces its
    ``params`` entry, and a key fixed there takes it out of the search."""
    parser = OverridesParser.create()
    space = {key: distribution(parser.parse_override(f"{key}={spec}")) for key, spec in (params or {}).items()}
    fixed = []
    for override in parser.parse_overrides(arguments):
        key = override.get_key_element()
        space.pop(key.lstrip("+~"), None)
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed.append(override.input_line)
    return space, fixed
