"""The types of the plugin contract: what an architecture and a task are, and what they exchange.

This module must not import torch at import time: ``nnbench --help`` and ``nnbench list`` stay fast.
Fields are only ever added to these types, never removed or renamed (the public contract).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

    from nnbench.training import TrainingLoop

MODALITIES = frozenset({"tabular", "image", "sequence", "points"})
KINDS = frozenset({"classification", "regression", "generation"})
SPLITS = ("train", "val", "test")


class Config(pydantic.BaseModel):
    """Base class of every architecture's and task's options: unknown keys are an error."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class TaskSpec:
    """What an architecture builds from: the shapes and kind of one task.

    A model's ``forward`` maps a batch ``(B, *input_shape)`` to ``(B, *output_shape)``;
    a generative model also has ``sample(n) -> (n, *output_shape)``.
    """

    name: str
    modality: str  # tabular | image | sequence | points
    kind: str  # classification | regression | generation
    input_shape: tuple[int, ...]  # tabular (F,), image (C, H, W), tokens (T,), features (T, F), points (D,)
    output_shape: tuple[
        int, ...
    ]  # (C,) whole-input class, (T, C) per position, (k,) regression, sample shape
    vocab_size: int | None = None  # distinct tokens when inputs are integer tokens (long tensors)
    num_classes: int | None = None  # classes for classification
    causal: bool = False  # per-position outputs may only look at positions <= t


@dataclass(frozen=True)
class Budget:
    """How long one trial trains: whichever of steps and seconds ends first."""

    steps: int | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class TrainingSettings:
    """The training settings of a trial, after suite defaults and per-architecture overrides.

    The core's loop applies them to every architecture it drives: ``optimizer``, ``lr`` and
    ``weight_decay`` through the ``make`` of :meth:`Architecture.optimizers`, ``batch_size`` through
    the batches handed to :meth:`Architecture.step`.
    """

    batch_size: int = 128
    optimizer: str = "adamw"  # adamw | adam | sgd
    lr: float = 1e-3
    weight_decay: float = 0.0
    eval_every: int = 100  # steps between validation evaluations (0: only at the end)
    warmup_steps: int = 3  # real steps run and undone before the timed window
    eval_on_clock: bool = False  # MLPerf style: evaluation time counts as training time
    precision: str = "fp32"  # fp32 | tf32 (CUDA matmuls and convolutions) | bf16 (autocast)
    compile: bool = False  # torch.compile the model handed to step() (compile time recorded apart)
    channels_last: bool = False  # image models and inputs in channels_last memory format
    cudnn_benchmark: bool = False  # let cuDNN autotune convolution algorithms (CUDA)


@dataclass(frozen=True)
class TrialSpec:
    """One trial, fully resolved: everything that decides its result, and so its id."""

    trial_id: str
    architecture: str
    arch_config: dict[str, Any]
    task: str
    task_config: dict[str, Any]
    task_version: int
    seed: int
    device: str  # cpu | cuda | mps (resolved, never "auto")
    budget: Budget
    training: TrainingSettings
    threads: int | None = None  # torch intra-op threads for CPU trials
    price_per_hour_usd: float | None = None
    plugin_files: tuple[str, ...] = ()  # loose plugin files the trial's process must load
    label: str = ""  # human label for progress lines
    stage: str = "main"  # main (an ordinary trial) | tune (a tuning study's trial) | final (a tuned re-run)
    size: str | None = None  # the architecture's named size, when the suite asked for one
    study: str | None = None  # tune: the id of the tuning study this trial belongs to
    tune_index: int | None = None  # tune: its position in the study (0, 1, ...)
    hparams: dict[str, Any] | None = None  # tune and final: the sampled hyper-parameters (search-space keys)
    tuned_from: str | None = None  # final: the id of the study whose best configuration it re-runs
    tune_trials: int | None = None  # tune and final: tuning trials the study has (the same for every pair)
    tune_sampler: str | None = None  # tune and final: tpe | random | qmc
    inference_lengths: tuple[int, ...] = ()  # sequence tasks: lengths to time inference at after training


@dataclass
class TrainResult:
    """What a training loop returns; ``TrainingLoop.result()`` builds it for you."""

    steps: int
    samples: int
    final_loss: float | None = None
    diverged: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    """Everything a lifecycle hook may need about the trial in hand. Fields are only ever added."""

    trial: TrialSpec
    device: str
    task: Task | None = None  # the live task with its data on the device
    loop: TrainingLoop | None = None  # the measured training loop (present during build/train)
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def training(self) -> TrainingSettings:
        """The resolved training settings of this trial."""
        return self.trial.training


@dataclass
class SuiteContext:
    """What the suite-level hooks (suite_started, trial_finished, suite_finished) get as ``ctx``."""

    run_id: str
    suite_name: str
    device: str
    db_path: str
    extra: dict[str, Any] = field(default_factory=dict)
    # trial_finished only: the trial's evaluation points as stored in the curves table, each
    # {"step", "train_s", "split", "metric", "value"} (the validation curve, then the test point).
    curve: list[dict[str, Any]] = field(default_factory=list)


class Architecture:
    """Base class of an architecture plugin.

    Subclasses set ``name``, ``modalities``, ``kinds``, a nested ``Config`` (a :class:`Config`
    subclass whose defaults train on a CPU in seconds) and implement :meth:`build`. The core trains
    every architecture in one measured loop: by default one optimizer on the task's loss. One that
    needs more (a GAN's two nets, a diffusion model's noising) overrides :meth:`optimizers` and
    :meth:`step` (and :meth:`prepare` to fit data statistics); :meth:`train` is the escape hatch
    for a trainer the loop cannot drive (fitted trees).
    """

    name: ClassVar[str] = ""
    modalities: ClassVar[set[str] | frozenset[str]] = frozenset()
    kinds: ClassVar[set[str] | frozenset[str]] = frozenset({"classification", "regression"})
    Config: ClassVar[type[Config]] = Config
    reference: ClassVar[bool] = (
        False  # a non-neural reference row (e.g. gradient-boosted trees), marked in reports
    )
    # Named sizes (like minGPT's gpt-nano, gpt-micro): size name -> Config overrides, smallest first.
    # ``size: [xs, s, m, l]`` in a suite sweeps them for the report's scaling section.
    sizes: ClassVar[dict[str, dict[str, Any]]] = {}
    # What a tuned suite may vary: Config field or "training.<setting>" -> nnbench.LogUniform,
    # Uniform, IntRange or Choice (see nnbench.space). A suite can narrow or override it.
    search_space: ClassVar[dict[str, Any]] = {}
    # Sequence models: the Config field that sets the model's width (``"d_model"``, ``"hidden"``),
    # recorded per trial as ``model_width`` for the report's recall section; None: not declared.
    width_option: ClassVar[str | None] = None

    def state_size(self, task: TaskSpec, config: Any, *, length: int) -> int | None:
        """Numbers one sequence's inference keeps after ``length`` positions to go on reading it, or None
        (the default: not declared).

        A recurrent network's state, a Transformer's KV cache (grows with ``length``), a causal
        convolution's buffer of recent inputs. Recorded per trial as ``state_numbers`` and
        ``state_bytes`` (for the report's recall and context sections); never called to train.
        """
        return None

    def build(self, task: TaskSpec, config: Any) -> torch.nn.Module:
        """Return a model mapping ``(B, *task.input_shape)`` to ``(B, *task.output_shape)``."""
        raise NotImplementedError(f"architecture {self.name!r} does not implement build()")

    def prepare(self, model: torch.nn.Module, task: Task, config: Any) -> None:
        """Fit what the model learns from data before training (a generative model's data scaling).

        Called once by the core with the model on the device and ``task.data`` on it too, before
        :meth:`optimizers`; outside the timed window. The default does nothing.
        """

    def optimizers(self, model: torch.nn.Module, config: Any, make: Any) -> list[torch.optim.Optimizer]:
        """The optimizers :meth:`step` updates, each made with ``make`` so the suite's settings apply.

        ``make(params, lr_scale=1.0, betas=None)`` builds the suite's optimizer (``training.optimizer``)
        over ``params`` with the suite's learning rate times ``lr_scale`` and its weight decay;
        ``betas`` sets Adam's and AdamW's ``(beta1, beta2)`` (SGD, momentum 0.9, has none). The
        default: one optimizer over every parameter, ``[make(model.parameters())]``.
        """
        return [make(model.parameters())]

    def step(
        self, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor | None], optimizers: list[Any]
    ) -> torch.Tensor:
        """One training step on ``batch`` ``(x, y)`` (y None for unlabelled data); return its loss.

        The step owns its updates: it calls ``zero_grad``, ``backward`` and ``optimizer.step()`` on the
        ``optimizers`` :meth:`optimizers` made, as many times and in the order it needs (a GAN updates
        its critic, then its generator). The core calls it once per step of the measured loop, under
        the trial's autocast, with the compiled model when the suite asks for ``compile``; the loss
        returned (a scalar tensor) is recorded, and a non-finite one ends the trial as diverged.
        Not overridden: the generic supervised step, ``task.loss(model(x), y)`` minimised by the one
        optimizer (the core supplies it, since it needs the task).
        """
        raise NotImplementedError(
            f"architecture {self.name!r} does not override step(): the core trains it with the generic "
            "supervised step"
        )

    def train(self, model: torch.nn.Module, task: Task, config: Any, ctx: RunContext) -> TrainResult | None:
        """The escape hatch: run the whole training yourself and return a TrainResult; None (the default)
        lets the core's loop train with :meth:`optimizers` and :meth:`step`.

        A loop of steps keeps the measurement by driving ``ctx.loop``: ``for _ in ctx.loop.steps(model,
        *every_optimizer)``, to its end, with ``ctx.loop.batch()``, forward passes under
        ``ctx.loop.autocast()``, ``ctx.loop.record_loss(loss)`` each step, and ``return
        ctx.loop.result()``. A trainer without steps (fitted trees) calls ``ctx.loop.evaluate(model,
        "val")`` after fitting. ``nnbench check`` says which of these a ``train`` missed.
        """
        return None

    def incompatibility(self, task: TaskSpec) -> str | None:
        """Why this architecture cannot take ``task``, or None when it can."""
        if task.modality not in self.modalities:
            return f"{self.name} takes {one_of(self.modalities)} inputs, not {task.modality}"
        if task.kind not in self.kinds:
            return f"{self.name} does {one_of(self.kinds)}, not {task.kind}"
        return None


def one_of(words) -> str:
    """``{"image", "points"}`` -> ``"image or points"``: a set of names in words, sorted."""
    ordered = sorted(str(w) for w in words)
    if len(ordered) <= 1:
        return "".join(ordered)
    return ", ".join(ordered[:-1]) + " or " + ordered[-1]


@dataclass(frozen=True)
class Margin:
    """A practical equivalence margin: differences smaller than this are "the same" for the metric.

    ``Margin(0.01)`` is absolute, in the metric's units (accuracy: one point). ``Margin(0.1,
    relative=True)`` is a share of the reference's mean (the leader's in a leaderboard, the baseline's
    in a two-run comparison): for error-like metrics (MMD, FID) whose scale moves by orders of
    magnitude. See docs/verdicts.md.
    """

    value: float
    relative: bool = False

    def __post_init__(self) -> None:
        if not self.value >= 0:  # also refuses NaN
            raise ValueError(f"a margin is a number >= 0, got {self.value!r}")

    def absolute(self, reference: float) -> float:
        """The margin in the metric's units, for a reference mean ``reference``."""
        return abs(reference) * self.value if self.relative else self.value

    def __str__(self) -> str:
        return f"{self.value:.4g} relative" if self.relative else f"{self.value:.4g}"


@dataclass(frozen=True)
class Metric:
    """A task's primary metric: its name, its direction, an optional target, and what verdicts use.

    ``margin`` is the equivalence margin of comparisons (None: equivalence is never concluded);
    ``anchors`` are the fixed ``(zero, one)`` values of the metric that normalise scores across
    tasks: ``zero`` is chance level or an untrained or trivial model, ``one`` the task's target
    (or, for a task without one, what its docstring says). Normalised score:
    ``(value - zero) / (one - zero)``, higher is better whatever the metric's direction.
    """

    name: str
    higher_is_better: bool
    target: float | None = None
    margin: Margin | None = None
    anchors: tuple[float, float] | None = None

    def reached(self, value: float | None) -> bool:
        """Whether ``value`` meets the target (False without a target or a value)."""
        if self.target is None or value is None:
            return False
        return value >= self.target if self.higher_is_better else value <= self.target

    def better(self, a: float | None, b: float | None) -> bool:
        """Whether ``a`` is strictly better than ``b`` (None is worst)."""
        if a is None:
            return False
        if b is None:
            return True
        return a > b if self.higher_is_better else a < b


class Task:
    """Base class of a task: it owns its data and its judgement.

    Subclasses set ``name``, ``version``, ``tier``, ``description`` and a nested ``Config``,
    and implement :meth:`spec`, :meth:`metric`, :meth:`make_data` and :meth:`evaluate`
    (and :meth:`loss` for tasks the generic supervised step can train on).
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1  # bump when the data or the metric changes
    tier: ClassVar[str] = "smoke"  # smoke | quick | long | local
    description: ClassVar[str] = ""  # what the task tests and which family should win it, and why
    Config: ClassVar[type[Config]] = Config
    # Extra evaluation splits scored on the selected checkpoint after "test" (e.g. "test_4x" for
    # length generalisation); make_data returns them too; results go to the record's extra_metrics.
    extra_splits: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Config | None = None):
        self.config = config if config is not None else self.Config()
        self.data: dict[str, tuple[Any, Any]] = {}
        self.device = "cpu"

    # -- declared by every task -------------------------------------------------------------
    def spec(self) -> TaskSpec:
        """The shapes and kind an architecture builds from (independent of the seed)."""
        raise NotImplementedError

    def metric(self) -> Metric:
        """The primary metric, its direction and target."""
        raise NotImplementedError

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Return ``{"train": (x, y), "val": (x, y), "test": (x, y)}`` as CPU tensors (y may be None)."""
        raise NotImplementedError

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """Score ``model`` on ``split``; the result holds the primary metric under its name."""
        raise NotImplementedError

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The training loss of the generic supervised step."""
        raise NotImplementedError(f"task {self.name!r} has no loss for the generic supervised step")

    # -- provided -------------------------------------------------------------------------------
    def setup(self, seed: int, device: str) -> None:
        """Make the data for ``seed`` and put it on ``device`` once, as tensors."""
        self.device = device
        data = self.make_data(seed)
        self.data = {
            split: tuple(t.to(device) if t is not None else None for t in pair)
            for split, pair in data.items()
        }
