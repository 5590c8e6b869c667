"""Suite files: YAML -> validated pydantic models, every error with the file, the line and the key.

Parsing has no side effects: it resolves the plugin files a suite names but loads none of them (the
runner and the CLI load ``suite.plugin_files``). :mod:`nnbench.plan` expands a suite into its trials.

Every error of a file is reported at once, one ``file:line: key: message`` line each, sorted by line
(at most :data:`nnbench.errors.MAX_ERRORS_SHOWN`). An unknown key says which key was probably meant.
"""

from __future__ import annotations

import math
import os
import re
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import Discriminator, Field, Tag

from nnbench.errors import ConfigError
from nnbench.names import did_you_mean
from nnbench.trackers import TrackerName
from nnbench.types import Config, Margin

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)\s*$")
UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """``"30s"``, ``"5m"``, ``"1.5h"`` -> seconds. A bare number is refused: the unit is required."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected a duration with a unit such as '30s', '5m' or '1h', got {value!r}")
    match = DURATION.match(value)
    if not match:
        raise ValueError(f"expected a duration with a unit such as '30s', '5m' or '1h', got {value!r}")
    seconds = float(match.group(1)) * UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


# -- the schema ---------------------------------------------------------------------------------
class BudgetModel(Config):
    """How long each trial trains: whichever of ``steps`` and ``time`` ends first."""

    steps: pydantic.PositiveInt | None = None
    time: Any = None  # a duration string such as "30s"

    @pydantic.field_validator("time")
    @classmethod
    def _time(cls, value):
        return None if value is None else parse_duration(value)

    @pydantic.model_validator(mode="after")
    def _one_of(self):
        if self.steps is None and self.time is None:
            raise ValueError("give steps, time or both (e.g. {steps: 300, time: 30s})")
        return self


class TrainingModel(Config):
    """The training settings the core's loop applies to every architecture; overridable per entry."""

    batch_size: pydantic.PositiveInt = 128
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0, allow_inf_nan=False)
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False)
    eval_every: pydantic.NonNegativeInt = 100
    warmup_steps: pydantic.PositiveInt = 3
    eval_on_clock: bool = False
    precision: Literal["fp32", "tf32", "bf16"] = "fp32"
    compile: bool = False
    channels_last: bool = False
    cudnn_benchmark: bool = False


class ExecutorModel(Config):
    """Where trials run: ``inline`` (this process), ``process`` (a process each, hard timeout) or ``ray``."""

    kind: Literal["inline", "process", "ray"] = "process"
    workers: pydantic.PositiveInt = 1
    address: str | None = None  # ray: "auto", "HOST:PORT", or none to start a local instance
    timeout: Any = Field("10m", validate_default=True)  # a duration; validated into seconds
    # process and ray: fork each trial's process from a warm worker (Linux); false: a fresh interpreter
    warm: bool = True

    @pydantic.field_validator("timeout")
    @classmethod
    def _timeout(cls, value):
        return parse_duration(value)


class CostModel(Config):
    """Prices per device-hour in USD by device kind (cpu, cuda, mps)."""

    price_per_hour_usd: dict[Literal["cpu", "cuda", "mps"], float] = Field(default_factory=dict)

    @pydantic.field_validator("price_per_hour_usd")
    @classmethod
    def _prices(cls, value):
        for device, price in value.items():
            if not math.isfinite(price) or price < 0:
                raise ValueError(f"price for {device} must be a finite number >= 0, got {price}")
        return value


class TuneModel(Config):
    """Equal tuning budgets: ``trials`` configurations per (architecture, task) pair, best on validation."""

    trials: pydantic.PositiveInt
    sampler: Literal["tpe", "random", "qmc"] = "tpe"
    metric: Literal["val"] = "val"  # select on the validation split (the only honest choice)
    budget: BudgetModel | None = None  # each tuning trial's budget (default: the suite's)
    seed: int | None = None  # the seed of the tuning trials (default: the suite's first seed)
    # Tuning trial 0 is the entry's own configuration (where the space can draw it), so a study
    # never ends below the defaults its authors chose.
    defaults_first: bool = True


MAX_ADAPTIVE_SEEDS = 100  # adaptive seeds stop here at the latest


class AdaptiveSeedsModel(Config):
    """Adaptive seeds ``{min: 2, max: 10}``: seeds 0 .. min-1 of every entry, then one more seed at a
    time for each task's leader and the entries undecided against it, until decided or ``max``
    (see docs/verdicts.md). The seeds are 0, 1, 2, ...: seed ``s`` is the same trial as in a list."""

    min: int = Field(description="seeds every entry gets (a t-interval needs two)")
    max: int = Field(description="seeds an undecided entry gets at most")

    @pydantic.field_validator("min")
    @classmethod
    def _two(cls, value: int) -> int:
        if value < 2:
            raise ValueError(f"min must be at least 2 (an interval needs two seeds), got {value}")
        return value

    @pydantic.field_validator("max")
    @classmethod
    def _bounded(cls, value: int) -> int:
        if value > MAX_ADAPTIVE_SEEDS:
            raise ValueError(f"max must be at most {MAX_ADAPTIVE_SEEDS}, got {value}")
        return value

    @pydantic.model_validator(mode="after")
    def _ordered(self):
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be at least min ({self.min})")
        return self

    @property
    def seeds(self) -> list[int]:
        """Every seed that may run: 0 .. max-1."""
        return list(range(self.max))


SEED_LIST, ADAPTIVE_SEEDS = "seed list", "adaptive seeds"  # the tags of the two forms of `seeds:`


def _seeds_form(value: Any) -> str | None:
    if isinstance(value, (dict, AdaptiveSeedsModel)):
        return ADAPTIVE_SEEDS
    return SEED_LIST if isinstance(value, list) else None


Seeds = Annotated[
    Annotated[list[int], Field(min_length=1), Tag(SEED_LIST)]
    | Annotated[AdaptiveSeedsModel, Tag(ADAPTIVE_SEEDS)],
    Discriminator(
        _seeds_form,
        custom_error_type="seeds",
        custom_error_message="expected a list of seeds such as [0, 1, 2] or adaptive seeds such as {min: 2, max: 10}",
    ),
]


class MarginModel(Config):
    """A task entry's ``margin:``, overriding its metric's equivalence margin: a number in the metric's
    units (``margin: 0.02``), or ``{value: 0.1, relative: true}`` for a share of the leader's mean."""

    value: float = Field(ge=0, allow_inf_nan=False)
    relative: bool = False

    @pydantic.model_validator(mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(
                f"expected a margin such as 0.02 or {{value: 0.1, relative: true}}, got {value!r}"
            )
        if isinstance(value, (int, float)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"a margin is a finite number >= 0, got {value!r}")
            return {"value": value}
        if not isinstance(value, dict):
            raise ValueError(
                f"expected a margin such as 0.02 or {{value: 0.1, relative: true}}, got {value!r}"
            )
        return value

    def margin(self) -> Margin:
        """As :class:`nnbench.types.Margin`."""
        return Margin(self.value, relative=self.relative)


class SuiteModel(Config):
    """The schema of a suite file."""

    name: str = Field(min_length=1)
    description: str = ""
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    # a list of seeds, or adaptive seeds {min, max}: seed_list() and adaptive_seeds() read it
    seeds: Seeds = Field(default_factory=lambda: [0])
    budget: BudgetModel
    training: TrainingModel = Field(default_factory=TrainingModel)
    threads: pydantic.PositiveInt | None = None
    plugins: list[str] = Field(default_factory=list)
    executor: ExecutorModel = Field(default_factory=ExecutorModel)
    tasks: list[str | dict[str, Any]] = Field(min_length=1)
    architectures: list[str | dict[str, Any]] = Field(min_length=1)
    cost: CostModel = Field(default_factory=CostModel)
    tune: TuneModel | None = None  # tune every architecture on every task (a task entry may override)
    # After training, each sequence trial times inference at these lengths (nnbench/context_probe.py).
    inference_lengths: list[pydantic.PositiveInt] = Field(default_factory=list)
    track: list[TrackerName] = Field(default_factory=list)  # experiment trackers: mlflow, tensorboard, wandb

    def seed_list(self) -> list[int]:
        """Every seed a trial may run with: the list, or 0 .. max-1 of adaptive seeds."""
        return self.seeds.seeds if isinstance(self.seeds, AdaptiveSeedsModel) else list(self.seeds)

    def adaptive_seeds(self) -> AdaptiveSeedsModel | None:
        """The suite's adaptive seeds ``{min, max}``, or None for a list of seeds."""
        return self.seeds if isinstance(self.seeds, AdaptiveSeedsModel) else None


# Keys an architecture or task entry may hold besides the options of its Config.
ARCHITECTURE_ENTRY_KEYS = ("name", "size", "training", "search_space")
TASK_ENTRY_KEYS = ("name", "tune", "margin")


@dataclass
class Suite:
    """A validated suite and where it came from."""

    model: SuiteModel
    path: Path | None
    text: str
    nodes: Any = None  # the YAML node tree, for line numbers
    plugin_files: list[str] = field(default_factory=list)  # absolute paths, not loaded

    @property
    def name(self) -> str:
        """The suite's name."""
        return self.model.name

    def where(self, *loc: Any) -> str:
        """``file:line: key.path`` for a location in the suite."""
        return where(self.path, self.nodes, loc)

    def errors_of(
        self,
        exc: pydantic.ValidationError,
        *prefix: Any,
        schema: type[pydantic.BaseModel] | None = None,
        also_known: Iterable[str] = (),
        note: str = "",
    ) -> list[str]:
        """Every error of ``exc`` as a ``file:line: key: message`` line; ``prefix`` is where in the suite the
        validated mapping sits, ``schema`` its model (for did-you-mean on unknown keys), ``also_known``
        keys the entry holds besides the model's, ``note`` a suffix such as ``(architecture mlp)``."""
        return validation_errors(
            exc, lambda loc: self.where(*prefix, *loc), schema=schema, also_known=also_known, note=note
        )


# -- line numbers -------------------------------------------------------------------------------
def _node_at(nodes: Any, loc: tuple[Any, ...]) -> Any:
    node = nodes
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(key)), None)
            if match is None:
                match = next((k for k, _ in node.value if k.value == str(key)), None)
                return match if match is not None else node
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return node
    return node


def _key_node(nodes: Any, loc: tuple[Any, ...]) -> Any:
    """The node of the key itself for the last part of ``loc`` (an unknown key is named where it is written)."""
    if not loc:
        return nodes
    parent = _node_at(nodes, loc[:-1])
    if isinstance(parent, yaml.MappingNode):
        match = next((k for k, _ in parent.value if k.value == str(loc[-1])), None)
        if match is not None:
            return match
    return _node_at(nodes, loc)


def line_of(nodes: Any, loc: tuple[Any, ...]) -> int:
    """The 1-based line of ``loc`` in the YAML node tree (0 when there is no tree); a key's own line."""
    node = _key_node(nodes, tuple(loc)) if nodes is not None else None
    return node.start_mark.line + 1 if node is not None else 0


def where(path: Path | None, nodes: Any, loc: tuple[Any, ...]) -> str:
    """``file:line: key.path`` for the location ``loc`` of a suite."""
    file = str(path) if path is not None else "<suite>"
    keys = ".".join(str(k) for k in loc if not str(k).startswith("function-")) or "(top level)"
    line = line_of(nodes, loc)
    return f"{file}:{line}: {keys}" if line else f"{file}: {keys}"


# -- validation errors --------------------------------------------------------------------------
UNION_TAGS = ("str", "dict[str,any]")  # what pydantic adds to a location inside a `str | dict` union
FORM_TAGS = (SEED_LIST, ADAPTIVE_SEEDS)  # the tags of a field with two forms (`seeds:`), left out of keys


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X`` (the model among a union's members, if there is one)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
        models = [a for a in members if isinstance(a, type) and issubclass(a, pydantic.BaseModel)]
        if len(models) == 1:
            return models[0]
        if len(members) == 1:
            return members[0]
    return annotation


def known_keys(schema: type[pydantic.BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the mapping at ``loc`` (inside a ``schema`` document) may hold; empty when not a model."""
    current: Any = schema
    for key in loc:
        if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
            field_info = current.model_fields.get(str(key))
            if field_info is None:
                return []
            current = _unwrap(field_info.annotation)
        elif isinstance(key, int) and typing.get_origin(current) is list:
            current = _unwrap(typing.get_args(current)[0])
        else:
            return []
    if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
        return list(current.model_fields)
    return []


def unknown_key_message(key: str, known: Iterable[str]) -> str:
    """``unknown key; did you mean 'x'?``, or the keys it may be when none is close."""
    known = sorted(set(known))
    hint = did_you_mean(key, known)
    if hint:
        return "unknown key" + hint
    return "unknown key" + (f" (expected one of: {', '.join(known)})" if known else "")


def validation_errors(
    exc: pydantic.ValidationError,
    locate: Callable[[tuple[Any, ...]], str],
    *,
    schema: type[pydantic.BaseModel] | None = None,
    also_known: Iterable[str] = (),
    note: str = "",
) -> list[str]:
    """One ``place: message`` line per error of ``exc``; ``locate`` turns a key path into ``file:line: key``."""
    lines: dict[tuple[Any, ...], str] = {}
    for error in exc.errors():
        raw = tuple(k for k in error["loc"] if k not in FORM_TAGS)
        loc = tuple(k for k in raw if k not in UNION_TAGS and not str(k).startswith("function-"))
        if len(loc) != len(raw) and any(k in UNION_TAGS for k in raw):
            # A `str | dict` entry that is neither: one message, not one per union member.
            message = (
                f"expected a name or a mapping such as {{name: ..., option: value}}, got {error['input']!r}"
            )
        elif error["type"] == "extra_forbidden":
            known = known_keys(schema, loc[:-1]) if schema is not None else []
            if len(loc) <= 1:
                known = [*known, *also_known]
            message = unknown_key_message(str(loc[-1]), known)
        elif error["type"] == "missing":
            message = "required key is missing"
        else:
            message = error["msg"].removeprefix("Value error, ")
        if loc not in lines:
            lines[loc] = f"{locate(loc)}: {message}{' ' + note if note else ''}"
    return list(lines.values())


# -- loading ------------------------------------------------------------------------------------
def load_suite(path: str | os.PathLike, extra_plugins: Iterable[str | os.PathLike] = ()) -> Suite:
    """Read and validate a suite file (no plugin is loaded). Every error names its file, line and key."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such suite file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the suite file ({exc})") from None
    return parse_suite(text, path, extra_plugins)


def parse_suite(
    text: str, path: Path | None = None, extra_plugins: Iterable[str | os.PathLike] = ()
) -> Suite:
    """Validate suite text (``path`` is used in messages and to resolve plugin files); load nothing."""
    file = str(path) if path is not None else "<suite>"
    try:
        data = yaml.safe_load(text)
        nodes = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{file}{line}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: a suite is a mapping of keys (name, budget, tasks, architectures, ...)")
    try:
        model = SuiteModel.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = validation_errors(exc, lambda loc: where(path, nodes, loc), schema=SuiteModel)
        raise ConfigError(*sorted(errors, key=_line_number)) from None
    suite = Suite(model=model, path=path, text=text, nodes=nodes)
    base = path.parent if path is not None else Path(".")
    errors = []
    for index, plugin in enumerate(model.plugins):
        plugin_path = (base / plugin).resolve()
        if not plugin_path.is_file():
            errors.append(f"{suite.where('plugins', index)}: plugin file {plugin_path} does not exist")
        suite.plugin_files.append(str(plugin_path))
    for plugin in extra_plugins:
        plugin_path = Path(plugin).resolve()
        if not plugin_path.is_file():
            errors.append(f"--plugin {plugin}: no such file")
        suite.plugin_files.append(str(plugin_path))
    if errors:
        raise ConfigError(*errors)
    return suite


def _line_number(error: str) -> int:
    """The line number in a ``file:line: ...`` error (0 when it has none), for sorting."""
    match = re.match(r"^.*?:(\d+): ", error)
    return int(match.group(1)) if match else 0
