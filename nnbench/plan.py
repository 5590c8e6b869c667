"""The one builder of trials: a suite's grids, sizes and seeds -> trials, each with its identity and id.

A trial's id is a hash of its resolved values (:func:`trial_id`), independent of their order in the
file. Every identity and every :class:`~nnbench.types.TrialSpec` is built here: :func:`expand` for a
suite's plain trials, :mod:`nnbench.tuning` (which imports this module, never the reverse) for the
trials of a tuning study, and the conformance kit for its short trials.

The building blocks: a :class:`Pair` is one architecture configuration on one task configuration on one
device, everything of a trial but its seed, budget and stage; :func:`trial_identity` and
:func:`plain_trial` make a suite's ordinary trial of it; a :class:`TunedPair` is a pair the suite tunes,
and :func:`study_identity` and :func:`study_trial_identity` give its study and its trials their ids.
Planning needs the registry (the architectures' and tasks' Configs), so the suite's plugin files must
be loaded first (:func:`nnbench.plugins.load_plugin_files`). Every error of the suite's entries is
collected and raised at once, one ``file:line: key: message`` line each.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from nnbench import measure, plugins, registry, space
from nnbench.errors import ConfigError, NnbenchError
from nnbench.names import did_you_mean
from nnbench.suite import (
    ARCHITECTURE_ENTRY_KEYS,
    TASK_ENTRY_KEYS,
    MarginModel,
    Suite,
    TrainingModel,
    TuneModel,
)
from nnbench.types import Budget, Config, Margin, TaskSpec, TrainingSettings, TrialSpec


# -- identity -----------------------------------------------------------------------------------
def trial_id(identity: dict[str, Any]) -> str:
    """A stable hash of a trial's resolved values, independent of key order."""
    blob = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Placement:
    """Where and how a run's trials execute: the same for every trial of the run (not part of any id but
    the device's)."""

    device: str  # cpu | cuda | mps (resolved, never "auto")
    threads: int  # torch intra-op threads of a CPU trial
    price_per_hour_usd: float | None
    plugin_files: tuple[str, ...] = ()  # loose plugin files each trial's process loads
    # Sequence trials time inference at these lengths after training (nnbench/context_probe.py); part
    # of a plain trial's id when not empty.
    inference_lengths: tuple[int, ...] = ()


def placement(suite: Suite, device: str, workers: int | None = None, threads: int | None = None) -> Placement:
    """The placement of ``suite``'s trials on ``device`` with ``workers`` at once (default: the suite's)."""
    model = suite.model
    workers = workers or model.executor.workers
    price = model.cost.price_per_hour_usd.get(device)  # type: ignore[call-overload]
    if price is None:
        price = measure.DEFAULT_PRICE_PER_HOUR_USD.get(device)
    return Placement(
        device=device,
        threads=threads or model.threads or measure.default_threads(workers),
        price_per_hour_usd=price,
        plugin_files=tuple(suite.plugin_files),
        inference_lengths=tuple(model.inference_lengths),
    )


@dataclass(frozen=True)
class Pair:
    """One architecture configuration on one task configuration: all of a trial but its seed and budget."""

    architecture: str
    arch_label: str  # the entry as shown: "mlp width=8"
    arch_config: dict[str, Any]  # the architecture's resolved Config, as JSON-ready values
    training: dict[str, Any]  # the resolved training settings, as JSON-ready values
    task: str
    task_config: dict[str, Any]  # the task's resolved Config, as JSON-ready values
    task_version: int
    placement: Placement
    size: str | None = None  # the architecture's named size, when the entry asked for one


def trial_identity(pair: Pair, seed: int, budget: Budget) -> dict[str, Any]:
    """The values a plain trial's id is the hash of."""
    identity = {
        "architecture": pair.architecture,
        "arch_config": pair.arch_config,
        "task": pair.task,
        "task_config": pair.task_config,
        "task_version": pair.task_version,
        "seed": seed,
        "device": pair.placement.device,
        "budget": [budget.steps, budget.seconds],
        "training": pair.training,
    }
    if pair.size is not None:  # only when asked for, so ids of suites without sizes stay as they were
        identity["size"] = pair.size
    if pair.placement.inference_lengths:  # likewise: ids of suites without probes stay as they were
        identity["inference_lengths"] = list(pair.placement.inference_lengths)
    return identity


def trial_spec(
    pair: Pair, seed: int, budget: Budget, *, trial_id: str, label: str, **tuning: Any
) -> TrialSpec:
    """The TrialSpec of ``pair`` on ``seed`` with ``budget``; ``tuning`` sets the study fields
    (``stage``, ``study``, ``tune_index``, ``hparams``, ...)."""
    where = pair.placement
    return TrialSpec(
        trial_id=trial_id,
        architecture=pair.architecture,
        arch_config=pair.arch_config,
        task=pair.task,
        task_config=pair.task_config,
        task_version=pair.task_version,
        seed=seed,
        budget=budget,
        training=TrainingSettings(**pair.training),
        label=label,
        size=pair.size,
        device=where.device,
        threads=where.threads,
        price_per_hour_usd=where.price_per_hour_usd,
        plugin_files=where.plugin_files,
        inference_lengths=where.inference_lengths,
        **tuning,
    )


def plain_trial(pair: Pair, seed: int, budget: Budget) -> TrialSpec:
    """A suite's ordinary trial of ``pair`` on ``seed``."""
    return trial_spec(
        pair,
        seed,
        budget,
        trial_id=trial_id(trial_identity(pair, seed, budget)),
        label=f"{pair.arch_label} · {pair.task} · seed {seed}",
    )


@dataclass(frozen=True)
class TunedPair:
    """A pair the suite tunes: its configuration before sampling, what the study samples, and how.

    :class:`nnbench.tuning.StudyPlan` turns it into tuning trials and re-runs of the winner.
    """

    base: Pair  # the entry's configuration before sampling (defaults and pinned values)
    space: dict[str, Any]  # key -> nnbench.space parameter (only the sampled ones)
    tune: TuneModel
    tune_budget: Budget
    tune_seed: int
    final_budget: Budget
    seeds: tuple[int, ...]  # the seeds the winner is re-run on
    higher_is_better: bool  # the task's primary metric

    @property
    def architecture(self) -> str:
        """The tuned architecture's name."""
        return self.base.architecture

    @property
    def task(self) -> str:
        """The task's name."""
        return self.base.task

    @property
    def arch_label(self) -> str:
        """The entry's label, marked as tuned."""
        return f"{self.base.arch_label} (tuned)"


def study_identity(tuned: TunedPair) -> dict[str, Any]:
    """The values a tuning study's id is the hash of."""
    pair = tuned.base
    return {
        "architecture": pair.architecture,
        "base_config": pair.arch_config,
        "base_training": pair.training,
        "space": {k: space.describe(v) for k, v in sorted(tuned.space.items())},
        "task": pair.task,
        "task_config": pair.task_config,
        "task_version": pair.task_version,
        "device": pair.placement.device,
        "tune": {
            "defaults_first": tuned.tune.defaults_first,
            "trials": tuned.tune.trials,
            "sampler": tuned.tune.sampler,
            "metric": tuned.tune.metric,
            "budget": [tuned.tune_budget.steps, tuned.tune_budget.seconds],
            "seed": tuned.tune_seed,
        },
        "size": pair.size,
    }


def study_trial_identity(
    study_id: str, stage: str, seed: int, budget: Budget, tune_index: int | None = None
) -> dict[str, Any]:
    """The values the id of a study's trial is the hash of: tuning trial ``tune_index`` (stage ``tune``) or
    the re-run on ``seed`` (stage ``final``). Not the sampled values: a failed tuning trial is retried
    with the values it had, and a re-run is replaced when the study's winner changes."""
    identity: dict[str, Any] = {
        "study": study_id,
        "stage": stage,
        "seed": seed,
        "budget": [budget.steps, budget.seconds],
    }
    if stage == "tune":
        identity["tune_index"] = tune_index
    return identity


# -- expansion ----------------------------------------------------------------------------------
@dataclass
class PlannedTrial:
    """A trial of the expanded matrix: runnable, or not applicable (with the reason).

    ``extra`` marks, under adaptive seeds, a seed beyond ``min``: it runs only when its task's verdict
    asks for it (:mod:`nnbench.adaptive`).
    """

    spec: TrialSpec
    arch_label: str
    not_applicable: str | None = None
    extra: bool = False


def task_key(task: str, task_config: dict[str, Any]) -> str:
    """One leaderboard's key: the task's name and its resolved config (two configurations of one task
    are two leaderboards, as :func:`nnbench.stats.task_labels` shows them)."""
    return f"{task} {json.dumps(task_config, sort_keys=True, default=str)}"


@dataclass(frozen=True)
class PlannedTask:
    """One task configuration of a suite as its verdict reads it: its metric's direction and the
    equivalence margin (the suite's ``margin:`` when the entry sets one, else the metric's)."""

    name: str
    config: dict[str, Any]
    higher_is_better: bool
    margin: Margin | None
    margin_from_suite: bool = False

    @property
    def key(self) -> str:
        """:func:`task_key` of this task."""
        return task_key(self.name, self.config)


@dataclass
class Matrix:
    """The expanded suite: trials to run or mark n/a, pairs to tune, the tasks' verdict settings, and
    entries that cannot be planned."""

    trials: list[PlannedTrial]
    unavailable: list[str]  # entries whose plugin failed to load, with the reason
    tuned: list[TunedPair] = field(default_factory=list)
    tasks: dict[str, PlannedTask] = field(default_factory=dict)  # by task_key


@dataclass
class _TaskEntry:
    name: str
    config: dict[str, Any]
    version: int
    spec: TaskSpec
    higher_is_better: bool
    tune: TuneModel | None
    margin: Margin | None = None  # the suite's margin, else the metric's
    margin_from_suite: bool = False


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


def _flat_options(options: dict[str, Any]) -> dict[str, Any]:
    """An entry's options with its training overrides flattened in, training last: ``{"width": 8, "lr": ...}``."""
    flat = {k: v for k, v in options.items() if k != "training"}
    training = options.get("training")
    if isinstance(training, dict):  # anything else is reported as an error of the entry
        flat.update(training)
    return flat


def distinguishing_options(entries: list[tuple[str, dict[str, Any]]]) -> dict[str, set[str]]:
    """Per architecture name, the options whose values differ between its configurations in the suite.

    ``entries`` are (name, options) of every configuration (grids expanded). An option set to one value
    everywhere (``diffusion`` with ``eval_every: 500`` as its only entry) tells nothing apart, so labels
    leave it out; the full configuration stays in the record and the report's hover text.
    """
    by_name: dict[str, list[dict[str, Any]]] = {}
    for name, options in entries:
        by_name.setdefault(name, []).append(_flat_options(options))
    out: dict[str, set[str]] = {}
    for name, configurations in by_name.items():
        keys = {key for flat in configurations for key in flat}
        missing = object()
        out[name] = {
            key for key in keys if len({repr(flat.get(key, missing)) for flat in configurations}) > 1
        }
    return out


def _label(name: str, options: dict[str, Any], shown: set[str] | None = None) -> str:
    """``mlp width=8 lr=0.01``: the entry's name and the options that tell it apart (``shown``; every
    option it sets when None), training overrides last."""
    parts = [f"{k}={v}" for k, v in _flat_options(options).items() if shown is None or k in shown]
    return " ".join([name, *parts])


class _Planner:
    """Expands one suite, collecting every error of its entries instead of stopping at the first."""

    def __init__(self, suite: Suite, placement: Placement):
        self.suite = suite
        self.placement = placement
        self.errors: list[str] = []
        self.unavailable: list[str] = []

    def fail(self, *messages: str) -> None:
        """Record ``file:line: key: message`` errors (each once: a grid repeats an entry's errors)."""
        for message in messages:
            if message not in self.errors:
                self.errors.append(message)

    def lookup(self, section: str, index: int, name: str, getter):
        """The registered architecture or task ``name``, or None (an error, or unavailable when a plugin
        that failed to load may be the one providing it)."""
        try:
            return getter(name)
        except NnbenchError as exc:
            if plugins.failures:
                self.unavailable.append(f"{self.suite.where(section, index)}: {exc}")
            else:
                self.fail(f"{self.suite.where(section, index)}: {exc}")
            return None

    # -- tasks ------------------------------------------------------------------------------------
    def tasks(self) -> list[_TaskEntry]:
        entries = []
        for index, entry in enumerate(self.suite.model.tasks):
            try:
                name, options = _entry(entry)
            except ValueError as exc:
                self.fail(f"{self.suite.where('tasks', index)}: {exc}")
                continue
            tune, tune_ok = self.suite.model.tune, True
            if "tune" in options:
                try:
                    tune = TuneModel.model_validate(options.pop("tune"))
                except pydantic.ValidationError as exc:
                    self.fail(*self.suite.errors_of(exc, "tasks", index, "tune", schema=TuneModel))
                    tune_ok = False  # the entry's other errors are still worth reporting
            margin: Margin | None = None
            if "margin" in options:
                try:
                    margin = MarginModel.model_validate(options.pop("margin")).margin()
                except pydantic.ValidationError as exc:
                    self.fail(*self.suite.errors_of(exc, "tasks", index, "margin", schema=MarginModel))
                    tune_ok = False
            task_cls = self.lookup("tasks", index, name, registry.get_task)
            if task_cls is None:
                continue
            for combo in _grid(options):
                try:
                    config = task_cls.Config(**combo)
                except pydantic.ValidationError as exc:
                    self.fail(
                        *self.suite.errors_of(
                            exc,
                            "tasks",
                            index,
                            schema=task_cls.Config,
                            also_known=TASK_ENTRY_KEYS,
                            note=f"(task {name})",
                        )
                    )
                    continue
                probe = task_cls(_absolute_paths(config))
                try:
                    spec, metric = probe.spec(), probe.metric()
                except NnbenchError as exc:  # a local dataset's missing or malformed file
                    key = _path_option(config)
                    at = self.suite.where("tasks", index, *([key] if key else []))
                    self.fail(f"{at}: {exc} (task {name})")
                    continue
                if not tune_ok:
                    continue
                entries.append(
                    _TaskEntry(
                        name=name,
                        config=config.model_dump(mode="json"),
                        version=task_cls.version,
                        spec=spec,
                        higher_is_better=metric.higher_is_better,
                        tune=tune,
                        margin=margin if margin is not None else metric.margin,
                        margin_from_suite=margin is not None,
                    )
                )
        return entries

    # -- architectures ------------------------------------------------------------------------------
    def training(self, index: int, overrides: Any) -> TrainingModel | None:
        if not isinstance(overrides, dict):
            self.fail(
                f"{self.suite.where('architectures', index, 'training')}: expected a mapping of settings"
            )
            return None
        try:
            return TrainingModel(**{**self.suite.model.training.model_dump(), **overrides})
        except pydantic.ValidationError as exc:
            self.fail(*self.suite.errors_of(exc, "architectures", index, "training", schema=TrainingModel))
            return None

    def arch_config(self, index: int, arch, options: dict[str, Any]) -> Config | None:
        try:
            return arch.Config(**options)
        except pydantic.ValidationError as exc:
            self.fail(
                *self.suite.errors_of(
                    exc,
                    "architectures",
                    index,
                    schema=arch.Config,
                    also_known=ARCHITECTURE_ENTRY_KEYS,
                    note=f"(architecture {arch.name})",
                )
            )
            return None

    def size_overrides(self, index: int, arch, size: Any) -> dict[str, Any] | None:
        """The Config values of ``arch``'s named size (nothing without a size); None for an unknown size."""
        if size is None:
            return {}
        if not isinstance(size, str) or size not in arch.sizes:
            known = ", ".join(arch.sizes) or "none"
            hint = did_you_mean(str(size), list(arch.sizes))
            self.fail(
                f"{self.suite.where('architectures', index, 'size')}: {arch.name} has no size {size!r}{hint} "
                f"(its sizes: {known})"
            )
            return None
        return dict(arch.sizes[size])

    def entry_space(self, index: int, arch, overrides: Any) -> dict[str, Any] | None:
        """The architecture's search space with the suite entry's ``search_space:`` applied."""
        merged = dict(arch.search_space)
        if overrides is None:
            return merged
        where = self.suite.where("architectures", index, "search_space")
        if not isinstance(overrides, dict):
            self.fail(f"{where}: expected a mapping of parameter -> range or value")
            return None
        try:
            space.check_keys(overrides, set(arch.Config.model_fields))
        except ValueError as exc:
            self.fail(f"{where}: {exc}")
            return None
        ok = True
        for key, value in overrides.items():
            try:
                merged[key] = space.parse_param(value)
            except ValueError as exc:
                self.fail(f"{self.suite.where('architectures', index, 'search_space', key)}: {exc}")
                ok = False
        return merged if ok else None

    def tuned_pair(
        self,
        index: int,
        arch,
        label: str,
        options: dict[str, Any],
        overrides: dict[str, Any],
        entry_space: dict[str, Any],
        task: _TaskEntry,
        size: str | None,
    ) -> TunedPair | None:
        """The tuning study of one architecture entry on one task."""
        model = self.suite.model
        tune = task.tune
        assert tune is not None
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
            self.fail(
                f"{self.suite.where('architectures', index)}: {arch.name} has nothing to tune (no search space, "
                "or every parameter pinned); give one with search_space: {training.lr: {log_uniform: [1e-4, 1e-2]}}"
            )
            return None
        base_config = self.arch_config(index, arch, config_values)
        base_training = self.training(index, training_values)
        if base_config is None or base_training is None:
            return None
        tune_budget = tune.budget or model.budget
        return TunedPair(
            base=Pair(
                architecture=arch.name,
                arch_label=label,
                arch_config=base_config.model_dump(mode="json"),
                training=base_training.model_dump(mode="json"),
                task=task.name,
                task_config=task.config,
                task_version=task.version,
                placement=self.placement,
                size=size,
            ),
            space=sampled,
            tune=tune,
            tune_budget=Budget(steps=tune_budget.steps, seconds=tune_budget.time),
            tune_seed=tune.seed if tune.seed is not None else model.seed_list()[0],
            final_budget=Budget(steps=model.budget.steps, seconds=model.budget.time),
            seeds=tuple(model.seed_list()),
            higher_is_better=task.higher_is_better,
        )

    def configurations(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, options) of every architecture configuration of the suite (entries that cannot be read
        are left to :meth:`expand`, which reports them)."""
        out = []
        for entry in self.suite.model.architectures:
            try:
                name, options = _entry(entry)
            except ValueError:
                continue
            options = {k: v for k, v in options.items() if k != "search_space"}
            out += [(name, combo) for combo in _grid(options)]
        return out

    def expand(self) -> Matrix:
        model = self.suite.model
        budget = Budget(steps=model.budget.steps, seconds=model.budget.time)
        tasks = self.tasks()
        matrix = Matrix([], self.unavailable)
        for task in tasks:
            planned = PlannedTask(
                task.name, task.config, task.higher_is_better, task.margin, task.margin_from_suite
            )
            matrix.tasks[planned.key] = planned
        adaptive = model.adaptive_seeds()
        always = adaptive.min if adaptive is not None else None  # seeds every entry runs
        shown = distinguishing_options(self.configurations())
        for index, entry in enumerate(model.architectures):
            try:
                name, options = _entry(entry)
            except ValueError as exc:
                self.fail(f"{self.suite.where('architectures', index)}: {exc}")
                continue
            arch = self.lookup("architectures", index, name, registry.get_architecture)
            if arch is None:
                continue
            entry_space = self.entry_space(index, arch, options.pop("search_space", None))
            if entry_space is None:
                continue
            for combo in _grid(options):
                label = _label(name, combo, shown.get(name))
                size = combo.pop("size", None)
                overrides = combo.pop("training", None) or {}
                size_values = self.size_overrides(index, arch, size)
                if size_values is None:
                    continue
                sized = {**size_values, **combo}
                training = self.training(index, overrides)
                arch_config = self.arch_config(index, arch, sized)
                if training is None or arch_config is None:
                    continue
                for task in tasks:
                    reason = arch.incompatibility(task.spec)
                    if task.tune is not None and reason is None:
                        tuned = self.tuned_pair(index, arch, label, sized, overrides, entry_space, task, size)
                        if tuned is not None:
                            matrix.tuned.append(tuned)
                        continue
                    pair = Pair(
                        architecture=name,
                        arch_label=label,
                        arch_config=arch_config.model_dump(mode="json"),
                        training=training.model_dump(mode="json"),
                        task=task.name,
                        task_config=task.config,
                        task_version=task.version,
                        placement=self.placement,
                        size=size,
                    )
                    for position, seed in enumerate(model.seed_list()):
                        extra = always is not None and position >= always
                        matrix.trials.append(
                            PlannedTrial(plain_trial(pair, seed, budget), label, reason, extra=extra)
                        )
        if self.errors:
            raise ConfigError(*self.errors)
        return matrix


def expand(suite: Suite, device: str, workers: int | None = None, threads: int | None = None) -> Matrix:
    """Every (architecture config x task config x seed) trial of ``suite`` on ``device``.

    A pair the suite tunes becomes a :class:`TunedPair` instead of one trial per seed. Every error of the
    suite's entries is raised at once (:class:`~nnbench.errors.ConfigError`).
    """
    return _Planner(suite, placement(suite, device, workers, threads)).expand()


def _absolute_paths(config: Config) -> Config:
    """``config`` with its relative path options made absolute (from the working directory, where trials
    read them), so that a missing file is named by its absolute path. Used only to check the files: the
    trial's identity keeps the paths as written."""
    update = {
        key: Path(value).resolve()
        for key, value in dict(config).items()
        if isinstance(value, Path) and not value.is_absolute()
    }
    return config.model_copy(update=update) if update else config


def _path_option(config: Config) -> str | None:
    """The one path option a task entry sets (``data_dir``, ``path``), to point at its line; else None."""
    keys = [key for key, value in dict(config).items() if isinstance(value, Path)]
    return keys[0] if len(keys) == 1 else None
