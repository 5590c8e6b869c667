"""The task catalogue of issue 3: determinism, shapes, labels checked independently, oracles, checksums,
variants and the generative metrics' floors."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydantic
import pytest
import torch
from torch import nn

import nnbench
from nnbench.errors import DataError
from nnbench.tasks import BUILTIN_TASKS, metrics, mnist1d
from nnbench.tasks.digits import Digits
from nnbench.tasks.digits_gen import DigitsGen, digit_splits
from nnbench.tasks.digits_shifted import DigitsShifted
from nnbench.tasks.listops import CLOSE, OPERATORS, ListOps, make_expression, token_names
from nnbench.tasks.local_images import CIFAR10, MNIST, FashionMNIST
from nnbench.tasks.local_tables import CSVTable, ParquetTable
from nnbench.tasks.mnist1d import MNIST1D, MNIST1DShuffled
from nnbench.tasks.mqar import MQAR
from nnbench.tasks.running_parity import RunningParity
from nnbench.tasks.splits import GENERATED_TEST_STREAM
from nnbench.tasks.tabular import Tabular
from nnbench.tasks.toy2d import MODE_STD, Toy2D, mode_centers

torch.set_num_threads(1)

SMALL_MQAR = MQAR.Config(vocab_size=32, seq_len=32, num_kv_pairs=4, n_train=200, n_val=50, n_test=300)
SMALL_LISTOPS = ListOps.Config(
    max_depth=3, max_args=4, min_length=8, seq_len=40, n_train=200, n_val=50, n_test=300
)
SMALL_PARITY = RunningParity.Config(seq_len=12, n_train=300, n_val=50, n_test=60)
SMALL_TABULAR = Tabular.Config(n_samples=400)

# New generated tasks, small where they have sizes (local loaders are in test_loaders.py).
GENERATED = [
    DigitsShifted(),
    DigitsShifted(DigitsShifted.Config(canvas=12)),
    MNIST1D(),
    MNIST1DShuffled(),
    MQAR(SMALL_MQAR),
    ListOps(SMALL_LISTOPS),
    Tabular(SMALL_TABULAR),
    RunningParity(SMALL_PARITY),
    DigitsGen(),
    *[
        Toy2D(Toy2D.Config(variant=v, n_train=300, n_val=200, n_test=200))
        for v in ("checkerboard", "swissroll")
    ],
]
CATALOGUE = {
    "digits-shifted": "quick",
    "mnist1d": "quick",
    "mnist1d-shuffled": "quick",
    "mqar": "quick",
    "tabular": "quick",
    "digits-gen": "quick",
    "listops": "long",
    "mnist": "local",
    "fashion-mnist": "local",
    "cifar10": "local",
    "csv": "local",
    "parquet": "local",
}


def ids(task):
    return f"{task.name}:{task.config.model_dump()}"


def make(task_class, config=None, seed=0):
    task = task_class(config)
    task.setup(seed=seed, device="cpu")
    return task


class Replay(nn.Module):
    """A classifier that answers with fixed logits, row after row, in the order it is asked."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.cursor = 0

    def forward(self, x):
        out = self.logits[self.cursor : self.cursor + len(x)]
        self.cursor += len(x)
        return out


class Sampler(nn.Module):
    def __init__(self, draw):
        super().__init__()
        self.draw = draw

    def sample(self, n):
        return self.draw(n)


def one_hot_logits(y, num_classes):
    """Confident logits for the targets; an ignored target (-100) gets confident logits for class 0."""
    return nn.functional.one_hot(y.clamp_min(0), num_classes).float() * 20.0


# ---------------------------------------------------------------------------------------------
# Declarations and registration
# ---------------------------------------------------------------------------------------------


def test_every_catalogue_task_is_registered_with_its_tier():
    registered = {task.name: task for task in BUILTIN_TASKS}
    for name, tier in CATALOGUE.items():
        assert registered[name].tier == tier
        assert nnbench.get_task(name) is registered[name]
    assert len(registered) == len(BUILTIN_TASKS)  # no name twice


def test_importing_the_tasks_package_imports_nothing_heavy():
    heavy = ("torch", "sklearn", "numpy", "pandas", "scipy", "pyarrow")
    code = f"import sys, nnbench.tasks; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# A figure a description promises (a percentage) names what it refers to: the training it took or the
# paper that measured it. "MLP about 76%" with no budget was read as a promise the quick suite broke.
BUDGET_OR_SOURCE = ("epoch", "steps", "seconds", "minutes", "trained", "training", "paper", "report")


def percentage_sentences(text: str) -> list[str]:
    """The sentences (or bracketed asides) of ``text`` that quote a percentage."""
    import re

    return [s for s in re.split(r"(?<=[.;:])\s+", text) if re.search(r"\d\s*%", s)]


@pytest.mark.parametrize("task_class", BUILTIN_TASKS, ids=lambda t: t.name)
def test_descriptions_quote_figures_only_with_their_budget_or_source(task_class):
    for sentence in percentage_sentences(task_class.description):
        assert any(word in sentence.lower() for word in BUDGET_OR_SOURCE), sentence


def test_the_figure_check_flags_an_unsourced_figure():
    assert percentage_sentences("A CNN should win (about 98%). The MLP lags.") == [
        "A CNN should win (about 98%)."
    ]


@pytest.mark.parametrize("task_class", BUILTIN_TASKS, ids=lambda t: t.name)
def test_declarations(task_class):
    assert task_class.version >= 1
    assert task_class.tier in {"smoke", "quick", "long", "local"}
    assert task_class.description.count(".") >= 2  # what it tests, and who should win and why
    with pytest.raises(pydantic.ValidationError):
        task_class.Config(no_such_option=1)


@pytest.mark.parametrize("task", GENERATED, ids=ids)
def test_spec_and_metric_do_not_depend_on_the_seed(task):
    before = task.spec(), task.metric()
    task.setup(seed=5, device="cpu")
    assert (task.spec(), task.metric()) == before
    assert before[0].name == task.name
    assert isinstance(before[1], nnbench.Metric)


def test_configs_are_validated():
    for bad in (
        lambda: MQAR.Config(vocab_size=8, num_kv_pairs=8),  # not enough distinct keys
        lambda: MQAR.Config(seq_len=16, num_kv_pairs=8),  # no room for the queries
        lambda: ListOps.Config(min_length=200, seq_len=128),
        lambda: ListOps.Config(max_depth=1, max_args=3, min_length=16),  # at most 5 tokens
        lambda: DigitsShifted.Config(canvas=7),
        lambda: Toy2D.Config(variant="circles"),
    ):
        with pytest.raises(pydantic.ValidationError):
            bad()


# ---------------------------------------------------------------------------------------------
# Data: determinism, shapes
# ---------------------------------------------------------------------------------------------


def assert_same_data(a, b):
    assert set(a) == set(b)
    for split in a:
        for ta, tb in zip(a[split], b[split], strict=True):
            assert (ta is None) == (tb is None)
            if ta is not None:
                assert torch.equal(ta, tb)


@pytest.mark.parametrize("task", GENERATED, ids=ids)
def test_data_is_deterministic_per_seed(task):
    assert_same_data(task.make_data(0), task.make_data(0))
    first, other = task.make_data(0), task.make_data(1)
    assert not torch.equal(first["val"][0], other["val"][0])


@pytest.mark.parametrize("task", GENERATED, ids=ids)
def test_data_matches_spec(task):
    spec = task.spec()
    data = task.make_data(3)
    assert set(data) == {"train", "val", "test", *task.extra_splits}
    for split, (x, y) in data.items():
        extra = split in task.extra_splits
        assert x.device.type == "cpu"
        if not extra:
            assert tuple(x.shape[1:]) == spec.input_shape
        if spec.vocab_size is not None:
            assert x.dtype == torch.long
            assert int(x.min()) >= 0 and int(x.max()) < spec.vocab_size
        else:
            assert x.dtype == torch.float32
        if spec.kind == "classification":
            assert y.dtype == torch.long and len(y) == len(x)
            assert y.shape[1:] == x.shape[1 : len(spec.output_shape)]  # per-position labels for (T, C)
            scored = y[y != metrics.IGNORE_INDEX]
            assert int(scored.min()) >= 0 and int(scored.max()) < spec.num_classes
            assert spec.output_shape[-1] == spec.num_classes
        else:
            assert y is None


# ---------------------------------------------------------------------------------------------
# Labels, checked by evaluators written independently of the generators
# ---------------------------------------------------------------------------------------------


def test_mqar_targets_are_the_values_of_the_queried_keys():
    task = make(MQAR, SMALL_MQAR, seed=2)
    x, y = task.data["train"]
    k, half = SMALL_MQAR.num_kv_pairs, SMALL_MQAR.vocab_size // 2
    for row in range(len(x)):
        tokens, targets = x[row].tolist(), y[row].tolist()
        keys, values = tokens[0 : 2 * k : 2], tokens[1 : 2 * k : 2]
        assert len(set(keys)) == k and all(1 <= key < half for key in keys)
        assert len(set(values)) == k and all(half <= v < SMALL_MQAR.vocab_size for v in values)
        pairs = dict(zip(keys, values, strict=True))
        scored = {t: target for t, target in enumerate(targets) if target != metrics.IGNORE_INDEX}
        assert len(scored) == k  # every key queried exactly once, in the query region, at even offsets
        assert all(t >= 2 * k and (t - 2 * k) % 2 == 0 for t in scored)
        assert sorted(tokens[t] for t in scored) == sorted(keys)
        assert all(target == pairs[tokens[t]] for t, target in scored.items())


def test_mqar_hand_checked_sequence():
    task = MQAR(MQAR.Config(vocab_size=8, seq_len=8, num_kv_pairs=2, n_train=1, n_val=1, n_test=50))
    x, y = task.make_data(0)["test"]
    for tokens, targets in zip(x.tolist(), y.tolist(), strict=True):
        k1, v1, k2, v2 = tokens[:4]
        # the query region has 2 even offsets, 4 and 6: both keys, in some order
        assert {tokens[4], tokens[6]} == {k1, k2}
        assert targets[:4] == [-100] * 4 and targets[5] == targets[7] == -100
        assert targets[4] == (v1 if tokens[4] == k1 else v2)
        assert targets[6] == (v1 if tokens[6] == k1 else v2)


def listops_value(text: str) -> int:
    """Evaluate a ListOps expression written with spaces, with a stack (no recursion, no generator code)."""
    stack: list[tuple[str, list[int]]] = []
    result = None
    for word in text.split():
        if word.startswith("["):
            stack.append((word[1:], []))
            continue
        if word == "]":
            op, args = stack.pop()
            if op == "MIN":
                value = min(args)
            elif op == "MAX":
                value = max(args)
            elif op == "MED":
                ordered = sorted(args)
                middle = len(ordered) // 2
                value = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) // 2
            else:
                assert op == "SM"
                value = sum(args) % 10
        else:
            value = int(word)
        if stack:
            stack[-1][1].append(value)
        else:
            result = value
    assert not stack
    return result


@pytest.mark.parametrize(
    "text, value",
    [
        ("[MAX 2 9 [MIN 4 7 ] 0 ]", 9),
        ("[MED 1 2 3 4 ]", 2),  # the median 2.5, rounded down
        ("[MED 7 1 5 ]", 5),
        ("[SM 5 7 ]", 2),
        ("[MIN [MAX 1 2 ] [SM 9 9 ] ]", 2),
        ("[SM [MED 9 9 0 ] 3 [MAX 0 0 ] ]", 2),
    ],
)
def test_listops_reference_evaluator(text, value):
    assert listops_value(text) == value


def test_listops_labels_match_the_reference_evaluator():
    task = make(ListOps, SMALL_LISTOPS, seed=1)
    names = token_names()
    x, y = task.data["test"]
    lengths = (x != 0).sum(dim=1)
    assert int(lengths.min()) >= SMALL_LISTOPS.min_length and int(lengths.max()) <= SMALL_LISTOPS.seq_len
    for row in range(len(x)):
        tokens = x[row, : lengths[row]].tolist()
        assert (x[row, lengths[row] :] == 0).all()  # padding only after the expression
        assert listops_value(" ".join(names[t] for t in tokens)) == int(y[row])
        depth = deepest = 0
        for token in tokens:
            depth += 1 if token in OPERATORS else -1 if token == CLOSE else 0
            deepest = max(deepest, depth)
        assert 1 <= deepest <= SMALL_LISTOPS.max_depth
    assert len(set(y.tolist())) >= 8  # the classes are all in use


def test_listops_expressions_are_reproducible_from_the_seed():
    import random

    a = [make_expression(random.Random(7), max_depth=4, max_args=5) for _ in range(3)]
    b = [make_expression(random.Random(7), max_depth=4, max_args=5) for _ in range(3)]
    assert a == b


def test_running_parity_test_4x_is_longer_and_train_val_are_version_1s():
    task = make(RunningParity, SMALL_PARITY, seed=4)
    assert RunningParity.version == 3 and RunningParity.extra_splits == ("test_4x",)
    x, y = task.data["test_4x"]
    assert x.shape == y.shape == (60, 48)
    assert torch.equal(y, x.cumsum(dim=1) % 2)
    # Train and val: the seed's generator, in this order, as in versions 1 and 2, except a string that
    # equals a test string (12 bits: 4096 strings), which is drawn again.
    generator = torch.Generator().manual_seed(4)
    test_rows = {tuple(row) for row in task.data["test"][0].tolist()}
    for split, n in (("train", 300), ("val", 50)):
        expected = torch.randint(0, 2, (n, 12), generator=generator).tolist()
        kept = [row for row in expected if tuple(row) not in test_rows]
        assert task.data[split][0][: len(kept)].tolist() == kept
        if len(kept) < n:  # rows were drawn again: the next split's rows start elsewhere
            break
    # Test and test_4x: their own generator, the same for every seed.
    test_generator = torch.Generator().manual_seed(GENERATED_TEST_STREAM)
    assert torch.equal(task.data["test"][0], torch.randint(0, 2, (60, 12), generator=test_generator))
    assert torch.equal(task.data["test_4x"][0], torch.randint(0, 2, (60, 48), generator=test_generator))


class RunningXor(nn.Module):
    """Exact running parity of any length: the oracle of a recurrent model."""

    def forward(self, x):
        return one_hot_logits(x.cumsum(dim=1) % 2, 2)


def test_running_parity_test_4x_scores_models_of_any_length_and_skips_fixed_length_ones():
    task = make(RunningParity, SMALL_PARITY)
    with torch.no_grad():
        assert task.evaluate(RunningXor(), "test_4x")["accuracy"] == 1.0
        fixed = nn.Sequential(nn.Flatten(), nn.Linear(12, 24), nn.Unflatten(1, (12, 2)))
        assert task.evaluate(lambda x: fixed(x.float()), "test")["accuracy"] >= 0.0
        assert task.evaluate(lambda x: fixed(x.float()), "test_4x") == {}  # shape error: no score
        assert task.evaluate(lambda x: torch.zeros(len(x), 12, 2), "test_4x") == {}  # wrong output length


def test_running_parity_test_4x_does_not_hide_other_failures():
    task = make(RunningParity, SMALL_PARITY)

    def out_of_memory(x):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(RuntimeError, match="out of memory"):
        task.evaluate(out_of_memory, "test_4x")


def test_digits_shifted_places_each_digit_whole_somewhere_on_the_canvas():
    task = make(DigitsShifted, seed=3)
    x, _ = task.data["test"]
    assert x.shape == (360, 1, 24, 24)
    corners = set()
    for image in x[:, 0]:
        rows, cols = image.nonzero(as_tuple=True)
        assert int(rows.max() - rows.min()) < 8 and int(cols.max() - cols.min()) < 8
        corners.add((int(rows.min()), int(cols.min())))
    assert len(corners) > 100  # positions vary
    unshifted = make(DigitsShifted, DigitsShifted.Config(canvas=8), seed=3).data
    assert_same_data(unshifted, make(Digits, seed=3).data)  # canvas 8 is the digits task itself


def test_tabular_has_noise_columns_and_non_test_standardization():
    task = make(Tabular, SMALL_TABULAR, seed=2)
    assert task.spec().input_shape == (48,) and task.spec().num_classes == 4
    train_x, train_y = task.data["train"]
    assert train_x.shape == (240, 48)
    development_x = torch.cat([train_x, task.data["val"][0]])
    assert torch.allclose(development_x.mean(0), torch.zeros(48), atol=1e-5)
    assert torch.allclose(development_x.std(0, unbiased=False), torch.ones(48), atol=1e-4)
    assert sorted(torch.bincount(train_y).tolist())[0] > 40  # four classes, roughly balanced
    # Noise columns are independent of the class: their class-conditional means are near zero.
    means = torch.stack([train_x[train_y == c].mean(0) for c in range(4)])  # (4, 48)
    assert int((means.abs().max(0).values > 0.5).sum()) <= 8


# ---------------------------------------------------------------------------------------------
# MNIST-1D
# ---------------------------------------------------------------------------------------------


# The reference MNIST-1D (Greydanus, 2020): mnist1d_data.pkl, the file the mnist1d package loads by
# default, in the greydanus/mnist1d repository (git blob 1bfc1d6ad5b58afbc88a94008c772278b6c29e32, file
# sha256 e95257676e9fb04568e46dda007da22cc8664ccba1451456afde55d7f6dd6aa5). Read once, offline, with an
# unpickler that builds numpy arrays only; these figures were taken from it, not from nnbench: the
# SHA-256 of its x (4000 train then 1000 test rows) as float32 and y as int64, in nnbench's checksum
# layout, and values at full float64 precision.
REFERENCE_SHA256 = "f7e6b4ae1766612049bfa012eb07881b5a4d2a1f4c0fd4cc7ce4b79fb0853cdb"
REFERENCE_FIRST_ROW_START = [
    -0.3320056673693902,
    -0.4719103656557236,
    -0.778697076293495,
    -1.0097408265367047,
]
REFERENCE_LAST_ROW_END = [0.4472328851428726, 0.6598756470890784, 0.8777343497528006, 1.193151836835276]
REFERENCE_FIRST_LABELS = [2, 6, 4, 5, 6, 6, 6, 0, 3, 1, 6, 9]
REFERENCE_LAST_LABELS = [3, 9, 8, 3, 3, 6, 1, 2, 5, 9, 6, 4]


def test_mnist1d_generator_matches_the_reference_dataset():
    x, y = mnist1d.generate(False)  # float64, before nnbench's float32 cast
    assert mnist1d.checksum(x.astype(np.float32), y) == REFERENCE_SHA256
    np.testing.assert_allclose(x[0, :4], REFERENCE_FIRST_ROW_START, rtol=0, atol=1e-12)
    np.testing.assert_allclose(x[-1, -4:], REFERENCE_LAST_ROW_END, rtol=0, atol=1e-12)
    assert y[:12].tolist() == REFERENCE_FIRST_LABELS and y[-12:].tolist() == REFERENCE_LAST_LABELS
    assert x.sum() == pytest.approx(0.0, abs=1e-9) and (x**2).sum() == pytest.approx(200_000.0)  # 5000 x 40
    assert mnist1d.CHECKSUMS[False] == REFERENCE_SHA256  # the pin guards the reference's data


def test_mnist1d_splits():
    x, y = mnist1d.verified_dataset(False)
    assert x.shape == (5000, 40) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [500] * 10
    data = make(MNIST1D, seed=0).data
    assert {split: tuple(x.shape) for split, (x, _) in data.items()} == {
        "train": (3500, 40, 1),
        "val": (500, 40, 1),
        "test": (1000, 40, 1),
    }
    assert torch.equal(data["test"][0][:, :, 0], torch.tensor(x[4000:]))  # the package's test rows
    assert torch.equal(data["test"][0], make(MNIST1D, seed=1).data["test"][0])


def test_mnist1d_shuffled_permutes_the_same_signals_by_one_fixed_permutation():
    x, y = mnist1d.verified_dataset(False)
    shuffled, shuffled_y = mnist1d.verified_dataset(True)
    assert np.array_equal(y, shuffled_y)
    permutation = [next(j for j in range(40) if np.array_equal(shuffled[:, i], x[:, j])) for i in range(40)]
    assert sorted(permutation) == list(range(40)) and permutation != list(range(40))
    assert mnist1d.checksum(shuffled, shuffled_y) == mnist1d.CHECKSUMS[True]


def test_mnist1d_a_changed_generator_is_one_clear_error(monkeypatch):
    mnist1d.verified_dataset.cache_clear()
    monkeypatch.setitem(mnist1d.CHECKSUMS, False, "0" * 64)
    try:
        with pytest.raises(DataError, match="MNIST-1D generator produced different data") as caught:
            MNIST1D().make_data(0)
        assert "0" * 64 in str(caught.value)
    finally:
        mnist1d.verified_dataset.cache_clear()


# ---------------------------------------------------------------------------------------------
# Evaluate: oracles and trivial models
# ---------------------------------------------------------------------------------------------


CLASSIFICATION = [
    DigitsShifted(DigitsShifted.Config(canvas=12)),
    MNIST1D(),
    MQAR(SMALL_MQAR),
    ListOps(SMALL_LISTOPS),
    Tabular(SMALL_TABULAR),
]


@pytest.mark.parametrize("task", CLASSIFICATION, ids=ids)
def test_oracle_scores_perfect_accuracy(task):
    task.setup(seed=0, device="cpu")
    num_classes = task.spec().num_classes
    _, y = task.data["test"]
    with torch.no_grad():
        oracle = task.evaluate(Replay(one_hot_logits(y, num_classes)), "test")
        zeros = task.evaluate(Replay(torch.zeros(*y.shape, num_classes)), "test")
    metric = task.metric()
    assert oracle[metric.name] == 1.0
    assert oracle["loss"] < 1e-3
    assert zeros["loss"] == pytest.approx(math.log(num_classes), rel=1e-5)
    assert all(type(v) is float for v in (*oracle.values(), *zeros.values()))


def test_mqar_scores_and_trains_on_query_positions_only():
    task = make(MQAR, SMALL_MQAR)
    x, y = task.data["test"]
    wrong_elsewhere = one_hot_logits(torch.where(y == metrics.IGNORE_INDEX, 7, y), 32)
    with torch.no_grad():
        scores = task.evaluate(Replay(wrong_elsewhere), "test")
    assert scores["accuracy"] == 1.0 and scores["sequence_accuracy"] == 1.0
    assert task.loss(wrong_elsewhere, y).item() < 1e-3
    one_wrong = wrong_elsewhere.clone()
    first_query = (y[0] != metrics.IGNORE_INDEX).nonzero()[0, 0]
    one_wrong[0, first_query] = one_hot_logits(torch.tensor(0), 32)
    with torch.no_grad():
        scores = task.evaluate(Replay(one_wrong), "test")
    assert scores["accuracy"] == pytest.approx(1 - 1 / (300 * 4))
    assert scores["sequence_accuracy"] == pytest.approx(1 - 1 / 300)


# ---------------------------------------------------------------------------------------------
# Generative tasks: toy2d variants and digits-gen
# ---------------------------------------------------------------------------------------------


def test_toy2d_default_data():
    data = Toy2D().make_data(6)
    centers = np.array(mode_centers())
    rng = np.random.default_rng(6)  # train then val: modes then noise, as in version 1
    for split, n in (("train", 2000), ("val", 1000)):
        modes = rng.integers(0, 8, size=n)
        expected = centers[modes] + rng.normal(0.0, MODE_STD, size=(n, 2))
        assert torch.equal(data[split][0], torch.tensor(expected, dtype=torch.float32))
    rng = np.random.default_rng(GENERATED_TEST_STREAM)  # test: its own generator, every seed alike
    expected = centers[rng.integers(0, 8, size=1000)] + rng.normal(0.0, MODE_STD, size=(1000, 2))
    assert torch.equal(data["test"][0], torch.tensor(expected, dtype=torch.float32))


def test_toy2d_variants_differ_and_stay_in_range():
    variants = ("8gaussians", "checkerboard", "swissroll", "moons", "spirals")
    clouds = {v: Toy2D(Toy2D.Config(variant=v)).make_data(0)["test"][0] for v in variants}
    floor = max(  # two samples of one variant: its test points against as many training points
        metrics.mmd(clouds[v], Toy2D(Toy2D.Config(variant=v)).make_data(1)["train"][0][:1000])
        for v in variants
    )
    for v in variants:
        assert clouds[v].shape == (1000, 2) and float(clouds[v].abs().max()) < 4.0
        for w in variants:
            if v < w:
                assert metrics.mmd(clouds[v], clouds[w]) > 5 * floor, (v, w)
    board = clouds["checkerboard"]
    cells = (torch.floor(board[:, 0]) + torch.floor(board[:, 1])) % 2
    assert bool((cells == 0).all())  # only the dark squares


@pytest.mark.parametrize("variant", ["8gaussians", "moons", "spirals"])
def test_toy2d_metrics_separate_real_points_from_a_collapsed_sampler(variant):
    task = make(Toy2D, Toy2D.Config(variant=variant, n_train=600, n_val=600, n_test=600))
    val_points, test_points = task.data["val"][0], task.data["test"][0]
    collapsed = test_points[:1] + 0.05 * torch.randn(600, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fresh = task.evaluate(Sampler(lambda n: val_points[:n]), "test")
        bad = task.evaluate(Sampler(lambda n: collapsed[:n]), "test")
    for name in ("precision", "recall", "density", "coverage"):
        assert type(fresh[name]) is float
    assert fresh["precision"] > 0.8 and fresh["recall"] > 0.8 and fresh["coverage"] > 0.8
    assert bad["recall"] < 0.2 and bad["coverage"] < 0.2  # one spot covers little
    assert bad["mmd"] > 10 * fresh["mmd"] and bad["energy_distance"] > 10 * fresh["energy_distance"]
    assert ("modes_covered" in fresh) == (variant == "8gaussians")


@pytest.fixture(scope="module")
def digits_gen():
    task = DigitsGen()
    task.setup(seed=0, device="cpu")
    return task


def test_digits_gen_feature_network_is_a_good_deterministic_classifier(digits_gen):
    from nnbench.tasks.digits_gen import trained_feature_state

    real, labels = digit_splits(0)["test"]
    _, logits = digits_gen.features(real)
    assert (logits.argmax(dim=1) == labels).float().mean() > 0.93  # trained on the train split only
    trained_feature_state.cache_clear()
    state, scale = trained_feature_state(0)
    assert all(torch.equal(state[k], v) for k, v in digits_gen.feature_net.state_dict().items())
    assert scale == digits_gen.feature_scale


def test_digits_gen_held_out_digits_score_at_the_floor_and_noise_far_above(digits_gen):
    val, train = digits_gen.data["val"][0], digits_gen.data["train"][0]
    threes = train[digit_splits(0)["train"][1] == 3]
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        held_out = digits_gen.evaluate(Sampler(lambda n: torch.cat([val, train])[:n]), "test")
        noise = digits_gen.evaluate(
            Sampler(lambda n: 2 * torch.rand(n, 1, 8, 8, generator=generator) - 1), "test"
        )
        one_digit = digits_gen.evaluate(Sampler(lambda n: threes.repeat(4, 1, 1, 1)[:n]), "test")
        broken = digits_gen.evaluate(Sampler(lambda n: torch.full((n, 64), float("nan"))), "test")
    assert digits_gen.metric() == nnbench.Metric(
        "fid",
        higher_is_better=False,
        target=None,
        margin=nnbench.Margin(0.1, relative=True),
        anchors=(2.14, 0.302),
    )
    floor = held_out["fid_floor"]
    assert 0 < floor < 1.0
    assert held_out["fid"] == pytest.approx(floor, rel=0.1)  # real held-out digits: at the floor
    assert noise["fid"] > 10 * floor and noise["kid"] > noise["kid_floor"] + 0.1
    assert one_digit["fid"] > 10 * floor and one_digit["class_tv"] > 0.8 > 0.2 > held_out["class_tv"]
    assert one_digit["recall"] < 0.2 < 0.9 < held_out["recall"]
    assert held_out["precision"] > 0.9 and noise["precision"] < 0.7
    assert broken["nonfinite_fraction"] == 1.0 and broken["fid"] > 10 * floor
    assert all(type(v) is float for v in held_out.values())
    assert {k for k in noise if k.endswith("_floor")} == {"fid_floor", "kid_floor", "class_tv_floor"}


def test_digits_gen_needs_sample_and_the_right_shape(digits_gen):
    with pytest.raises(TypeError, match="sample"):
        digits_gen.evaluate(nn.Linear(2, 2), "test")
    with pytest.raises(ValueError, match=r"\(n, 1, 8, 8\)"):
        digits_gen.evaluate(Sampler(lambda n: torch.zeros(n, 2)), "test")


# ---------------------------------------------------------------------------------------------
# Metric functions
# ---------------------------------------------------------------------------------------------


def test_accuracy_and_cross_entropy_skip_ignored_positions():
    logits = torch.tensor([[[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]]])  # (1, 3, 2)
    assert metrics.accuracy(logits, torch.tensor([[0, -100, 1]])) == 0.5
    assert metrics.cross_entropy(logits, torch.tensor([[0, -100, -100]])).item() < 0.01


def test_precision_recall_density_coverage_on_known_sets():
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(400, 3, generator=generator)
    same = metrics.precision_recall_density_coverage(real, real)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    far = metrics.precision_recall_density_coverage(real + 100.0, real)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    fresh = metrics.precision_recall_density_coverage(torch.randn(400, 3, generator=generator), real)
    assert 0.6 < fresh["precision"] < 1.0 and 0.8 < fresh["coverage"] <= 1.0 and 0.7 < fresh["density"] < 1.3
    half = metrics.precision_recall_density_coverage(real[real[:, 0] > 0], real)  # one half of the law
    assert half["precision"] > 0.9 and half["coverage"] < 0.65
    assert metrics.precision_recall_density_coverage(real, real, chunk_size=7) == same


def test_frechet_and_kernel_distances():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 4, generator=generator)
    b = torch.randn(2000, 4, generator=generator)
    shift = torch.tensor([2.0, 0.0, 0.0, 0.0])
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert metrics.frechet_distance(a, b) < 0.05
    assert metrics.frechet_distance(a, b + shift) == pytest.approx(4.0, rel=0.05)  # |shift|^2
    assert metrics.frechet_distance(a, 2 * b) == pytest.approx(4 * (2 - 1) ** 2, rel=0.1)  # tr: 4 (1 + 4 - 4)
    assert abs(metrics.kernel_distance(a, b)) < 0.01
    assert metrics.kernel_distance(a, b + shift) > 0.5


def test_energy_distance_is_zero_on_equal_sets_and_grows_with_a_shift():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(300, 2, generator=generator)
    assert metrics.energy_distance(a, a) == pytest.approx(0.0, abs=1e-5)
    near = metrics.energy_distance(a, torch.randn(300, 2, generator=generator))
    assert metrics.energy_distance(a, a + 3.0) > 20 * near
    assert metrics.energy_distance(a, a + 1.0, chunk_size=7) == pytest.approx(
        metrics.energy_distance(a, a + 1.0)
    )


# ---------------------------------------------------------------------------------------------
# docs/tasks.md agrees with the code
# ---------------------------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "tasks.md"
MNIST_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def markdown_table(text: str, header: str) -> tuple[list[str], list[list[str]]]:
    """The column names and rows of the table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    split = lambda line: [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]  # noqa: E731
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(split(line))
    return split(lines[start]), rows


def default_tasks(tmp_path) -> dict[str, nnbench.Task]:
    """Every built-in task at its defaults; the local ones get the files they need (empty ones suffice
    for the images: spec() only checks that they are there)."""
    import pandas as pd

    for stem in MNIST_STEMS + (
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
    ):
        (tmp_path / stem).touch()
    (tmp_path / "test_batch").touch()
    table = pd.DataFrame({"a": range(10), "label": ["x", "y"] * 5})
    table.to_csv(tmp_path / "t.csv", index=False)
    table.to_parquet(tmp_path / "t.parquet", index=False)
    local = {
        MNIST: {"data_dir": tmp_path},
        FashionMNIST: {"data_dir": tmp_path},
        CIFAR10: {"data_dir": tmp_path},
        CSVTable: {"path": tmp_path / "t.csv", "target": "label"},
        ParquetTable: {"path": tmp_path / "t.parquet", "target": "label"},
    }
    return {task.name: task(task.Config(**local[task]) if task in local else None) for task in BUILTIN_TASKS}


def test_docs_catalogue_lists_every_task_with_its_tier_modality_kind_and_metric(tmp_path):
    columns, rows = markdown_table(DOCS.read_text(), "| task | tier |")
    assert columns[:5] == ["task", "tier", "modality, kind", "input -> output", "primary metric"]
    documented = {row[0]: row for row in rows}
    tasks = default_tasks(tmp_path)
    assert set(documented) == set(tasks)
    for name, task in tasks.items():
        _, tier, modality_kind, _, metric_cell, *_ = documented[name]
        spec, metric = task.spec(), task.metric()
        assert tier == task.tier, name
        assert modality_kind.startswith(spec.modality) and spec.kind in modality_kind, name
        assert metric_cell.startswith(metric.name), name
        assert ("(lower)" in metric_cell.split(",")[0]) == (not metric.higher_is_better), name
        target = "no target" if metric.target is None else f"target {metric.target:.2f}"
        assert target in metric_cell or "rmse" in metric_cell, name


def test_docs_compatibility_matrix_follows_the_declared_modalities_and_kinds(tmp_path):
    columns, rows = markdown_table(DOCS.read_text(), "| task | mlp |")
    specs = {name: task.spec() for name, task in default_tasks(tmp_path).items()}
    registry = nnbench.registry.get_registry()
    assert {row[0] for row in rows} == set(specs)
    checked = 0
    for row in rows:
        for name, cell in zip(columns[1:], row[1:], strict=True):
            architecture = registry.architectures.get(name)
            if architecture is None:  # a built-in plugin that is not installed here
                continue
            takes = nnbench.Architecture.incompatibility(architecture, specs[row[0]]) is None
            assert cell == ("yes" if takes else "-"), (row[0], name)
            checked += 1
    assert checked >= len(rows) * 2  # at least mlp and cnn are always installed
