"""The one measured training loop every trial trains in.

The core drives every architecture's training (:func:`run_steps`): it makes the optimizers with
the suite's settings (:meth:`nnbench.Architecture.optimizers` and its ``make``), then for each step
hands :meth:`nnbench.Architecture.step` a batch already on the device, under the trial's autocast,
with the compiled model when asked, and records the loss it returns. Around that the
:class:`TrainingLoop` does the rest, the same for everyone: warm-up steps that are undone (weights,
every optimizer's state, batches, random state), FLOPs of one real step, per-step times, a clock
that pauses for evaluations, the budget, divergence checks, progress. The generic supervised step
(:func:`supervised_step`: one optimizer on the task's loss) is the default ``step``.

An architecture that overrides ``train`` (the escape hatch) drives the same :class:`TrainingLoop`
itself through ``ctx.loop``::

    for _ in ctx.loop.steps(model, opt_g, opt_d):  # every optimizer, so the warm-up is undone
        x, _ = ctx.loop.batch()
        with ctx.loop.autocast():
            ...  # its own update
        ctx.loop.record_loss(loss)
    return ctx.loop.result()

and :func:`missed_obligations` says which of those it missed (``nnbench check`` reports them).
The timed loop is the one a careful engineer writes by hand: data already on the device, batches
by indexing, no per-step Python logging or hook calls.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from nnbench import measure
from nnbench.types import Architecture, Metric, RunContext, Task, TrainingSettings, TrainResult

# On CUDA the host clock runs ahead of the GPU, so the time budget and the loss are checked
# with a synchronisation only every this many steps (never every step).
CUDA_CHECK_EVERY = 50
NO_AUTOCAST = contextlib.nullcontext()
# The progress callback (the live display) is called every this many steps, never every step.
PROGRESS_EVERY = 25


class Batcher:
    """Random batches without replacement from tensors already on the device (one permutation per epoch)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None, batch_size: int, seed: int):
        self.x, self.y = x, y
        self.n = x.shape[0]
        self.batch_size = min(batch_size, self.n)
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.empty(0, dtype=torch.long, device=x.device)
        self.position = self.n  # forces a permutation on the first call

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch ``(x, y)``; ``y`` is None for unlabelled data. The last partial batch is dropped."""
        if self.position + self.batch_size > self.n:
            self.order = torch.randperm(self.n, generator=self.generator).to(self.x.device)
            self.position = 0
        index = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.x[index], (self.y[index] if self.y is not None else None)

    def state(self) -> tuple[Any, ...]:
        """Everything needed to replay the same batches."""
        return (self.generator.get_state(), self.order, self.position)

    def restore(self, state: tuple[Any, ...]) -> None:
        """Go back to a :meth:`state`."""
        generator_state, self.order, self.position = state
        self.generator.set_state(generator_state)


def make_optimizer(
    parameters, settings: TrainingSettings, *, lr_scale: float = 1.0, betas: tuple[float, float] | None = None
) -> torch.optim.Optimizer:
    """The optimizer a suite names (adamw, adam or sgd with momentum 0.9) over the trainable ``parameters``.

    Its learning rate is the suite's times ``lr_scale``, its weight decay the suite's; ``betas``, when
    given, are Adam's and AdamW's ``(beta1, beta2)`` (SGD has none: its momentum is 0.9).
    """
    params = [p for p in parameters if p.requires_grad]
    lr = settings.lr * lr_scale
    adam_options = {} if betas is None else {"betas": tuple(betas)}
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=settings.weight_decay, **adam_options)
    if settings.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=settings.weight_decay, **adam_options)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=settings.weight_decay)
    raise ValueError(f"unknown optimizer {settings.optimizer!r}")


class OptimizerMaker:
    """The ``make`` an architecture's ``optimizers`` receives: the suite's optimizer for a group of parameters.

    ``make(params, lr_scale=1.0, betas=None)``; see :func:`make_optimizer`. It remembers what it made,
    so the core can tell an optimizer that ignores the suite's settings (made by hand) from its own.
    """

    def __init__(self, settings: TrainingSettings):
        self.settings = settings
        self.made: list[torch.optim.Optimizer] = []

    def __call__(
        self, params, lr_scale: float = 1.0, betas: tuple[float, float] | None = None
    ) -> torch.optim.Optimizer:
        """The suite's optimizer over ``params``, at the suite's learning rate times ``lr_scale``."""
        if not (isinstance(lr_scale, (int, float)) and math.isfinite(lr_scale) and lr_scale > 0):
            raise ValueError(
                f"make(): lr_scale is a multiple of the suite's learning rate > 0, got {lr_scale!r}"
            )
        optimizer = make_optimizer(params, self.settings, lr_scale=lr_scale, betas=betas)
        self.made.append(optimizer)
        return optimizer


class TrainingLoop:
    """One trial's measured loop: phases, timer, budget, evaluations and their curve."""

    def __init__(self, task: Task, ctx: RunContext, log_metrics=None):
        spec = ctx.trial
        self.task = task
        self.ctx = ctx
        self.device = ctx.device
        self.settings = spec.training
        self.budget = spec.budget
        self.metric: Metric = task.metric()
        self.log_metrics = log_metrics  # the hook relay, called at evaluations only
        x, y = task.data["train"]
        self.batcher = Batcher(x, y, self.settings.batch_size, seed=spec.seed)
        self.timer = measure.StepTimer(self.device)
        self.curve: list[dict[str, Any]] = []
        self.step = 0
        self.samples = 0
        self.train_s = 0.0
        self.eval_s = 0.0
        self.warmup_s = 0.0
        self.flops: dict[str, Any] = {"flops": None, "flops_method": "not measured: loop never ran"}
        self.diverged = False
        self.last_loss: torch.Tensor | None = None
        self.best_val: float | None = None
        self.best_state: dict[str, Any] | None = None
        self.time_to_target_s: float | None = None
        self.steps_to_target: int | None = None
        self.samples_to_target: int | None = None
        self.best_step: int | None = None
        self._model: torch.nn.Module | None = None
        self._clock_start = 0.0
        self._timing = False
        self.counting_flops = False  # true during the one warm-up step whose FLOPs are counted
        self.warmup_step_s: list[float] = []
        self.progress = None  # callable(step, train_s), set by the runner for the live display
        # The energy meter of the timed window (set by the trial): it runs exactly while the clock does.
        self.window_energy: measure.EnergyMeter | None = None
        # What a train() escape hatch did with the loop, for missed_obligations(): the loop methods it
        # called, whether steps() ran to its end, and the optimizers stepped in the warm-up that were
        # not handed to steps() (their warm-up updates cannot be undone).
        self.called: set[str] = set()
        self.finished = False
        self.optimizers: tuple[torch.optim.Optimizer, ...] = ()
        self.unlisted_optimizers: list[str] = []
        # Whether the compiled model handed to step() ran (None: the core did not drive the loop, or
        # compile is off); see run_steps().
        self.compiled: bool | None = None
        # Optimizers from Architecture.optimizers() that its ``make`` did not make (set by run_steps).
        self.unmade_optimizers: list[str] = []

    # -- what a training loop calls ------------------------------------------------------------
    def batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next training batch, already on the device."""
        self.called.add("batch")
        x, y = self.batcher.next()
        if self._timing:
            self.samples += x.shape[0]
        return x, y

    def record_loss(self, loss: torch.Tensor) -> None:
        """Hand the step's loss to the loop; a non-finite loss ends the trial as diverged."""
        self.called.add("record_loss")
        self.last_loss = loss

    def steps(self, model: torch.nn.Module, *optimizers: torch.optim.Optimizer) -> Iterator[int]:
        """Yield step numbers: warm-up steps (undone afterwards), then timed steps until the budget ends.

        The caller's loop body runs between two yields, so it is exactly one step: the timer laps
        there, the first warm-up step runs under the FLOP counter, and evaluation pauses the clock.
        """
        self.called.add("steps")
        self._model = model
        self.optimizers = optimizers
        model.train()
        started = time.perf_counter()
        snapshot = self._snapshot(model, optimizers)
        # Warm-up steps are real steps (allocator, autotuning, lazy init); the first one is also the
        # step whose FLOPs are counted. Then every effect is undone: the timed run starts from the
        # same weights, optimizer state, batches and random state as if no warm-up had happened.
        # Which optimizers step is watched during the warm-up only: one that was not handed over here
        # would keep its warm-up updates.
        stepped: dict[int, torch.optim.Optimizer] = {}

        def note_step(optimizer, args, kwargs) -> None:  # a pre-hook returning None leaves the step as is
            stepped[id(optimizer)] = optimizer

        watch = register_optimizer_step_pre_hook(note_step)
        try:
            self.counting_flops = True
            with measure.count_step_flops(model) as flops:
                yield 0
            self.counting_flops = False
            self.flops = flops
            # A compiled model compiles on its first call, the step after the counted (eager) one.
            warmup_steps = max(self.settings.warmup_steps, 2 if self.settings.compile else 1)
            for warm_step in range(1, warmup_steps):
                step_started = time.perf_counter()
                yield warm_step
                measure.sync(self.device)
                self.warmup_step_s.append(time.perf_counter() - step_started)
        finally:
            watch.remove()
        listed = {id(optimizer) for optimizer in optimizers}
        self.unlisted_optimizers = [type(o).__name__ for key, o in stepped.items() if key not in listed]
        self._restore(model, optimizers, snapshot)
        self.last_loss = None
        measure.sync(self.device)
        self.warmup_s = time.perf_counter() - started
        yield from self._timed(model)

    def result(self) -> TrainResult:
        """The TrainResult of the loop as it ran."""
        self.called.add("result")
        final = float(self.last_loss.detach()) if self.last_loss is not None else None
        return TrainResult(steps=self.step, samples=self.samples, final_loss=final, diverged=self.diverged)

    # -- phases -----------------------------------------------------------------------------------
    def _copy(self, state: Any) -> Any:
        """A copy of a state dict the trial's device memory does not hold: the harness's copies (the
        warm-up snapshot, the selected checkpoint) are not the architecture's memory. On the CPU a copy
        is a copy (in RSS, documented)."""
        if self.device != "cuda":
            return copy.deepcopy(state)
        if isinstance(state, torch.Tensor):
            return state.detach().to("cpu", copy=True)
        if isinstance(state, dict):
            return {key: self._copy(value) for key, value in state.items()}
        if isinstance(state, (list, tuple)):
            return type(state)(self._copy(value) for value in state)
        return copy.deepcopy(state)

    def _snapshot(self, model, optimizers) -> dict[str, Any]:
        snapshot = {
            "model": self._copy(model.state_dict()),
            "optimizers": [self._copy(o.state_dict()) for o in optimizers],
            "batcher": self.batcher.state(),
            "rng": torch.get_rng_state(),
        }
        if self.device == "cuda":
            snapshot["cuda_rng"] = torch.cuda.get_rng_state_all()
        return snapshot

    def _restore(self, model, optimizers, snapshot) -> None:
        model.load_state_dict(snapshot["model"])
        for optimizer, state in zip(optimizers, snapshot["optimizers"]):
            optimizer.load_state_dict(state)
            optimizer.zero_grad(set_to_none=True)
        model.zero_grad(set_to_none=True)
        self.batcher.restore(snapshot["batcher"])
        torch.set_rng_state(snapshot["rng"])
        if "cuda_rng" in snapshot:
            torch.cuda.set_rng_state_all(snapshot["cuda_rng"])

    def autocast(self):
        """The autocast context of the trial's precision (bf16), or a no-op: wrap forward passes in it."""
        self.called.add("autocast")
        return self._autocast()

    def _autocast(self):
        if self.settings.precision != "bf16":
            return NO_AUTOCAST  # a disabled torch.autocast still costs microseconds per step
        return torch.autocast(device_type="cuda" if self.device == "cuda" else "cpu", dtype=torch.bfloat16)

    def _elapsed(self) -> float:
        """Training seconds so far: wall time of the window less paused evaluations (unless on the clock)."""
        elapsed = time.perf_counter() - self._clock_start
        return elapsed if self.settings.eval_on_clock else elapsed - self.eval_s

    def _out_of_budget(self) -> bool:
        if self.budget.steps is not None and self.step >= self.budget.steps:
            return True
        if self.budget.seconds is None:
            return False
        if self.device == "cuda":
            if self.step % CUDA_CHECK_EVERY:
                return False
            measure.sync(self.device)
        return self._elapsed() >= self.budget.seconds

    def _loss_is_finite(self) -> bool:
        if self.last_loss is None:
            return True
        if self.device == "cuda" and self.step % CUDA_CHECK_EVERY:
            return True  # read the loss without a per-step sync; checked every CUDA_CHECK_EVERY steps
        return math.isfinite(self.last_loss.item())

    def _energy(self, running: bool) -> None:
        # The meter follows the clock: it pauses for evaluations unless they are on the clock.
        if self.window_energy is not None:
            (self.window_energy.resume if running else self.window_energy.pause)()

    def _timed(self, model: torch.nn.Module) -> Iterator[int]:
        self._timing = True
        if self.window_energy is not None:
            self.window_energy.start()
        self._clock_start = time.perf_counter()
        self.timer.start()
        evaluated_at = -1
        while not self._out_of_budget():
            yield self.step
            self.timer.lap()
            self.step += 1
            if not self._loss_is_finite():
                self.diverged = True
                break
            if self.settings.eval_every and self.step % self.settings.eval_every == 0:
                self.evaluate(model, "val")
                evaluated_at = self.step
                self.timer.start()
            if self.progress is not None and self.step % PROGRESS_EVERY == 0:
                self._report_progress()
        measure.sync(self.device)
        self.train_s = self._elapsed()
        self._energy(running=False)
        self._timing = False
        self.finished = True
        if not self.diverged and evaluated_at != self.step:
            self.evaluate(model, "val")

    def _report_progress(self) -> None:
        # Progress feeds a display, an observer: if it fails, the trial goes on without it.
        try:
            self.progress(self.step, self._elapsed())
        except Exception:
            self.progress = None

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """Score ``model`` on ``split`` with the clock paused; validation points feed the curve and selection."""
        measure.sync(self.device)
        paused = time.perf_counter()
        train_s = self._elapsed() if self._timing else self.train_s
        off_clock = self._timing and not self.settings.eval_on_clock
        if off_clock:
            self._energy(running=False)
        was_training = model.training
        model.eval()
        with torch.no_grad(), self._autocast():
            metrics = {k: float(v) for k, v in self.task.evaluate(model, split).items()}
        model.train(was_training)
        for name, value in metrics.items():
            self.curve.append(
                {"step": self.step, "train_s": train_s, "split": split, "metric": name, "value": value}
            )
        if split == "val":
            self._select(model, metrics.get(self.metric.name), train_s)
            if self.log_metrics is not None:
                self.log_metrics(step=self.step, metrics=metrics, ctx=self.ctx)
        measure.sync(self.device)
        if off_clock:
            self._energy(running=True)
        self.eval_s += time.perf_counter() - paused
        return metrics

    def _select(self, model: torch.nn.Module, value: float | None, train_s: float) -> None:
        # The selected checkpoint is the one with the best validation score; the test split is
        # scored on it. Copies are made at evaluations only, outside the clock.
        if value is not None and math.isfinite(value) and self.metric.better(value, self.best_val):
            self.best_val = value
            self.best_step = self.step
            self.best_state = self._copy(model.state_dict())
        if self.time_to_target_s is None and self.metric.reached(value):
            self.time_to_target_s = train_s
            self.steps_to_target = self.step
            self.samples_to_target = self.samples


StepFunction = Callable[[torch.nn.Module, tuple[torch.Tensor, torch.Tensor | None], list], torch.Tensor]


def supervised_step(task: Task) -> StepFunction:
    """The generic supervised step on ``task``: minimise ``task.loss(model(x), y)`` with the one optimizer."""

    def step(model, batch, optimizers):
        x, y = batch
        (optimizer,) = optimizers
        loss = task.loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return step


def overrides(architecture: Architecture, method: str) -> bool:
    """Whether ``architecture``'s class overrides ``method`` of :class:`nnbench.Architecture`."""
    return getattr(type(architecture), method) is not getattr(Architecture, method)


def trainer_of(architecture: Architecture) -> str:
    """How the core trains ``architecture``: ``generic`` (the supervised step), ``step`` (its own
    ``step`` in the core's loop) or ``architecture`` (its own ``train``, the escape hatch)."""
    if overrides(architecture, "train"):
        return "architecture"
    return "step" if overrides(architecture, "step") else "generic"


def _optimizer_list(architecture: Architecture, optimizers: Any) -> list:
    """The optimizers ``architecture.optimizers`` returned, checked: a list of torch optimizers."""
    name = architecture.name
    if isinstance(optimizers, torch.optim.Optimizer) or not isinstance(optimizers, (list, tuple)):
        raise TypeError(
            f"{name}.optimizers() returned {type(optimizers).__name__}: return a list of optimizers made "
            "with make(params)"
        )
    for optimizer in optimizers:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"{name}.optimizers() returned a {type(optimizer).__name__} in its list, not an optimizer"
            )
    return list(optimizers)


def _check_loss(architecture: Architecture, loss: Any) -> None:
    if not (isinstance(loss, torch.Tensor) and loss.numel() == 1):
        what = (
            type(loss).__name__
            if not isinstance(loss, torch.Tensor)
            else f"a tensor of shape {tuple(loss.shape)}"
        )
        raise TypeError(
            f"{architecture.name}.step() returned {what}: return the step's loss, a scalar tensor"
        )


def _watch_compiled(loop: TrainingLoop, compiled: torch.nn.Module) -> None:
    """Note on ``loop`` whether the compiled model is ever called: a step that calls only submodules
    (a GAN's generator and critic) runs eager, and the record must not say compiled."""
    loop.compiled = False

    def called(module, args):
        loop.compiled = True
        handle.remove()  # once is enough: the timed steps run without the hook

    handle = compiled.register_forward_pre_hook(called)


def run_steps(
    model: torch.nn.Module, architecture: Architecture, task: Task, config: Any, ctx: RunContext
) -> TrainResult:
    """The one loop: train ``model`` with ``architecture``'s optimizers and step in the measured loop.

    ``prepare``, then ``optimizers(model, config, make)`` with the suite's settings, then per step a
    batch on the device and ``step(model, batch, optimizers)`` under the trial's autocast, its loss
    recorded. The step runs whole under autocast (its backward too), which is what ``torch.compile``
    assumes of a compiled region by default. With ``compile`` the step gets ``torch.compile(model)``
    from the second warm-up step on (the first, FLOP-counted one runs eager).
    """
    loop = ctx.loop
    assert loop is not None, "the runner sets ctx.loop before training"
    architecture.prepare(model, task, config)
    make = OptimizerMaker(ctx.training)
    optimizers = _optimizer_list(architecture, architecture.optimizers(model, config, make))
    # An optimizer made by hand ignores the suite's optimizer, lr and weight decay: the kit fails it.
    loop.unmade_optimizers = [type(o).__name__ for o in optimizers if not any(o is m for m in make.made)]
    step = architecture.step if overrides(architecture, "step") else supervised_step(task)
    step_model = model
    if ctx.training.compile:
        step_model = torch.compile(model)
        _watch_compiled(loop, step_model)
    for _ in loop.steps(model, *optimizers):
        batch = loop.batch()
        with loop.autocast():
            loss = step(model if loop.counting_flops else step_model, batch, optimizers)
        if loop.counting_flops:
            _check_loss(architecture, loss)
        loop.record_loss(loss)
    return loop.result()


def missed_obligations(loop: TrainingLoop, result: Any) -> list[str]:
    """What a ``train()`` escape hatch failed to do with ``ctx.loop``, one sentence each (empty: none).

    A loop of steps: ``ctx.loop.steps(model, *optimizers)`` with every optimizer it steps, iterated
    to its end; ``ctx.loop.batch()``; ``ctx.loop.autocast()``; ``ctx.loop.record_loss(loss)``; and
    ``ctx.loop.result()`` returned. A trainer without steps (fitted trees) evaluates the validation
    split with ``ctx.loop.evaluate(model, "val")`` and returns a TrainResult.
    """
    if not isinstance(result, TrainResult):
        return [f"train() returned {type(result).__name__}, not a TrainResult (return ctx.loop.result())"]
    if "steps" not in loop.called:
        if any(point["split"] == "val" for point in loop.curve):
            return []  # a trainer without steps that evaluated: gbdt's way, measured by its wall clock
        return [
            "train() did not use ctx.loop.steps(): nothing is timed or checked per step (a trainer without "
            "steps must at least call ctx.loop.evaluate(model, 'val') after fitting)"
        ]
    missed = []
    if loop.unlisted_optimizers:
        missed.append(
            f"train() stepped {', '.join(loop.unlisted_optimizers)} without handing it to ctx.loop.steps(model, "
            "*optimizers): its warm-up updates were not undone"
        )
    if not loop.finished:
        missed.append(
            "train() left ctx.loop.steps() before it ended: the budget and the timed window were cut short"
        )
    if "batch" not in loop.called:
        missed.append(
            "train() never called ctx.loop.batch(): its batches are not the suite's and samples go uncounted"
        )
    if "autocast" not in loop.called:
        missed.append("train() never entered ctx.loop.autocast(): a bf16 suite would train it in fp32")
    if "record_loss" not in loop.called:
        missed.append("train() never called ctx.loop.record_loss(loss): no final loss, divergence unchecked")
    if (result.steps, result.samples) != (loop.step, loop.samples):
        missed.append(
            f"train() returned a TrainResult of {result.steps} steps and {result.samples} samples, the loop ran "
            f"{loop.step} and {loop.samples}: return ctx.loop.result()"
        )
    return missed
