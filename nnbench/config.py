"""Suite files: YAML -> validated pydantic models -> the list of trials they expand to.

Every error is one line that names the file, the line and the key, and says what was expected.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import Field

from nnbench import plugins, registry, space
from nnbench.errors import ConfigError, NnbenchError
from nnbench.trackers import TrackerName
from nnbench.types import Budget, Config, TaskSpec, TrainingSettings, TrialSpec

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)\s*$")
UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}

PositiveFloat = pydantic.PositiveFloat
FiniteNonNegative = Field(ge=0, allow_inf_nan=False)


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


Duration = pydantic.BeforeValidator(parse_duration)


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
    """Generic-trainer settings: suite defaults, overridable per architecture entry."""

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
    """Where trials run: ``inline`` (this process), ``process`` (a subprocess each, hard timeout) or ``ray``."""

    kind: Literal["inline", "process", "ray"] = "process"
    workers: pydantic.PositiveInt = 1
    address: str | None = None  # ray: "auto", "HOST:PORT", or none to start a local instance
    timeout: Any = Field("10m", validate_default=True)  # a duration; validated into seconds

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


class SuiteModel(Config):
    """The schema of a suite file."""

    name: str = Field(min_length=1)
    description: str = ""
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    budget: BudgetModel
    training: TrainingModel = Field(default_factory=TrainingModel)
    threads: pydantic.PositiveInt | None = None
    plugins: list[str] = Field(default_factory=list)
    executor: ExecutorModel = Field(default_factory=ExecutorModel)
    tasks: list[str | dict[str, Any]] = Field(min_length=1)
    architectures: list[str | dict[str, Any]] = Field(min_length=1)
    cost: CostModel = Field(default_factory=CostModel)
    tune: TuneModel | None = None  # tune every architecture on every task (a task entry may override)
    track: list[TrackerName] = Field(default_factory=list)  # experiment trackers: mlflow, tensorboard, wandb


@dataclass
class PlannedTrial:
    """A trial of the expanded matrix: runnable, or not applicable (with the reason)."""

    spec: TrialSpec
    arch_label: str
    not_applicable: str | None = None


@dataclass
class Suite:
    """A validated suite and where it came from."""

    model: SuiteModel
    path: Path | None
    text: str
    nodes: Any = None  # the YAML node tree, for line numbers
    plugin_files: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The suite's name."""
        return self.model.name

    def where(self, *loc: Any) -> str:
        """``file:line: key.path`` for a location in the suite."""
        return _where(self.path, self.nodes, loc)


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


def _where(path: Path | None, nodes: Any, loc: tuple[Any, ...]) -> str:
    file = str(path) if path is not None else "<suite>"
    keys = ".".join(str(k) for k in loc if not str(k).startswith("function-")) or "(top level)"
    node = _node_at(nodes, tuple(loc)) if nodes is not None else None
    line = f":{node.start_mark.line + 1}" if node is not None else ""
    return f"{file}{line}: {keys}"


def _first_error(exc: pydantic.ValidationError) -> tuple[tuple[Any, ...], str]:
    # Union members (str | dict) add their type names to the location: drop them.
    error = exc.errors()[0]
    loc = tuple(
        k for k in error["loc"] if k not in ("str", "dict[str,any]") and not str(k).startswith("function-")
    )
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    more = len(exc.errors()) - 1
    return loc, message + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")


# -- loading ------------------------------------------------------------------------------------
def load_suite(path: str | os.PathLike, extra_plugins: tuple[str, ...] | list[str] = ()) -> Suite:
    """Read and validate a suite file; load the plugin files it names. Errors name file, line and key."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such suite file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the suite file ({exc})") from None
    return parse_suite(text, path, extra_plugins)


def parse_suite(text: str, path: Path | None = None, extra_plugins=()) -> Suite:
    """Validate suite text (``path`` is used in messages and to resolve plugin files)."""
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
        loc, message = _first_error(exc)
        raise ConfigError(f"{_where(path, nodes, loc)}: {message}") from None
    suite = Suite(model=model, path=path, text=text, nodes=nodes)
    base = path.parent if path is not None else Path(".")
    for index, plugin in enumerate(model.plugins):
        plugin_path = (base / plugin).resolve()
        if not plugin_path.is_file():
            raise ConfigError(f"{suite.where('plugins', index)}: plugin file {plugin_path} does not exist")
        suite.plugin_files.append(str(plugin_path))
    for plugin in extra_plugins:
        plugin_path = Path(plugin).resolve()
        if not plugin_path.is_file():
            raise ConfigError(f"--plugin {plugin}: no such file")
        suite.plugin_files.append(str(plugin_path))
    for plugin_file in suite.plugin_files:
        plugins.load_plugin_file(plugin_file)
    return suite


# -- expansion ----------------------------------------------------------------------------------
def _grid(options: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the list-valued options (a scalar is a one-element list)."""
    keys = list(options)
    values = [v if isinstance(v, list) else [v] for v in options.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def _entry(entry: str | dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(entry, str):
        return entry, {}
    options = dict(entry)
    name = options.pop("name", None)
    if not isinstance(name, str):
        raise ValueError("each entry needs 'name: ...'")
    return name, options


def _label(name: str, options: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in options.items() if k != "training"]
    parts += [f"{k}={v}" for k, v in (options.get("training") or {}).items()]
    return " ".join([name, *parts])


def trial_id(identity: dict[str, Any]) -> str:
    """A stable hash of a trial's resolved values, independent of key order."""
    blob = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def resolve_device(requested: str) -> str:
    """``auto`` -> cuda > mps > cpu; an explicit device that is absent is an error."""
    import torch

    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }
    if requested == "auto":
        return "cuda" if available["cuda"] else "mps" if available["mps"] else "cpu"
    if not available.get(requested, False):
        raise NnbenchError(f"device {requested!r} is not available on this machine (use device: auto or cpu)")
    return requested


def default_threads(workers: int) -> int:
    """Torch threads per CPU trial when the suite sets none: the machine's cores shared by the workers."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


@dataclass
class StudyPlan:
    """One tuning study: an (architecture entry, task) pair of a tuned suite, before any trial is drawn.

    :mod:`nnbench.tuning` turns it into ``trials`` tuning trials (``stage = "tune"``) and, once they are
    done, one re-run of the best configuration per seed (``stage = "final"``, ``tuned_from = study_id``).
    """

    study_id: str
    arch_label: str
    architecture: str
    base_config: dict[str, Any]  # the entry's configuration before sampling (defaults and pinned values)
    base_training: dict[str, Any]
    space: dict[str, Any]  # key -> nnbench.space parameter (only the sampled ones)
    task: str
    task_config: dict[str, Any]
    task_version: int
    higher_is_better: bool
    tune: TuneModel
    tune_budget: Budget
    tune_seed: int
    final_budget: Budget
    seeds: list[int]
    common: dict[str, Any]  # device, threads, price, plugin files, size: the same for every trial

    def defaults(self) -> dict[str, Any]:
        """The entry's own values of the sampled parameters, where the search space can draw them."""
        values = {}
        for key, param in self.space.items():
            where, name = space.split_key(key)
            value = (self.base_config if where == "config" else self.base_training).get(name)
            if space.contains(param, value):
                values[key] = value
        return values

    def tune_trial_id(self, index: int) -> str:
        """The id of tuning trial ``index``: it depends on the study and the index, not on the sampled
        values, so a failed tuning trial is retried with the values it had."""
        return self._trial_id("tune", self.tune_seed, self.tune_budget, index)

    def final_trial_id(self, seed: int) -> str:
        """The id of the re-run on ``seed``: not dependent on the winner's values, so a re-run is
        replaced when the study's winner changes."""
        return self._trial_id("final", seed, self.final_budget, None)

    def _trial_id(self, stage: str, seed: int, budget: Budget, tune_index: int | None) -> str:
        identity = {
            "study": self.study_id,
            "stage": stage,
            "seed": seed,
            "budget": [budget.steps, budget.seconds],
        }
        if stage == "tune":
            identity["tune_index"] = tune_index
        return trial_id(identity)

    def tune_trial(self, index: int, params: dict[str, Any]) -> TrialSpec:
        """Tuning trial ``index`` with the sampled ``params``: the tuning seed and budget."""
        return self._trial("tune", self.tune_seed, self.tune_budget, params, index)

    def final_trial(self, seed: int, params: dict[str, Any]) -> TrialSpec:
        """The re-run of the winning ``params`` on ``seed`` with the suite's budget."""
        return self._trial("final", seed, self.final_budget, params, None)

    def _trial(
        self, stage: str, seed: int, budget: Budget, params: dict[str, Any], tune_index: int | None
    ) -> TrialSpec:
        config_params = {k: v for k, v in params.items() if not k.startswith(space.TRAINING_PREFIX)}
        training_params = {
            k[len(space.TRAINING_PREFIX) :]: v
            for k, v in params.items()
            if k.startswith(space.TRAINING_PREFIX)
        }
        where = f"tuning trial {tune_index}" if stage == "tune" else f"final · seed {seed}"
        return TrialSpec(
            trial_id=self._trial_id(stage, seed, budget, tune_index),
            architecture=self.architecture,
            arch_config={**self.base_config, **config_params},
            task=self.task,
            task_config=self.task_config,
            task_version=self.task_version,
            seed=seed,
            budget=budget,
            training=TrainingSettings(**{**self.base_training, **training_params}),
            label=f"{self.arch_label} · {self.task} · {where}",
            stage=stage,
            study=self.study_id if stage == "tune" else None,
            tune_index=tune_index,
            hparams=dict(params),
            tuned_from=self.study_id if stage == "final" else None,
            tune_trials=self.tune.trials,
            tune_sampler=self.tune.sampler,
            **self.common,
        )


@dataclass
class Matrix:
    """The expanded suite: trials to run or mark n/a, tuning studies, and entries that cannot be planned."""

    trials: list[PlannedTrial]
    unavailable: list[str]  # entries whose plugin failed to load, with the reason
    studies: list[StudyPlan] = field(default_factory=list)


def expand(suite: Suite, device: str, workers: int | None = None, threads: int | None = None) -> Matrix:
    """Every (architecture config x task config x seed) trial of ``suite`` on ``device``.

    A pair the suite tunes becomes a :class:`StudyPlan` instead of one trial per seed.
    """
    model = suite.model
    workers = workers or model.executor.workers
    threads = threads or model.threads or default_threads(workers)
    budget = Budget(steps=model.budget.steps, seconds=model.budget.time)
    price = model.cost.price_per_hour_usd.get(device)  # type: ignore[call-overload]
    if price is None:
        from nnbench.measure import DEFAULT_PRICE_PER_HOUR_USD

        price = DEFAULT_PRICE_PER_HOUR_USD.get(device)
    common = {
        "device": device,
        "threads": threads,
        "price_per_hour_usd": price,
        "plugin_files": tuple(suite.plugin_files),
    }
    unavailable: list[str] = []
    tasks = _expand_tasks(suite, unavailable)
    matrix = Matrix([], unavailable)

    for index, entry in enumerate(model.architectures):
        try:
            name, options = _entry(entry)
        except ValueError as exc:
            raise ConfigError(f"{suite.where('architectures', index)}: {exc}") from None
        arch = _lookup(suite, "architectures", index, name, registry.get_architecture, unavailable)
        if arch is None:
            continue
        entry_space = _entry_space(suite, index, arch, options.pop("search_space", None))
        for combo in _grid(options):
            label = _label(name, combo)
            size = combo.pop("size", None)
            overrides = combo.pop("training", None) or {}
            sized = {**_size_overrides(suite, index, arch, size), **combo}
            training = _training(suite, index, overrides)
            arch_config = _arch_config(suite, index, arch, sized)
            settings = TrainingSettings(**training.model_dump())
            for task in tasks:
                reason = arch.incompatibility(task.spec)
                if task.tune is not None and reason is None:
                    matrix.studies.append(
                        _study(suite, index, arch, label, sized, overrides, entry_space, task, size, common)
                    )
                    continue
                for seed in model.seeds:
                    identity = {
                        "architecture": name,
                        "arch_config": arch_config.model_dump(mode="json"),
                        "task": task.name,
                        "task_config": task.config,
                        "task_version": task.version,
                        "seed": seed,
                        "device": device,
                        "budget": [budget.steps, budget.seconds],
                        "training": training.model_dump(mode="json"),
                    }
                    if (
                        size is not None
                    ):  # only when asked for, so ids of suites without sizes stay as they were
                        identity["size"] = size
                    spec = TrialSpec(
                        trial_id=trial_id(identity),
                        architecture=name,
                        arch_config=identity["arch_config"],
                        task=task.name,
                        task_config=task.config,
                        task_version=task.version,
                        seed=seed,
                        budget=budget,
                        training=settings,
                        label=f"{label} · {task.name} · seed {seed}",
                        size=size,
                        **common,
                    )
                    matrix.trials.append(PlannedTrial(spec, label, reason))
    return matrix


@dataclass
class _TaskEntry:
    name: str
    config: dict[str, Any]
    version: int
    spec: TaskSpec
    higher_is_better: bool
    tune: TuneModel | None


def _expand_tasks(suite: Suite, unavailable: list[str]) -> list[_TaskEntry]:
    tasks = []
    for index, entry in enumerate(suite.model.tasks):
        try:
            name, options = _entry(entry)
        except ValueError as exc:
            raise ConfigError(f"{suite.where('tasks', index)}: {exc}") from None
        tune = suite.model.tune
        if "tune" in options:
            try:
                tune = TuneModel.model_validate(options.pop("tune"))
            except pydantic.ValidationError as exc:
                loc, message = _first_error(exc)
                raise ConfigError(f"{suite.where('tasks', index, 'tune', *loc)}: {message}") from None
        task_cls = _lookup(suite, "tasks", index, name, registry.get_task, unavailable)
        if task_cls is None:
            continue
        for combo in _grid(options):
            try:
                config = task_cls.Config(**combo)
            except pydantic.ValidationError as exc:
                loc, message = _first_error(exc)
                raise ConfigError(f"{suite.where('tasks', index, *loc)}: {message} (task {name})") from None
            task = task_cls(config)
            tasks.append(
                _TaskEntry(
                    name=name,
                    config=config.model_dump(mode="json"),
                    version=task_cls.version,
                    spec=task.spec(),
                    higher_is_better=task.metric().higher_is_better,
                    tune=tune,
                )
            )
    return tasks


def _training(suite: Suite, index: int, overrides: dict[str, Any]) -> TrainingModel:
    try:
        return TrainingModel(**{**suite.model.training.model_dump(), **overrides})
    except pydantic.ValidationError as exc:
        loc, message = _first_error(exc)
        raise ConfigError(f"{suite.where('architectures', index, 'training', *loc)}: {message}") from None


def _arch_config(suite: Suite, index: int, arch, options: dict[str, Any]) -> Config:
    try:
        return arch.Config(**options)
    except pydantic.ValidationError as exc:
        loc, message = _first_error(exc)
        raise ConfigError(
            f"{suite.where('architectures', index, *loc)}: {message} (architecture {arch.name})"
        ) from None


def _size_overrides(suite: Suite, index: int, arch, size: Any) -> dict[str, Any]:
    """The Config values of ``arch``'s named size (nothing without a size)."""
    if size is None:
        return {}
    if not isinstance(size, str) or size not in arch.sizes:
        known = ", ".join(arch.sizes) or "none"
        hint = registry.did_you_mean(str(size), list(arch.sizes))
        raise ConfigError(
            f"{suite.where('architectures', index, 'size')}: {arch.name} has no size {size!r}{hint} "
            f"(its sizes: {known})"
        )
    return dict(arch.sizes[size])


def _entry_space(suite: Suite, index: int, arch, overrides: Any) -> dict[str, Any]:
    """The architecture's search space with the suite entry's ``search_space:`` applied."""
    merged = dict(arch.search_space)
    if overrides is None:
        return merged
    where = suite.where("architectures", index, "search_space")
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}: expected a mapping of parameter -> range or value")
    try:
        space.check_keys(overrides, set(arch.Config.model_fields))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    for key, value in overrides.items():
        try:
            merged[key] = space.parse_param(value)
        except ValueError as exc:
            raise ConfigError(f"{suite.where('architectures', index, 'search_space', key)}: {exc}") from None
    return merged


def _study(suite, index, arch, label, options, overrides, entry_space, task, size, common) -> StudyPlan:
    """The tuning study of one architecture entry on one task."""
    model = suite.model
    tune = task.tune
    # Values the entry sets itself (options, training overrides, pinned search_space values) are not tuned.
    pinned = {k: v for k, v in entry_space.items() if not space.is_param(v)}
    config_values = {**options, **{k: v for k, v in pinned.items() if space.split_key(k)[0] == "config"}}
    training_values = {
        **overrides,
        **{space.split_key(k)[1]: v for k, v in pinned.items() if space.split_key(k)[0] == "training"},
    }

    def set_by_entry(key: str) -> bool:
        where, name = space.split_key(key)
        return name in (config_values if where == "config" else training_values)

    sampled = {k: v for k, v in entry_space.items() if space.is_param(v) and not set_by_entry(k)}
    if not sampled:
        raise ConfigError(
            f"{suite.where('architectures', index)}: {arch.name} has nothing to tune (no search space, or "
            f"every parameter pinned); give one with search_space: {{training.lr: {{log_uniform: [1e-4, 1e-2]}}}}"
        )
    base_config = _arch_config(suite, index, arch, config_values).model_dump(mode="json")
    base_training = _training(suite, index, training_values).model_dump(mode="json")
    tune_budget_model = tune.budget or model.budget
    tune_budget = Budget(steps=tune_budget_model.steps, seconds=tune_budget_model.time)
    tune_seed = tune.seed if tune.seed is not None else model.seeds[0]
    identity = {
        "architecture": arch.name,
        "base_config": base_config,
        "base_training": base_training,
        "space": {k: space.describe(v) for k, v in sorted(sampled.items())},
        "task": task.name,
        "task_config": task.config,
        "task_version": task.version,
        "device": common["device"],
        "tune": {
            "defaults_first": tune.defaults_first,
            "trials": tune.trials,
            "sampler": tune.sampler,
            "metric": tune.metric,
            "budget": [tune_budget.steps, tune_budget.seconds],
            "seed": tune_seed,
        },
        "size": size,
    }
    return StudyPlan(
        study_id=trial_id(identity),
        arch_label=f"{label} (tuned)",
        architecture=arch.name,
        base_config=base_config,
        base_training=base_training,
        space=sampled,
        task=task.name,
        task_config=task.config,
        task_version=task.version,
        higher_is_better=task.higher_is_better,
        tune=tune,
        tune_budget=tune_budget,
        tune_seed=tune_seed,
        final_budget=Budget(steps=model.budget.steps, seconds=model.budget.time),
        seeds=list(model.seeds),
        common={**common, "size": size},
    )


def _lookup(suite: Suite, section: str, index: int, name: str, getter, unavailable: list[str]):
    try:
        return getter(name)
    except NnbenchError as exc:
        if plugins.failures:
            # A broken plugin may be the one that provides this name: its trials are skipped, not fatal.
            unavailable.append(f"{suite.where(section, index)}: {exc}")
            return None
        raise ConfigError(f"{suite.where(section, index)}: {exc}") from None
