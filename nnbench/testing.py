"""The conformance kit for architecture plugins: does an architecture keep nnbench's contract?

``check_architecture("gmlp")`` checks an architecture on a tiny version of every registered task it can
take (the smoke and quick tiers; long and local tasks only when named) and returns one
:class:`CheckResult` per check; ``assert_architecture_conforms("gmlp")`` raises an AssertionError that
lists the failures, for a plugin's own tests; ``nnbench check gmlp`` prints them as a table.

The checks (see :data:`CHECKS`): the ``Config`` has a default for every field and rejects unknown keys;
then per task, ``build`` returns a module; its outputs are ``(B, *output_shape)`` (``sample(n)`` is
``(n, *output_shape)`` for generation) and finite; it trains; the same seed gives the same result; and on
a causal task (``TaskSpec.causal``) the trained model's outputs up to position t do not move when the
inputs after t change (:func:`check_causal`).
A classifier or regressor trained by the generic supervised step is trained directly: Adam on one fixed
batch of the task's loss must lower that loss. An architecture with training of its own (``step``,
``optimizers``, ``prepare`` or the ``train`` escape hatch overridden, or any generation task) runs real
short trials through :func:`nnbench.trial.execute_trial`: status ok with a finite validation score, two
trials of the same seed agreeing exactly, and the training contract kept (every optimizer made with the
suite's ``make``; a ``train`` that drives ``ctx.loop`` does all it must, see
:func:`nnbench.training.missed_obligations`).

The kit runs on the CPU with one torch thread and leaves the caller's random state and thread count
as it found them; a check of one architecture takes seconds.

Its pytest fixtures (``nnbench_plugins``, ``nnbench_check``) live in :mod:`nnbench.pytest_plugin`,
which pytest loads through the ``pytest11`` entry point. Importing this module does not import torch.
"""

from __future__ import annotations

import contextlib
import json
import math
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnbench.errors import NnbenchError
from nnbench.hookspecs import hookimpl

if TYPE_CHECKING:  # pragma: no cover - typing only
    from nnbench.types import Architecture, Task, TaskSpec, TrialSpec

# What each check means, in the order they run (``nnbench check --help`` and docs/plugins.md use it).
CHECKS = {
    "config-defaults": "every field of the Config has a default (Config() works)",
    "config-forbids-unknown": "Config(bogus=1) raises pydantic.ValidationError (extra='forbid')",
    "tasks": "at least one registered task it can take",
    "incompatibility": "incompatibility(task) returns a reason or None without raising",
    "build": "build(task, Config()) returns a torch.nn.Module",
    "output-shape": "forward maps (B, *input_shape) to (B, *output_shape)",
    "sample-shape": "generation: sample(n) returns (n, *output_shape)",
    "finite-outputs": "every output (or sample) is finite",
    "trains": "a few steps lower the loss on one batch (own loop: a short trial ends ok with a finite score)",
    "same-seed-same-result": "two builds (or trials) with the same seed give identical results",
    "training-contract": "own step: every optimizer made with make() (the suite's settings); own train(): "
    "ctx.loop driven fully (steps with every optimizer, batch, autocast, record_loss, result)",
    "causal": "causal tasks: changing the inputs after position t leaves the outputs up to t unchanged",
}
ARCHITECTURE_WIDE = "-"  # the task column of the checks that need no task

BATCH = 32  # samples in the fixed batch of the shape, finiteness and training checks
FIT_STEPS = 30  # Adam steps on the fixed batch
FIT_LR = 1e-3  # their learning rate
TRIAL_STEPS = 20  # steps of a short trial, for architectures that own their loop
SAMPLES = 8  # samples drawn from a generative model
CAUSAL_TOLERANCE = 1e-4  # largest change of an output at <= t, relative to the outputs' scale (>= 1)
# Size options of a task's Config lowered for the tiny version (only where the default is larger).
TINY_SIZES = {"n_train": 256, "n_val": 128, "n_test": 128, "n_samples": 400}
SKIPPED_TIERS = ("long", "local")  # checked only when named


@dataclass(frozen=True)
class CheckResult:
    """One check of one architecture on one task (``task`` is ``"-"`` for checks of the Config)."""

    architecture: str
    task: str
    check: str
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        return asdict(self)


# -- the public API -----------------------------------------------------------------------------------
def check_architecture(
    name_or_instance: str | Architecture,
    *,
    tasks: Sequence[str] | None = None,
    plugin_files: Sequence[str | Path] = (),
) -> list[CheckResult]:
    """Check an architecture (a registered name, or an instance) against the plugin contract.

    ``tasks`` names the tasks to check on (default: every registered smoke or quick task the
    architecture can take, each in a tiny version); ``plugin_files`` are loose plugin files to load
    first. Bad input (an unknown architecture or task, a missing file, a task the architecture cannot
    take) raises :class:`nnbench.NnbenchError`; a broken architecture gives failed results, never an
    exception.
    """
    from nnbench import plugins

    for path in plugin_files:
        if not Path(path).is_file():
            raise NnbenchError(f"--plugin {path}: no such file")
        plugins.load_plugin_file(path)
    with _registered(name_or_instance) as architecture, _isolated_state():
        checker = _Checker(architecture, tuple(str(Path(p).resolve()) for p in plugin_files))
        results = checker.config_checks()
        selected, raised = _select_tasks(architecture, tasks)
        for task_name, error in raised.items():
            results.append(
                checker.result(task_name, "incompatibility", False, f"incompatibility(task) raised {error}")
            )
        if not selected and not raised:
            results.append(
                checker.result(
                    ARCHITECTURE_WIDE,
                    "tasks",
                    False,
                    f"no registered smoke or quick task takes {sorted(architecture.modalities)} inputs "
                    f"for {sorted(architecture.kinds)}: register one, or name one with tasks=/--task",
                )
            )
        for task_cls, task_config in selected:
            results.extend(checker.task_checks(task_cls, task_config))
    return results


def assert_architecture_conforms(name_or_instance: str | Architecture, **options: Any) -> list[CheckResult]:
    """Run :func:`check_architecture`; raise AssertionError listing every failed check, else return the results.

    Use it in a plugin's own tests::

        from nnbench.testing import assert_architecture_conforms

        def test_my_architecture_conforms():
            assert_architecture_conforms("my-arch")
    """
    results = check_architecture(name_or_instance, **options)
    failed = [r for r in results if not r.passed]
    if failed:
        name = results[0].architecture
        lines = "\n".join(f"  {r.task} / {r.check}: {r.detail}" for r in failed)
        raise AssertionError(f"architecture {name!r} failed {len(failed)} of {len(results)} checks:\n{lines}")
    return results


def results_to_json(results: Sequence[CheckResult]) -> str:
    """The results as a JSON array of objects (architecture, task, check, passed, detail)."""
    return json.dumps([r.to_dict() for r in results], indent=2)


# -- which architecture, which tasks ---------------------------------------------------------------------
class _InstancePlugin:
    """Registers one architecture instance for the duration of a check (trials look it up by name)."""

    def __init__(self, architecture: Architecture):
        self.architecture = architecture

    @hookimpl
    def register_architectures(self, register):
        register(self.architecture)


@contextlib.contextmanager
def _registered(name_or_instance: str | Architecture) -> Iterator[Architecture]:
    from nnbench import plugins, registry
    from nnbench.types import Architecture

    if isinstance(name_or_instance, str):
        yield registry.get_architecture(name_or_instance)
        return
    if not isinstance(name_or_instance, Architecture):
        raise NnbenchError(
            f"expected an architecture name or an nnbench.Architecture, got {name_or_instance!r}"
        )
    architecture = name_or_instance
    known = registry.get_registry().architectures.get(architecture.name)
    if known is not None:
        if type(known) is not type(architecture):
            raise NnbenchError(
                f"architecture name {architecture.name!r} is already registered by "
                f"{registry.get_registry().owners[('architecture', architecture.name)]!r} "
                f"({type(known).__qualname__}, not {type(architecture).__qualname__})"
            )
        yield architecture
        return
    plugin_name = f"nnbench.testing:{architecture.name or type(architecture).__qualname__}"
    plugins.register(_InstancePlugin(architecture), plugin_name)
    try:
        if architecture.name not in registry.get_registry().architectures:
            failure = next((f for f in plugins.failures if f.plugin == plugin_name), None)
            raise NnbenchError(f"cannot register {architecture!r}: {failure.error if failure else 'unknown'}")
        yield architecture
    finally:
        plugins.unregister(plugin_name)
        plugins.failures[:] = [f for f in plugins.failures if f.plugin != plugin_name]


def required_fields(task_cls: type[Task]) -> list[str]:
    """The Config fields a task cannot do without (a local dataset's ``data_dir``, ...)."""
    return [k for k, f in task_cls.Config.model_fields.items() if f.is_required()]


def tiny_task_config(task_cls: type[Task]) -> dict[str, Any]:
    """Options that make a small version of the task: its size options lowered (see :data:`TINY_SIZES`)."""
    import pydantic

    fields = task_cls.Config.model_fields
    wanted = {
        key: size
        for key, size in TINY_SIZES.items()
        if key in fields and isinstance(fields[key].default, int) and fields[key].default > size
    }
    try:
        task_cls.Config(**wanted)
        return wanted
    except pydantic.ValidationError:
        pass
    accepted: dict[str, Any] = {}
    for key, size in wanted.items():  # keep each override the task accepts on its own
        try:
            task_cls.Config(**accepted, **{key: size})
            accepted[key] = size
        except pydantic.ValidationError:
            continue
    return accepted


def _select_tasks(
    architecture: Architecture, names: Sequence[str] | None
) -> tuple[list[tuple[type[Task], dict]], dict[str, str]]:
    """The tasks to check on, each with its tiny config; and the tasks whose ``incompatibility`` raised."""
    from nnbench import registry

    selected: list[tuple[type[Task], dict]] = []
    raised: dict[str, str] = {}

    def incompatibility(task_cls: type[Task], config: dict[str, Any]) -> str | None:
        spec = task_cls(task_cls.Config(**config)).spec()
        try:
            return architecture.incompatibility(spec)
        except Exception as exc:  # the architecture's fault: a failed check, not bad input
            raised[task_cls.name] = _error(exc)
            return "raised"

    if names:
        for name in dict.fromkeys(names):
            task_cls = registry.get_task(name)
            needs = required_fields(task_cls)
            if needs:
                raise NnbenchError(
                    f"task {name!r} needs {', '.join(needs)} (a local dataset): the kit checks on tasks "
                    "that make their own data"
                )
            config = tiny_task_config(task_cls)
            reason = incompatibility(task_cls, config)
            if reason is None:
                selected.append((task_cls, config))
            elif name not in raised:
                raise NnbenchError(f"architecture {architecture.name!r} cannot take task {name!r}: {reason}")
        return selected, raised
    for _name, task_cls in sorted(registry.get_registry().tasks.items()):
        if task_cls.tier in SKIPPED_TIERS or required_fields(task_cls):
            continue
        try:
            config = tiny_task_config(task_cls)
            task_cls(task_cls.Config(**config)).spec()
        except Exception:  # another plugin's broken task is not this architecture's failure
            continue
        if incompatibility(task_cls, config) is None:
            selected.append((task_cls, config))
    return selected, raised


@contextlib.contextmanager
def _isolated_state() -> Iterator[None]:
    """One torch thread during the checks; the caller's random states and thread count afterwards."""
    import random

    import numpy as np
    import torch

    threads = torch.get_num_threads()
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def _error(exc: BaseException) -> str:
    """``Type: message`` and the innermost frame, on one line."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}{where}"


# -- the checks ---------------------------------------------------------------------------------------
class _Capture:
    """A plugin that keeps the model a trial builds and trains, so its outputs can be checked after."""

    def __init__(self):
        self.model = None
        self.task = None
        self.trainer = None  # how the trial was trained, and what it missed of the training contract
        self.missed: list[str] | None = None

    @hookimpl(wrapper=True)
    def build_model(self, ctx):
        model = yield
        self.model, self.task = model, ctx.task
        return model

    @hookimpl(wrapper=True)
    def train_model(self, model, architecture, task, ctx):
        result = yield
        self.model, self.task = model, task
        # The contract is read now: the trial goes on to use the loop (inference under its autocast).
        from nnbench.training import missed_obligations

        self.trainer = ctx.extra.get("trainer")
        self.missed = [
            f"{architecture.name}.optimizers() returned a {name} not made with make(): it ignores the suite's optimizer, "
            "learning rate and weight decay"
            for name in ctx.loop.unmade_optimizers
        ]
        if self.trainer == "architecture":
            self.missed += missed_obligations(ctx.loop, result)
        return result


class _Checker:
    """The checks of one architecture; each returns CheckResults, never raises for the architecture's faults."""

    def __init__(self, architecture: Architecture, plugin_files: tuple[str, ...]):
        self.architecture = architecture
        self.name = architecture.name
        self.plugin_files = plugin_files

    def result(self, task: str, check: str, passed: bool, detail: str = "") -> CheckResult:
        """A CheckResult of this architecture."""
        return CheckResult(self.name, task, check, bool(passed), detail)

    # -- the Config ------------------------------------------------------------------------------------
    def config_checks(self) -> list[CheckResult]:
        """config-defaults and config-forbids-unknown."""
        import pydantic

        config_cls = self.architecture.Config
        results = []
        missing = [k for k, f in config_cls.model_fields.items() if f.is_required()]
        if missing:
            results.append(
                self.result(
                    ARCHITECTURE_WIDE, "config-defaults", False, f"no default for {', '.join(missing)}"
                )
            )
        else:
            try:
                config_cls()
                results.append(
                    self.result(
                        ARCHITECTURE_WIDE,
                        "config-defaults",
                        True,
                        f"{len(config_cls.model_fields)} fields, all with defaults",
                    )
                )
            except Exception as exc:
                results.append(self.result(ARCHITECTURE_WIDE, "config-defaults", False, _error(exc)))
        try:
            config_cls(bogus=1)
        except pydantic.ValidationError:
            results.append(
                self.result(ARCHITECTURE_WIDE, "config-forbids-unknown", True, "Config(bogus=1) rejected")
            )
        except Exception as exc:
            results.append(
                self.result(
                    ARCHITECTURE_WIDE,
                    "config-forbids-unknown",
                    False,
                    f"Config(bogus=1) raised {_error(exc)}, not pydantic.ValidationError",
                )
            )
        else:
            results.append(
                self.result(
                    ARCHITECTURE_WIDE,
                    "config-forbids-unknown",
                    False,
                    "Config(bogus=1) was accepted: subclass nnbench.Config (extra='forbid') so a misspelt "
                    "option in a suite is an error",
                )
            )
        return results

    # -- one task --------------------------------------------------------------------------------------
    def task_checks(self, task_cls: type[Task], task_config: dict[str, Any]) -> list[CheckResult]:
        """The checks on one task: directly for the generic supervised step, through short trials otherwise."""
        from nnbench.training import overrides

        task = task_cls(task_cls.Config(**task_config))
        spec = task.spec()
        own_training = any(
            overrides(self.architecture, m) for m in ("train", "step", "optimizers", "prepare")
        )
        if spec.kind == "generation" or own_training:
            return self._by_trials(task_cls, task_config, spec)
        return self._directly(task, spec)

    def _build(self, spec: TaskSpec):
        import torch

        torch.manual_seed(0)
        return self.architecture.build(spec, self.architecture.Config())

    def _directly(self, task: Task, spec: TaskSpec) -> list[CheckResult]:
        import torch

        label = spec.name
        results: list[CheckResult] = []
        try:
            task.setup(0, "cpu")
        except Exception as exc:
            return [self.result(label, "build", False, f"the task's data could not be made: {_error(exc)}")]
        x, y = task.data["train"]
        n = min(BATCH, len(x))
        x, y = x[:n], (y[:n] if y is not None else None)

        try:
            model = self._build(spec)
        except Exception as exc:
            return [self.result(label, "build", False, _error(exc))]
        if not isinstance(model, torch.nn.Module):
            return [
                self.result(label, "build", False, f"returned {type(model).__name__}, not a torch.nn.Module")
            ]
        params = sum(p.numel() for p in model.parameters())
        results.append(self.result(label, "build", True, f"{type(model).__name__}, {params:,} parameters"))

        try:
            outputs = _forward(model, x)
        except Exception as exc:
            results.append(
                self.result(label, "output-shape", False, f"forward on {_shape(x)}: {_error(exc)}")
            )
            return results
        expected = (n, *spec.output_shape)
        results.append(
            self._shape_result(label, "output-shape", outputs, expected, f"forward on {_shape(x)}")
        )
        results.append(self._finite_result(label, outputs))

        same_seed = self._same_seed(label, spec, x, outputs)  # before training changes the model
        results.append(self._fit(label, model, task, x, y))
        results.append(same_seed)
        if spec.causal:  # on the trained model: a zero-initialised head would hide a look-ahead
            results.append(self.result(label, "causal", *check_causal(model, x, spec)))
        return results

    def _same_seed(self, label: str, spec: TaskSpec, x, outputs) -> CheckResult:
        import torch

        try:
            again = _forward(self._build(spec), x)
        except Exception as exc:
            return self.result(label, "same-seed-same-result", False, f"the second build: {_error(exc)}")
        same = (
            isinstance(again, torch.Tensor)
            and isinstance(outputs, torch.Tensor)
            and torch.equal(outputs, again)
        )
        detail = "two builds after torch.manual_seed(0): identical outputs"
        if not same:
            detail = "two builds after torch.manual_seed(0) give different outputs" + _difference(
                outputs, again
            )
        return self.result(label, "same-seed-same-result", same, detail)

    def _fit(self, label: str, model, task: Task, x, y) -> CheckResult:
        import torch

        parameters = [p for p in model.parameters() if p.requires_grad]
        if not parameters:
            return self.result(label, "trains", False, "the model has no trainable parameters")
        try:
            before = _loss(model, task, x, y)
            optimizer = torch.optim.Adam(parameters, lr=FIT_LR)
            model.train()
            for _ in range(FIT_STEPS):
                loss = task.loss(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            after = _loss(model, task, x, y)
        except Exception as exc:
            return self.result(label, "trains", False, _error(exc))
        passed = math.isfinite(before) and math.isfinite(after) and after < before
        return self.result(
            label,
            "trains",
            passed,
            f"loss {before:.4g} -> {after:.4g} after {FIT_STEPS} Adam steps (lr {FIT_LR:g}) on one batch of {len(x)}",
        )

    def _shape_result(
        self, label: str, check: str, outputs, expected: tuple[int, ...], what: str
    ) -> CheckResult:
        import torch

        if not isinstance(outputs, torch.Tensor):
            return self.result(label, check, False, f"{what} returned {type(outputs).__name__}, not a tensor")
        shape = tuple(outputs.shape)
        if shape != expected:
            return self.result(label, check, False, f"{what}: expected {expected}, got {shape}")
        return self.result(label, check, True, f"{what} -> {shape}")

    def _finite_result(self, label: str, outputs) -> CheckResult:
        import torch

        if not isinstance(outputs, torch.Tensor):
            return self.result(label, "finite-outputs", False, f"not a tensor: {type(outputs).__name__}")
        if not outputs.is_floating_point():
            return self.result(
                label, "finite-outputs", False, f"outputs are {outputs.dtype}, not floating point"
            )
        bad = int((~torch.isfinite(outputs)).sum())
        if bad:
            return self.result(
                label, "finite-outputs", False, f"{bad} of {outputs.numel()} values are not finite"
            )
        return self.result(label, "finite-outputs", True, f"{outputs.numel()} values, all finite")

    # -- through trials (own loop, generation) -----------------------------------------------------------
    def _trial_spec(self, task_cls: type[Task], task_config: dict[str, Any]) -> TrialSpec:
        """A short CPU trial of the architecture's defaults on the tiny task, built by the planner."""
        from nnbench import plan
        from nnbench.measure import DEFAULT_PRICE_PER_HOUR_USD
        from nnbench.suite import TrainingModel
        from nnbench.types import Budget

        training = TrainingModel(batch_size=BATCH, eval_every=0, warmup_steps=1)
        pair = plan.Pair(
            architecture=self.name,
            arch_label=self.name,
            arch_config=self.architecture.Config().model_dump(mode="json"),
            training=training.model_dump(mode="json"),
            task=task_cls.name,
            task_config=task_cls.Config(**task_config).model_dump(mode="json"),
            task_version=task_cls.version,
            placement=plan.Placement(
                device="cpu",
                threads=1,
                price_per_hour_usd=DEFAULT_PRICE_PER_HOUR_USD["cpu"],
                plugin_files=self.plugin_files,
            ),
        )
        return plan.plain_trial(pair, seed=0, budget=Budget(steps=TRIAL_STEPS, seconds=None))

    def _trial(self, spec):
        from nnbench import plugins
        from nnbench.trial import execute_trial

        capture = _Capture()
        plugins.register(capture, "nnbench.testing:capture")
        try:
            record, _curve = execute_trial(spec)
        finally:
            plugins.unregister("nnbench.testing:capture")
        return record, capture

    def _by_trials(
        self, task_cls: type[Task], task_config: dict[str, Any], spec: TaskSpec
    ) -> list[CheckResult]:
        import torch

        label = spec.name
        try:
            trial_spec = self._trial_spec(task_cls, task_config)
        except Exception as exc:  # e.g. a Config without defaults: the trial cannot even be planned
            return [self.result(label, "build", False, f"cannot plan a trial: {_error(exc)}")]
        record, capture = self._trial(trial_spec)
        status, error = record.get("status"), record.get("error") or ""
        if capture.model is None:
            return [self.result(label, "build", False, f"the trial failed before a model was built: {error}")]
        model = capture.model
        params = sum(p.numel() for p in model.parameters())
        results = [self.result(label, "build", True, f"{type(model).__name__}, {params:,} parameters")]

        generative = spec.kind == "generation"
        try:
            model.eval()
            with torch.no_grad():
                if generative:
                    outputs = model.sample(SAMPLES)
                    expected, what = (SAMPLES, *spec.output_shape), f"sample({SAMPLES})"
                else:
                    x = capture.task.data["val"][0][:BATCH] if capture.task is not None else None
                    outputs = model(x)
                    expected, what = (len(x), *spec.output_shape), f"forward on {_shape(x)}"
        except Exception as exc:
            check = "sample-shape" if generative else "output-shape"
            results.append(self.result(label, check, False, f"after training: {_error(exc)}"))
        else:
            check = "sample-shape" if generative else "output-shape"
            results.append(self._shape_result(label, check, outputs, expected, f"trained model's {what}"))
            results.append(self._finite_result(label, outputs))

        metric, value = record.get("metric"), record.get("val_score")
        trained = status == "ok" and value is not None and math.isfinite(value)
        if trained:
            detail = f"a trial of at most {TRIAL_STEPS} steps ended ok: val {metric} {value:.4g}"
        elif status == "ok":
            detail = f"the trial ended ok but its validation score is {value!r} (not a finite number)"
        else:
            detail = f"the trial ended {status}: {error.splitlines()[0] if error else 'no error text'}"
        results.append(self.result(label, "trains", trained, detail))
        if not trained:
            return results

        results.append(self._contract_result(label, capture))
        if spec.causal and not generative and capture.task is not None:
            x = capture.task.data["val"][0][:BATCH]
            results.append(self.result(label, "causal", *check_causal(model, x, spec)))
        again, _ = self._trial(trial_spec)
        keys = ("status", "val_score", "test_score", "final_loss", "steps")
        differ = {k: (record.get(k), again.get(k)) for k in keys if record.get(k) != again.get(k)}
        if differ:
            detail = "two trials of seed 0 differ: " + ", ".join(
                f"{k} {a!r} vs {b!r}" for k, (a, b) in differ.items()
            )
        else:
            detail = f"two trials of seed 0: identical val {metric} {value!r}"
        results.append(self.result(label, "same-seed-same-result", not differ, detail))
        return results

    def _contract_result(self, label: str, capture: _Capture) -> CheckResult:
        """Whether the trial kept the training contract: the suite's optimizers, a fully driven loop."""
        if capture.missed is None:  # a train_model hook answered before the kit's wrapper saw the loop
            return self.result(label, "training-contract", False, "the trial's training was not seen")
        if capture.missed:
            return self.result(label, "training-contract", False, "; ".join(capture.missed))
        how = {
            "architecture": "its own train() drove ctx.loop fully",
            "step": "its step() in the core's loop, optimizers made with make()",
        }.get(capture.trainer, "the core's loop and the generic supervised step")
        return self.result(label, "training-contract", True, how)


def check_causal(model, x, spec: TaskSpec) -> tuple[bool, str]:
    """Whether ``model``'s outputs at positions <= t ignore every input after t, on a batch ``x``.

    For a few t (the first position, the middle, the last but one) the inputs after t are changed
    (token ids shifted to other ids, features given noise) and the outputs up to t must stay the same,
    up to :data:`CAUSAL_TOLERANCE` of the outputs' scale (an FFT or a chunked sum rounds differently
    when later inputs change). Returns ``(passed, detail)``; the detail of a failure is one line that
    says where the model looked ahead. A model whose outputs move nowhere passes, and says it could
    not tell.
    """
    import torch

    length = x.shape[1]
    positions = sorted({0, length // 2, length - 2} & set(range(length - 1)))  # t with a later input
    generator = torch.Generator(device="cpu").manual_seed(0)
    try:
        model.eval()
        with torch.no_grad():
            before = model(x)
            scale = float(before.abs().max()) if before.numel() else 0.0
            tolerance = CAUSAL_TOLERANCE * max(1.0, scale)
            moved_after = 0.0
            for t in positions:
                changed = x.clone()
                if x.is_floating_point():
                    noise = torch.randn(changed[:, t + 1 :].shape, generator=generator)
                    changed[:, t + 1 :] += noise.to(x.device, x.dtype)
                else:  # another id at every later position: add 1..V-1 modulo V
                    vocab = spec.vocab_size or int(x.max()) + 2
                    shift = torch.randint(1, max(vocab, 2), changed[:, t + 1 :].shape, generator=generator)
                    changed[:, t + 1 :] = (changed[:, t + 1 :] + shift.to(x.device)) % max(vocab, 2)
                after = model(changed)
                moved = float((after[:, : t + 1] - before[:, : t + 1]).abs().max())
                if not moved <= tolerance:  # NaN fails too
                    return False, (
                        f"looks ahead: outputs at positions <= {t} changed by {moved:.3g} when only inputs "
                        f"after position {t} changed (task {spec.name!r} is causal: output t may only read "
                        "positions <= t)"
                    )
                moved_after = max(moved_after, float((after[:, t + 1 :] - before[:, t + 1 :]).abs().max()))
    except Exception as exc:
        return False, f"forward on changed inputs: {_error(exc)}"
    if moved_after == 0.0:
        return True, "could not tell: no output moved when later inputs changed (outputs ignore the inputs)"
    return True, (
        f"outputs up to t unchanged (within {tolerance:.2g}) when inputs after t changed, for t in "
        f"{positions}; later outputs moved by up to {moved_after:.3g}"
    )


def _forward(model, x):
    import torch

    model.eval()
    with torch.no_grad():
        return model(x)


def _loss(model, task: Task, x, y) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        return float(task.loss(model(x), y))


def _shape(x) -> str:
    return f"({', '.join(str(s) for s in x.shape)})" if hasattr(x, "shape") else repr(x)


def _difference(a, b) -> str:
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape:
        return f" (largest difference {float((a.double() - b.double()).abs().max()):.3g})"
    return ""
