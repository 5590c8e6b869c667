"""Search spaces: the hyper-parameters an architecture lets a tuned suite vary, and their ranges.

An architecture declares ``search_space`` next to its ``Config``: a dict from a ``Config`` field name,
or ``training.<setting>`` for a setting of the core's training loop (``training.lr``, ``training.weight_decay``,
``training.batch_size``), to one of the parameter types below::

    search_space = {
        "training.lr": nnbench.LogUniform(1e-4, 1e-2),
        "width": nnbench.Choice([64, 128, 256]),
        "depth": nnbench.IntRange(1, 4),
        "dropout": nnbench.Uniform(0.0, 0.3),
    }

A suite narrows or overrides it per architecture entry with ``search_space:``, in YAML: ``{log_uniform:
[lo, hi]}``, ``{uniform: [lo, hi]}``, ``{int: [lo, hi]}``, ``{int_log: [lo, hi]}``, ``{choice: [...]}``,
or a plain value that pins the parameter (it is then not tuned).

Samplers come from Optuna (imported only when a suite tunes): this module only describes ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nnbench.names import did_you_mean

TRAINING_PREFIX = "training."
# Training settings a search space may vary (the others describe the machine, not the model).
TUNABLE_TRAINING = ("lr", "weight_decay", "batch_size", "optimizer")


@dataclass(frozen=True)
class LogUniform:
    """A float drawn uniformly in log space from ``[low, high]`` (learning rates, weight decay)."""

    low: float
    high: float

    def __post_init__(self):
        if not (0 < self.low < self.high) or not math.isfinite(self.high):
            raise ValueError(f"log_uniform needs 0 < low < high, got [{self.low}, {self.high}]")

    def distribution(self):
        """The Optuna distribution."""
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=True)


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from ``[low, high]`` (dropout)."""

    low: float
    high: float

    def __post_init__(self):
        if not (self.low < self.high) or not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"uniform needs finite low < high, got [{self.low}, {self.high}]")

    def distribution(self):
        """The Optuna distribution."""
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high)


@dataclass(frozen=True)
class IntRange:
    """An integer from ``[low, high]`` inclusive, uniform or (``log=True``) log-uniform (depths, widths)."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self):
        if not (isinstance(self.low, int) and isinstance(self.high, int)) or self.low >= self.high:
            raise ValueError(f"int needs integers low < high, got [{self.low}, {self.high}]")
        if self.log and self.low < 1:
            raise ValueError(f"int_log needs low >= 1, got [{self.low}, {self.high}]")

    def distribution(self):
        """The Optuna distribution."""
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log)


@dataclass(frozen=True)
class Choice:
    """One of a few values (widths, cell types)."""

    choices: tuple[Any, ...]

    def __init__(self, choices):
        choices = tuple(choices)
        if len(choices) < 2:
            raise ValueError(f"choice needs at least two values, got {list(choices)}")
        object.__setattr__(self, "choices", choices)

    def distribution(self):
        """The Optuna distribution."""
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(list(self.choices))


Param = LogUniform | Uniform | IntRange | Choice
YAML_FORMS = {
    "log_uniform": lambda v: LogUniform(*_pair(v, float)),
    "uniform": lambda v: Uniform(*_pair(v, float)),
    "int": lambda v: IntRange(*_pair(v, int)),
    "int_log": lambda v: IntRange(*_pair(v, int), log=True),
    "choice": lambda v: Choice(v if isinstance(v, list) else [v]),
}


def _number(item: Any) -> float | None:
    # YAML reads 1e-3 (no dot) as a string: accept numbers written that way too.
    if isinstance(item, bool):
        return None
    if isinstance(item, (int, float)):
        return float(item)
    try:
        return float(item) if isinstance(item, str) else None
    except ValueError:
        return None


def _pair(value: Any, kind: type) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"expected [low, high], got {value!r}")
    numbers = [_number(item) for item in value]
    if any(n is None for n in numbers):
        raise ValueError(f"expected [low, high] numbers, got {value!r}")
    if kind is int and not all(n.is_integer() for n in numbers):
        raise ValueError(f"expected [low, high] integers, got {value!r}")
    return kind(numbers[0]), kind(numbers[1])


def parse_param(value: Any) -> Param | Any:
    """A YAML search-space value -> a parameter type; a plain value (pinned) is returned unchanged."""
    if isinstance(value, dict):
        if len(value) != 1 or next(iter(value)) not in YAML_FORMS:
            raise ValueError(
                f"expected one of {', '.join('{' + k + ': ...}' for k in YAML_FORMS)} or a plain value, "
                f"got {value!r}"
            )
        form, bounds = next(iter(value.items()))
        return YAML_FORMS[form](bounds)
    return value


def is_param(value: Any) -> bool:
    """Whether ``value`` is a range to sample (rather than a pinned value)."""
    return isinstance(value, (LogUniform, Uniform, IntRange, Choice))


def contains(param: Any, value: Any) -> bool:
    """Whether ``value`` is one ``param`` can draw (an architecture's default, say)."""
    if isinstance(param, Choice):
        return value in param.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(param, IntRange):
        return isinstance(value, int) and param.low <= value <= param.high
    return param.low <= value <= param.high


def describe(param: Any) -> str:
    """A short human form of a parameter, for reports: ``log_uniform[0.0001, 0.01]``."""
    if isinstance(param, LogUniform):
        return f"log_uniform[{param.low:g}, {param.high:g}]"
    if isinstance(param, Uniform):
        return f"uniform[{param.low:g}, {param.high:g}]"
    if isinstance(param, IntRange):
        return f"{'int_log' if param.log else 'int'}[{param.low}, {param.high}]"
    if isinstance(param, Choice):
        return "choice[" + ", ".join(str(c) for c in param.choices) + "]"
    return f"= {param!r}"


def split_key(key: str) -> tuple[str, str]:
    """``"training.lr"`` -> ``("training", "lr")``; ``"width"`` -> ``("config", "width")``."""
    if key.startswith(TRAINING_PREFIX):
        return "training", key[len(TRAINING_PREFIX) :]
    return "config", key


def check_keys(space: dict[str, Any], config_fields: set[str]) -> None:
    """Raise ValueError naming the first key that is neither a Config field nor a tunable training setting."""
    tunable = {TRAINING_PREFIX + name for name in TUNABLE_TRAINING}
    for key in space:
        where, name = split_key(key)
        if where == "training" and key not in tunable:
            raise ValueError(
                f"search_space key {key!r}: tunable training settings are {', '.join(sorted(tunable))}"
            )
        if where == "config" and name not in config_fields:
            hint = did_you_mean(name, sorted(config_fields) + sorted(tunable))
            raise ValueError(f"search_space key {key!r} is not an option of this architecture{hint}")
