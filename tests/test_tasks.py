"""The built-in tasks: deterministic data, split sizes, shapes, labels and metrics."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pydantic
import pytest
import torch
from torch import nn

import nnbench
from nnbench.tasks import BUILTIN_TASKS, TASK_MODULES, metrics
from nnbench.tasks.digits import Digits
from nnbench.tasks.running_parity import RunningParity
from nnbench.tasks.splits import split_indices
from nnbench.tasks.tabular_real import TabularReal
from nnbench.tasks.toy2d import MODE_STD, RADIUS, Toy2D

torch.set_num_threads(1)

SMALL_PARITY = RunningParity.Config(seq_len=12, n_train=300, n_val=50, n_test=60)


def make(task_class, config=None, seed=0):
    task = task_class(config)
    task.setup(seed=seed, device="cpu")
    return task


def all_tasks():
    return [
        Digits(),
        TabularReal(),
        TabularReal(TabularReal.Config(dataset="wine")),
        RunningParity(SMALL_PARITY),
        Toy2D(),
    ]


def ids(task):
    return f"{task.name}:{task.config.model_dump()}"


TASKS = all_tasks()
SMOKE_TASKS = (Digits, TabularReal, RunningParity, Toy2D)  # the rest of the catalogue: test_task_catalogue.py


# ---------------------------------------------------------------------------------------------
# Declarations and registration
# ---------------------------------------------------------------------------------------------


def test_each_task_module_registers_its_own_tasks_once():
    # As each built-in architecture module does: the registry names the module as the task's plugin.
    import importlib

    from nnbench.registry import get_registry

    registry = get_registry()
    registered = []
    for module_name in TASK_MODULES:
        module = importlib.import_module(module_name)
        mine = []
        module.register_tasks(register=mine.append)
        assert mine and all(task.__module__ == module_name for task in mine), module_name
        assert all(registry.owners[("task", task.name)] == module_name for task in mine)
        registered += mine
    assert registered == list(BUILTIN_TASKS)
    assert len({t.name for t in registered}) == len(registered)
    assert {t.name for t in registered if t.tier == "smoke"} == {
        "digits",
        "running-parity",
        "tabular-real",
        "toy2d",
    }


def test_every_task_defined_in_the_tasks_package_is_registered():
    # A task module missing from TASK_MODULES, or a task class missing from its module's hook, would
    # silently not exist: every named Task subclass under nnbench/tasks/ must be registered.
    import importlib
    import inspect
    import pkgutil

    import nnbench.tasks
    from nnbench.types import Task

    defined = set()
    for info in pkgutil.iter_modules(nnbench.tasks.__path__):
        module = importlib.import_module(f"nnbench.tasks.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Task) and obj.__module__ == module.__name__ and obj.name:
                defined.add(obj)
    assert defined == set(BUILTIN_TASKS)
    assert {nnbench.get_task(task.name) for task in defined} == defined


def test_registry_finds_the_builtin_tasks():
    assert nnbench.get_task("digits") is Digits
    assert nnbench.get_task("running-parity") is RunningParity


def test_importing_the_tasks_package_does_not_import_torch_or_sklearn():
    code = "import sys, nnbench.tasks; print(sorted(m for m in ('torch', 'sklearn', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("task_class", SMOKE_TASKS, ids=lambda t: t.name)
def test_declarations(task_class):
    # running-parity 2: test_4x; every smoke task's next version: its test split is the same for every seed
    assert task_class.version == (3 if task_class is RunningParity else 2)
    assert task_class.tier == "smoke"
    assert task_class.description.count(".") >= 2  # what it tests, and who should win
    task = task_class()
    metric = task.metric()
    assert isinstance(metric, nnbench.Metric)
    spec = task.spec()
    assert spec.name == task_class.name
    with pytest.raises(pydantic.ValidationError):
        task_class.Config(no_such_option=1)


def test_configs_are_validated():
    with pytest.raises(pydantic.ValidationError):
        Toy2D.Config(variant="circles")
    with pytest.raises(pydantic.ValidationError):
        TabularReal.Config(dataset="iris")
    with pytest.raises(pydantic.ValidationError):
        RunningParity.Config(seq_len=0)


# ---------------------------------------------------------------------------------------------
# Data: determinism, splits, shapes
# ---------------------------------------------------------------------------------------------


def assert_same_data(a, b):
    for split in nnbench.types.SPLITS:
        for ta, tb in zip(a[split], b[split], strict=True):
            assert (ta is None) == (tb is None)
            if ta is not None:
                assert torch.equal(ta, tb)


@pytest.mark.parametrize("task", TASKS, ids=ids)
def test_data_is_deterministic_per_seed(task):
    assert_same_data(task.make_data(0), task.make_data(0))
    first, other = task.make_data(0), task.make_data(1)
    assert torch.equal(first["test"][0], other["test"][0])  # the test split does not depend on the seed
    assert not torch.equal(first["val"][0], other["val"][0])  # the validation split does


@pytest.mark.parametrize("task", TASKS, ids=ids)
def test_data_matches_spec(task):
    spec = task.spec()
    data = task.make_data(3)
    assert set(data) == {"train", "val", "test", *task.extra_splits}
    for split, (x, y) in data.items():
        assert x.device.type == "cpu"
        if split not in task.extra_splits:  # running-parity's test_4x is 4x longer
            assert tuple(x.shape[1:]) == spec.input_shape
        if spec.vocab_size is not None:
            assert x.dtype == torch.long
            assert int(x.min()) >= 0 and int(x.max()) < spec.vocab_size
        else:
            assert x.dtype == torch.float32
        if spec.kind == "classification":
            assert y.dtype == torch.long and len(y) == len(x)
            assert (
                y.shape[1:] == x.shape[1 : len(spec.output_shape)]
            )  # per-position labels for (T, C) outputs
            assert int(y.min()) >= 0 and int(y.max()) < spec.num_classes
            assert spec.output_shape[-1] == spec.num_classes
        else:
            assert y is None


@pytest.mark.parametrize(
    "task_class, sizes",
    [(Digits, (1078, 359, 360)), (TabularReal, (341, 113, 115))],
    ids=["digits", "tabular-real"],
)
def test_bundled_tables_split_60_20_20_without_losing_or_repeating_rows(task_class, sizes):
    data = make(task_class).data
    assert tuple(len(data[split][1]) for split in ("train", "val", "test")) == sizes
    rows = np.concatenate(list(split_indices(sum(sizes), 0).values()))
    assert sorted(rows.tolist()) == list(range(sum(sizes)))
    assert {split: len(index) for split, index in split_indices(sum(sizes), 0).items()} == dict(
        zip(("train", "val", "test"), sizes, strict=True)
    )


def test_digits_pixels_are_scaled_to_the_unit_interval():
    from sklearn.datasets import load_digits

    task = make(Digits, seed=5)
    x, y = task.data["val"]
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    bunch = load_digits()
    rows = split_indices(len(bunch.target), 5)["val"]
    assert torch.allclose(x[:, 0], torch.tensor(bunch.images[rows] / 16.0, dtype=torch.float32))
    assert torch.equal(y, torch.tensor(bunch.target[rows]))


def test_tabular_standardization_uses_the_non_test_rows_only():
    from sklearn.datasets import load_breast_cancer

    task = make(TabularReal, seed=7)
    raw = load_breast_cancer().data
    rows = split_indices(len(raw), 7)
    development = np.concatenate([rows["train"], rows["val"]])
    mean, std = raw[development].mean(axis=0), raw[development].std(axis=0)
    for split in ("train", "val", "test"):
        expected = torch.tensor((raw[rows[split]] - mean) / std, dtype=torch.float32)
        assert torch.allclose(task.data[split][0], expected, atol=1e-5)
    development_x = torch.cat([task.data["train"][0], task.data["val"][0]])
    assert torch.allclose(development_x.mean(0), torch.zeros(30), atol=1e-5)
    assert torch.allclose(development_x.std(0, unbiased=False), torch.ones(30), atol=1e-4)
    assert task.data["train"][0].shape == (341, 30)
    assert float(task.data["test"][0].mean(0).abs().max()) > 1e-3  # not standardized with its own stats
    assert torch.equal(task.data["test"][0], make(TabularReal, seed=3).data["test"][0])  # nor the seed's


def test_wine_variant_changes_the_spec():
    spec = TabularReal(TabularReal.Config(dataset="wine")).spec()
    assert spec.input_shape == (13,) and spec.output_shape == (3,) and spec.num_classes == 3


def test_running_parity_labels_are_prefix_parities():
    task = make(RunningParity, SMALL_PARITY)
    x, y = task.data["train"]
    assert x.shape == y.shape == (300, 12)
    for row in range(20):
        bits = x[row].tolist()
        assert y[row].tolist() == [sum(bits[: t + 1]) % 2 for t in range(12)]
    assert 0.4 < x.float().mean() < 0.6


def test_running_parity_default_sizes_and_spec():
    task = RunningParity()
    data = task.make_data(0)
    assert {split: tuple(x.shape) for split, (x, _) in data.items()} == {
        "train": (4000, 32),
        "val": (500, 32),
        "test": (500, 32),
        "test_4x": (500, 128),
    }
    spec = task.spec()
    assert spec.causal and spec.vocab_size == 2 and spec.output_shape == (32, 2)
    assert task.metric() == nnbench.Metric(
        "accuracy", higher_is_better=True, target=0.99, margin=nnbench.Margin(0.01), anchors=(0.5, 0.99)
    )


def test_toy2d_points_lie_on_eight_modes():
    task = make(Toy2D)
    assert {split: len(x) for split, (x, _) in task.data.items()} == {
        "train": 2000,
        "val": 1000,
        "test": 1000,
    }
    x = task.data["train"][0]
    radius = x.norm(dim=1)
    assert float((radius - RADIUS).abs().max()) < 6 * MODE_STD
    angles = torch.atan2(x[:, 1], x[:, 0])
    modes = torch.round(angles / (2 * torch.pi / 8)).long() % 8
    counts = torch.bincount(modes, minlength=8)
    assert counts.min() > 150  # about 250 each


# ---------------------------------------------------------------------------------------------
# Loss and evaluate
# ---------------------------------------------------------------------------------------------


class Replay(nn.Module):
    """A classifier that answers with fixed logits, row after row, in the order it is asked."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.cursor = 0
        self.calls = 0

    def forward(self, x):
        out = self.logits[self.cursor : self.cursor + len(x)]
        self.cursor += len(x)
        self.calls += 1
        return out


def one_hot_logits(y, num_classes):
    return nn.functional.one_hot(y, num_classes).float() * 10.0


CLASSIFICATION = [Digits(), TabularReal(), RunningParity(SMALL_PARITY)]


@pytest.mark.parametrize("task", CLASSIFICATION, ids=ids)
def test_oracle_scores_perfect_accuracy_and_trivial_model_scores_class_frequency(task):
    task.setup(seed=0, device="cpu")
    num_classes = task.spec().num_classes
    _, y = task.data["test"]
    with torch.no_grad():
        oracle = task.evaluate(Replay(one_hot_logits(y, num_classes)), "test")
        zeros = task.evaluate(Replay(one_hot_logits(torch.zeros_like(y), num_classes)), "test")
    metric = task.metric()
    assert oracle[metric.name] == 1.0
    assert metric.reached(oracle[metric.name])
    assert oracle["loss"] < 1e-3
    assert zeros[metric.name] == pytest.approx((y == 0).float().mean().item())
    assert all(type(v) is float for v in (*oracle.values(), *zeros.values()))


def test_evaluate_runs_in_chunks():
    task = make(RunningParity, RunningParity.Config(seq_len=16, n_train=10, n_val=10, n_test=2500))
    model = Replay(one_hot_logits(task.data["test"][1], 2))
    with torch.no_grad():
        scores = task.evaluate(model, "test")
    assert model.calls == 3  # 1024 + 1024 + 452
    assert scores == {
        "accuracy": 1.0,
        "last_position_accuracy": 1.0,
        "sequence_accuracy": 1.0,
        "loss": scores["loss"],
    }


def test_running_parity_loss_is_cross_entropy_over_positions():
    task = make(RunningParity, SMALL_PARITY)
    _, y = task.data["train"]
    logits = torch.zeros(*y.shape, 2)
    assert task.loss(logits, y).item() == pytest.approx(np.log(2), abs=1e-6)
    assert task.loss(one_hot_logits(y, 2), y).item() < 1e-3


def test_toy2d_has_no_generic_loss_and_needs_sample():
    task = make(Toy2D)
    with pytest.raises(NotImplementedError):
        task.loss(torch.zeros(2, 2), None)
    with pytest.raises(TypeError, match="sample"):
        task.evaluate(nn.Linear(2, 2), "test")


class Sampler(nn.Module):
    def __init__(self, draw):
        super().__init__()
        self.draw = draw

    def sample(self, n):
        return self.draw(n)


def test_toy2d_metrics_rank_real_points_far_above_a_point_mass():
    task = make(Toy2D, seed=4)
    test_points = task.data["test"][0]
    val_points = task.data["val"][0]
    generator = torch.Generator().manual_seed(0)
    collapsed_mode = test_points[:1] + MODE_STD * torch.randn(1000, 2, generator=generator)
    with torch.no_grad():
        exact = task.evaluate(Sampler(lambda n: test_points[:n]), "test")
        fresh = task.evaluate(Sampler(lambda n: val_points[:n]), "test")
        origin = task.evaluate(Sampler(lambda n: 0.01 * torch.randn(n, 2, generator=generator)), "test")
        one_mode = task.evaluate(Sampler(lambda n: collapsed_mode[:n]), "test")
    assert task.metric() == nnbench.Metric(
        "mmd",
        higher_is_better=False,
        target=None,
        margin=nnbench.Margin(0.1, relative=True),
        anchors=(0.0568, 0.00259),
    )
    assert exact["mmd"] < 1e-6 and exact["sliced_wasserstein"] < 1e-6
    assert fresh["mmd"] < 0.01 and fresh["sliced_wasserstein"] < 0.3  # floor: finite samples
    assert origin["mmd"] > 50 * fresh["mmd"]
    assert origin["sliced_wasserstein"] > 5 * fresh["sliced_wasserstein"]
    assert one_mode["mmd"] > 20 * fresh["mmd"]
    assert exact["modes_covered"] == fresh["modes_covered"] == 1.0 and fresh["high_quality"] > 0.95
    assert one_mode["modes_covered"] == 1 / 8 and origin["modes_covered"] == 0.0
    assert all(type(v) is float for v in exact.values())


# ---------------------------------------------------------------------------------------------
# Metric functions
# ---------------------------------------------------------------------------------------------


def test_mmd_is_symmetric_chunk_independent_and_zero_on_equal_sets():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(300, 2, generator=generator)
    b = torch.randn(200, 2, generator=generator) + 1.0
    assert metrics.mmd(a, a) == pytest.approx(0.0, abs=1e-6)
    assert metrics.mmd(a, b) == pytest.approx(metrics.mmd(b, a), rel=1e-5)
    assert metrics.mmd(a, b, chunk_size=7) == pytest.approx(metrics.mmd(a, b), rel=1e-5)
    same_law = torch.randn(200, 2, generator=generator)
    assert metrics.mmd(a, b) > 10 * metrics.mmd(a, same_law)


def test_sliced_wasserstein_of_a_shift_is_its_projected_length():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(500, 2, generator=generator)
    shift = torch.tensor([3.0, 0.0])
    value = metrics.sliced_wasserstein(a, a + shift, num_projections=512)
    # W2 along direction u is |<shift, u>|; averaged over uniform directions E[cos^2] = 1/2.
    assert value == pytest.approx(3.0 / np.sqrt(2), rel=0.05)
    assert metrics.sliced_wasserstein(a, a[:250]) < 0.2  # unequal sizes: matched quantiles


def test_accuracy_counts_every_position():
    logits = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]]])  # (2, 2, 2)
    assert metrics.accuracy(logits, torch.tensor([[0, 1], [1, 1]])) == 0.5


def test_bundled_tables_equal_scikit_learns():
    import numpy as np
    import sklearn.datasets

    from nnbench.tasks import bundled

    for ours, theirs in [
        (bundled.load_digits(), sklearn.datasets.load_digits()),
        (bundled.load_breast_cancer(), sklearn.datasets.load_breast_cancer()),
        (bundled.load_wine(), sklearn.datasets.load_wine()),
    ]:
        assert np.array_equal(ours.data, theirs.data) and np.array_equal(ours.target, theirs.target)
    assert np.array_equal(bundled.load_digits().images, sklearn.datasets.load_digits().images)
