"""No test row of any seed is in any seed's training or validation split, for every built-in task and loader.

Tuning selects on seed 0's validation split and re-runs the winner on every seed, so a test row that any
seed trains or validates on leaks into the scores. Rows are compared by content (a hash of each input
row's bytes), over seeds 0-3; the test split must also be the same for every seed.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from nnbench.tasks import BUILTIN_TASKS, loaders
from nnbench.tasks.digits import Digits
from nnbench.tasks.digits_gen import DigitsGen
from nnbench.tasks.digits_shifted import DigitsShifted
from nnbench.tasks.listops import ListOps
from nnbench.tasks.local_images import CIFAR10, MNIST, FashionMNIST
from nnbench.tasks.local_tables import CSVTable, ParquetTable
from nnbench.tasks.mnist1d import MNIST1D, MNIST1DShuffled
from nnbench.tasks.mqar import MQAR
from nnbench.tasks.running_parity import RunningParity
from nnbench.tasks.splits import draw_excluding, row_keys, split_indices
from nnbench.tasks.tabular import Tabular
from nnbench.tasks.tabular_real import TabularReal
from nnbench.tasks.toy2d import Toy2D
from tests.test_loaders import cifar_batch, idx_bytes, small_table, write_table

SEEDS = (0, 1, 2, 3)

# Small where the task has sizes. running-parity at 8 bits has only 256 strings: most of its 60 test
# strings would turn up among 300 training strings if nothing stopped them.
BUNDLED_AND_GENERATED = [
    Digits(),
    DigitsShifted(DigitsShifted.Config(canvas=12)),
    DigitsGen(),
    TabularReal(),
    TabularReal(TabularReal.Config(dataset="wine")),
    Tabular(Tabular.Config(n_samples=400)),
    MNIST1D(),
    MNIST1DShuffled(),
    MQAR(MQAR.Config(vocab_size=8, seq_len=8, num_kv_pairs=2, n_train=300, n_val=50, n_test=100)),
    RunningParity(RunningParity.Config(seq_len=8, n_train=300, n_val=50, n_test=60)),
    ListOps(
        ListOps.Config(max_depth=2, max_args=3, min_length=4, seq_len=12, n_train=300, n_val=50, n_test=100)
    ),
    Toy2D(Toy2D.Config(n_train=500, n_val=200, n_test=200)),
]


def keys(x: torch.Tensor) -> list[bytes]:
    return row_keys(x.numpy())


def assert_no_test_row_in_training(make_data) -> dict[int, dict]:
    """make_data(seed) for every seed; the test split equal for all; no test row in any train/val."""
    data = {seed: make_data(seed) for seed in SEEDS}
    test_x, test_y = data[0]["test"]
    for seed in SEEDS:
        assert torch.equal(data[seed]["test"][0], test_x), seed
        if test_y is not None:
            assert torch.equal(data[seed]["test"][1], test_y), seed
    test_keys = set(keys(test_x))
    for seed in SEEDS:
        for split in ("train", "val"):
            leaked = test_keys.intersection(keys(data[seed][split][0]))
            assert not leaked, f"seed {seed} {split}: {len(leaked)} test rows"
    assert len({tuple(keys(data[seed]["val"][0])) for seed in SEEDS}) > 1  # the seed does pick the val rows
    return data


def test_every_built_in_task_is_checked():
    checked = {task.name for task in BUNDLED_AND_GENERATED} | {
        "mnist",
        "fashion-mnist",
        "cifar10",
        "csv",
        "parquet",
    }
    assert checked == {task.name for task in BUILTIN_TASKS}


@pytest.mark.parametrize("task", BUNDLED_AND_GENERATED, ids=lambda task: task.name)
def test_no_test_row_of_any_seed_in_any_seeds_training(task):
    assert_no_test_row_in_training(task.make_data)


def test_running_parity_draws_colliding_strings_again():
    """At 8 bits the seed's generator does produce test strings; they are replaced, sizes kept."""
    task = RunningParity(RunningParity.Config(seq_len=8, n_train=300, n_val=50, n_test=60))
    data = task.make_data(0)
    generator = torch.Generator().manual_seed(0)
    first_draw = torch.randint(0, 2, (300, 8), generator=generator)
    test_keys = set(keys(data["test"][0]))
    assert sum(key in test_keys for key in keys(first_draw)) > 10  # without the check, a leak
    assert data["train"][0].shape == (300, 8) and data["val"][0].shape == (50, 8)


def test_draw_excluding_gives_up_with_a_clear_error():
    rng = np.random.default_rng(0)
    everything = set(row_keys(np.arange(4).reshape(4, 1)))
    with pytest.raises(ValueError, match="toy: cannot draw 3 rows that differ from every test row"):
        draw_excluding(lambda n: (rng.integers(0, 4, size=(n, 1)),), 3, everything, "toy")


def test_split_indices_puts_every_copy_of_a_test_row_in_test():
    rows = np.arange(40, dtype=np.float64).reshape(20, 2)
    rows[5] = rows[17] = rows[11]  # three copies of one row
    for seed in SEEDS:
        split = split_indices(20, seed, rows=rows)
        copies = {5, 11, 17}
        assert copies <= set(split["test"]) or not copies & set(split["test"])
        assert sorted(np.concatenate(list(split.values()))) == list(range(20))


# -- the local loaders, on small files written here, with planted duplicates ---------------------------


def write_idx_with_a_copy(folder, rng):
    """Train and test IDX files in which train image 7 is a copy of test image 2."""
    folder.mkdir(parents=True)
    train = rng.integers(0, 256, size=(40, 28, 28)).astype(np.uint8)
    test = rng.integers(0, 256, size=(10, 28, 28)).astype(np.uint8)
    train[7] = test[2]
    for prefix, images in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, size=len(images)).astype(np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))


@pytest.mark.parametrize("task_class", [MNIST, FashionMNIST])
def test_idx_loaders(tmp_path, task_class):
    write_idx_with_a_copy(tmp_path / "idx", np.random.default_rng(1))

    def make_data(seed):
        return task_class(task_class.Config(data_dir=tmp_path / "idx", val_fraction=0.25)).make_data(seed)

    data = assert_no_test_row_in_training(make_data)
    assert len(data[0]["train"][0]) + len(data[0]["val"][0]) == 39  # the copy was dropped


def test_cifar10_loader(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar"
    folder.mkdir()
    batches = {name: cifar_batch(6, rng) for name in (*loaders.CIFAR_TRAIN_BATCHES, loaders.CIFAR_TEST_BATCH)}
    batches["data_batch_3"][b"data"][4] = batches[loaders.CIFAR_TEST_BATCH][b"data"][1]  # a copy
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))

    def make_data(seed):
        return CIFAR10(CIFAR10.Config(data_dir=folder, val_fraction=0.2)).make_data(seed)

    data = assert_no_test_row_in_training(make_data)
    assert len(data[0]["train"][0]) + len(data[0]["val"][0]) == 29


@pytest.mark.parametrize("task_class, suffix", [(CSVTable, ".csv"), (ParquetTable, ".parquet")])
@pytest.mark.parametrize("task_kind, target", [("classification", "label"), ("regression", "price")])
def test_table_loaders(tmp_path, task_class, suffix, task_kind, target):
    frame = small_table(n=60)
    frame = pd.concat([frame, frame.iloc[[10, 10, 20, 33]]], ignore_index=True)  # duplicated rows
    path = write_table(frame.drop(columns="price" if target == "label" else "label"), tmp_path / f"t{suffix}")

    def make_data(seed):
        return task_class(task_class.Config(path=path, target=target, task_kind=task_kind)).make_data(seed)

    data = assert_no_test_row_in_training(make_data)
    assert sum(len(data[0][split][0]) for split in ("train", "val", "test")) == 64
