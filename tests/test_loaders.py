"""Local dataset loaders on small files the tests write: IDX (plain and gzipped), CIFAR-10 pickle batches,
CSV and Parquet. A missing, truncated or malformed file is one DataError naming it; a malicious pickle is
refused and never runs."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pandas as pd
import pydantic
import pytest
import torch

from nnbench.errors import DataError
from nnbench.tasks import loaders
from nnbench.tasks.local_images import CIFAR10, MNIST, FashionMNIST
from nnbench.tasks.local_tables import CSVTable, ParquetTable

torch.set_num_threads(1)


def make(task_class, seed=0, **config):
    task = task_class(task_class.Config(**config))
    task.setup(seed=seed, device="cpu")
    return task


# ---------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)
# ---------------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file: 0x0000, type 0x08, the dimension count, big-endian sizes, the data."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_dataset(folder, n_train=20, n_test=6, gz=False, seed=0):
    """Random 28x28 images whose label is written in their first pixel; returns the arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
        images[:, 0, 0] = labels
        arrays[prefix] = (images, labels)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                with gzip.open(folder / f"{name}.gz", "wb") as handle:
                    handle.write(idx_bytes(array))
            else:
                (folder / name).write_bytes(idx_bytes(array))
    return arrays


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
@pytest.mark.parametrize("task_class", [MNIST, FashionMNIST], ids=lambda t: t.name)
def test_idx_datasets_load_plain_or_gzipped(tmp_path, task_class, gz):
    arrays = write_idx_dataset(tmp_path, gz=gz)
    task = make(task_class, data_dir=tmp_path, val_fraction=0.25)
    spec = task.spec()
    assert spec.input_shape == (1, 28, 28) and spec.num_classes == 10 and task.tier == "local"
    sizes = {split: tuple(x.shape) for split, (x, _) in task.data.items()}
    assert sizes == {"train": (15, 1, 28, 28), "val": (5, 1, 28, 28), "test": (6, 1, 28, 28)}
    for x, y in task.data.values():
        assert x.dtype == torch.float32 and y.dtype == torch.long
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
        assert torch.equal(torch.round(x[:, 0, 0, 0] * 255).long(), y)  # each image kept its own label
    images, labels = arrays["t10k"]
    assert torch.equal(task.data["test"][0], torch.tensor(images[:, None] / 255.0, dtype=torch.float32))
    assert torch.equal(task.data["test"][1], torch.tensor(labels, dtype=torch.long))
    other = make(task_class, seed=1, data_dir=tmp_path, val_fraction=0.25)
    assert not torch.equal(other.data["val"][0], task.data["val"][0])  # the seed picks the val rows


def test_read_idx_checks_the_header_against_the_size(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "plain-idx3-ubyte"
    path.write_bytes(idx_bytes(array))
    assert np.array_equal(loaders.read_idx(path), array)
    path.write_bytes(idx_bytes(array)[:-1])
    with pytest.raises(DataError, match=r"plain-idx3-ubyte: truncated IDX file.*\(2, 3, 4\)"):
        loaders.read_idx(path)
    path.write_bytes(idx_bytes(array) + b"\x00")
    with pytest.raises(DataError, match="over-long IDX file"):
        loaders.read_idx(path)
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(20))
    with pytest.raises(DataError, match="plain-idx3-ubyte: not an IDX file"):
        loaders.read_idx(path)
    path.write_bytes(b"")
    with pytest.raises(DataError, match="not an IDX file.*empty"):
        loaders.read_idx(path)
    path.write_bytes(bytes([0, 0, 0x08, 3, 0, 0]))
    with pytest.raises(DataError, match="truncated IDX header"):
        loaders.read_idx(path)


@pytest.mark.parametrize(
    "damage, match",
    [
        ("missing", r"missing the train labels: expected a file named train-labels-idx1-ubyte or "),
        ("truncated", r"train-images-idx3-ubyte: truncated IDX file"),
        ("bad gzip", r"t10k-images-idx3-ubyte.gz: not a readable gzip file"),
        ("cut gzip", r"t10k-images-idx3-ubyte.gz: not a readable gzip file"),
        ("wrong shape", r"train-images-idx3-ubyte: expected unsigned-byte images shaped \(N, 28, 28\)"),
        ("count", r"train-labels-idx1-ubyte: 19 labels for the 20 images"),
        ("label", r"t10k-labels-idx1-ubyte: expected labels 0..9, found 12"),
    ],
)
def test_idx_damage_is_one_error_naming_the_file(tmp_path, damage, match):
    write_idx_dataset(tmp_path)
    if damage == "missing":
        (tmp_path / "train-labels-idx1-ubyte").unlink()
    elif damage == "truncated":
        path = tmp_path / "train-images-idx3-ubyte"
        path.write_bytes(path.read_bytes()[:-100])
    elif damage in ("bad gzip", "cut gzip"):
        plain = tmp_path / "t10k-images-idx3-ubyte"
        packed = gzip.compress(plain.read_bytes())
        plain.unlink()
        (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(
            b"not gzip at all" if damage == "bad gzip" else packed[: len(packed) // 2]
        )
    elif damage == "wrong shape":
        (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((20, 27, 28), dtype=np.uint8)))
    elif damage == "count":
        (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(19, dtype=np.uint8)))
    elif damage == "label":
        (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(6, 12, dtype=np.uint8)))
    with pytest.raises(DataError, match=match) as caught:
        make(MNIST, data_dir=tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_a_missing_folder_is_reported_when_the_suite_is_planned(tmp_path):
    task = MNIST(MNIST.Config(data_dir=tmp_path / "nowhere"))
    with pytest.raises(DataError, match="nowhere: no such folder"):
        task.spec()  # config expansion calls spec(): the error comes before any training


def test_local_image_tasks_without_data_dir_read_the_cache_or_name_the_fetch_command():
    for task_class in (MNIST, FashionMNIST, CIFAR10):
        task = task_class(task_class.Config())  # no data_dir: the data cache (empty in tests)
        with pytest.raises(DataError, match=f"`nnbench data fetch {task_class.name}`"):
            task.spec()


# ---------------------------------------------------------------------------------------------
# CIFAR-10
# ---------------------------------------------------------------------------------------------


def cifar_batch(n, rng, label_offset=0):
    labels = [int(v) for v in (rng.integers(0, 10, size=n) + label_offset) % 10]
    data = rng.integers(0, 256, size=(n, 3072)).astype(np.uint8)
    return {b"batch_label": b"a batch", b"labels": labels, b"data": data, b"filenames": [b"x.png"] * n}


def write_cifar(folder, protocol=2, n=4, seed=0):
    """Six tiny batches as the official archive has them (bytes keys, a uint8 array, a list of labels)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in (*loaders.CIFAR_TRAIN_BATCHES, loaders.CIFAR_TEST_BATCH):
        batches[name] = cifar_batch(n, rng)
        (folder / name).write_bytes(pickle.dumps(batches[name], protocol=protocol))
    return batches


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("nested", [True, False], ids=["cifar-10-batches-py", "flat"])
def test_cifar10_loads_the_pickled_batches(tmp_path, protocol, nested):
    folder = tmp_path / "cifar-10-batches-py" if nested else tmp_path
    batches = write_cifar(folder, protocol=protocol)
    task = make(CIFAR10, data_dir=tmp_path, val_fraction=0.25)
    assert task.spec().input_shape == (3, 32, 32)
    sizes = {split: len(y) for split, (_, y) in task.data.items()}
    assert sizes == {"train": 15, "val": 5, "test": 4}
    test = batches["test_batch"]
    expected = torch.tensor(test[b"data"].reshape(4, 3, 32, 32) / 255.0, dtype=torch.float32)
    assert torch.equal(task.data["test"][0], expected)  # rows are the R, G and B planes in turn
    assert task.data["test"][1].tolist() == test[b"labels"]
    all_train = np.concatenate([batches[name][b"data"] for name in loaders.CIFAR_TRAIN_BATCHES])
    seen = {row.tobytes() for row in all_train}
    for split in ("train", "val"):
        x = (task.data[split][0] * 255).round().to(torch.uint8).reshape(-1, 3072).numpy()
        assert all(row.tobytes() in seen for row in x)


def test_cifar10_reads_batches_with_string_keys(tmp_path):
    rng = np.random.default_rng(0)
    batch = {key.decode(): value for key, value in cifar_batch(3, rng).items()}
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps(batch, protocol=4))
    data, labels = loaders.read_cifar_batch(path)
    assert np.array_equal(data, batch["data"]) and labels.tolist() == batch["labels"]


class RunsACommand:
    """A pickle payload that runs a shell command when unpickled by an ordinary unpickler."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class CallsEval:
    def __reduce__(self):
        return (eval, ("__import__('pathlib').Path('EVAL_RAN').touch()",))


@pytest.mark.parametrize("where", ["top level", "inside the batch"])
def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, where):
    marker = tmp_path / "pwned"
    payload = RunsACommand(f"touch {marker}")
    batch = cifar_batch(2, np.random.default_rng(0))
    if where == "inside the batch":
        batch[b"labels"] = payload
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(payload if where == "top level" else batch, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1: refused to unpickle (posix|nt|os)\.system"):
        loaders.read_cifar_batch(path)
    assert not marker.exists()


def test_the_unpickler_refuses_every_global_but_the_numpy_reconstructors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "test_batch"
    for payload in (CallsEval(), {b"data": pd.DataFrame({"a": [1]})}, {b"labels": set()}):
        path.write_bytes(pickle.dumps(payload, protocol=2))
        with pytest.raises(DataError, match="refused to unpickle"):
            loaders.read_cifar_batch(path)
    assert not (tmp_path / "EVAL_RAN").exists()


@pytest.mark.parametrize(
    "damage, match",
    [
        ("missing", r"missing CIFAR-10 batch test_batch: expected a file named test_batch"),
        ("truncated", r"data_batch_3: not a readable CIFAR-10 batch pickle"),
        ("garbage", r"data_batch_3: not a readable CIFAR-10 batch pickle"),
        (
            "not a dict",
            r"data_batch_3: expected a CIFAR-10 batch \(a dict with data and labels\), found list",
        ),
        ("wrong shape", r"data_batch_3: expected 'data' as uint8 \(N, 3072\), found uint8 \(4, 1024\)"),
        ("labels", r"data_batch_3: 3 labels for 4 images"),
    ],
)
def test_cifar10_damage_is_one_error_naming_the_file(tmp_path, damage, match):
    write_cifar(tmp_path)
    path = tmp_path / "data_batch_3"
    if damage == "missing":
        (tmp_path / "test_batch").unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-50])
    elif damage == "garbage":
        path.write_bytes(b"\x00\x01 this is not a pickle")
    elif damage == "not a dict":
        path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    elif damage == "wrong shape":
        batch = cifar_batch(4, np.random.default_rng(0))
        batch[b"data"] = batch[b"data"][:, :1024].copy()
        path.write_bytes(pickle.dumps(batch, protocol=2))
    elif damage == "labels":
        batch = cifar_batch(4, np.random.default_rng(0))
        batch[b"labels"] = batch[b"labels"][:3]
        path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=match):
        make(CIFAR10, data_dir=tmp_path)


# ---------------------------------------------------------------------------------------------
# CSV and Parquet
# ---------------------------------------------------------------------------------------------


def small_table(n=50, seed=0):
    rng = np.random.default_rng(seed)
    size = rng.normal(10.0, 3.0, size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    flag = rng.integers(0, 2, size=n).astype(bool)
    label = np.where(size > 10.0, "big", "small")
    frame = pd.DataFrame(
        {"size": size, "colour": colour, "flag": flag, "label": label, "price": 2 * size + 1}
    )
    frame.loc[3, "size"] = np.nan  # one missing feature value
    frame.loc[4, "colour"] = None
    return frame


def write_table(frame, path):
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize(
    "task_class, suffix", [(CSVTable, ".csv"), (ParquetTable, ".parquet")], ids=["csv", "parquet"]
)
def test_tables_load_with_one_hot_categories_and_non_test_standardization(tmp_path, task_class, suffix):
    frame = small_table()
    path = write_table(frame.drop(columns="price"), tmp_path / f"shop{suffix}")
    task = make(task_class, seed=2, path=path, target="label")
    spec = task.spec()
    # size, three colours, flag: 5 features; big/small: 2 classes
    assert (spec.modality, spec.kind, spec.input_shape, spec.num_classes) == (
        "tabular",
        "classification",
        (5,),
        2,
    )
    train_x, train_y = task.data["train"]
    assert train_x.shape == (30, 5) and train_x.dtype == torch.float32
    development_x = torch.cat([train_x, task.data["val"][0]])  # every row but the test's
    assert torch.allclose(development_x.mean(0), torch.zeros(5), atol=1e-5)  # missing values: the mean (0)
    x = torch.cat([task.data[s][0] for s in ("train", "val", "test")])
    assert not x.isnan().any()
    y = torch.cat([task.data[s][1] for s in ("train", "val", "test")])
    assert sorted(y.tolist()) == sorted((frame["label"] == "small").astype(int).tolist())  # big 0, small 1
    with torch.no_grad():
        oracle = task.evaluate(
            lambda inputs: torch.nn.functional.one_hot(task.data["test"][1], 2).float(), "test"
        )
    assert oracle["accuracy"] == 1.0
    by_folder = make(task_class, seed=2, data_dir=tmp_path, target="label")
    assert all(torch.equal(by_folder.data[s][0], task.data[s][0]) for s in task.data)


def test_csv_and_parquet_give_the_same_data(tmp_path):
    frame = small_table()
    from_csv = make(CSVTable, path=write_table(frame, tmp_path / "t.csv"), target="label")
    from_parquet = make(ParquetTable, path=write_table(frame, tmp_path / "t.parquet"), target="label")
    for split in ("train", "val", "test"):
        assert torch.allclose(from_csv.data[split][0], from_parquet.data[split][0], atol=1e-6)
        assert torch.equal(from_csv.data[split][1], from_parquet.data[split][1])


def test_regression_tables_are_scored_in_target_units(tmp_path):
    path = write_table(small_table(), tmp_path / "t.csv")
    task = make(CSVTable, path=path, target="price", task_kind="regression")
    spec = task.spec()
    assert (spec.kind, spec.output_shape, spec.num_classes) == ("regression", (1,), None)
    assert task.metric().name == "rmse" and not task.metric().higher_is_better
    _, y = task.data["test"]
    assert y.shape == (10, 1) and y.dtype == torch.float32
    with torch.no_grad():
        exact = task.evaluate(lambda inputs: y, "test")
        off = task.evaluate(lambda inputs: y + 1.0, "test")  # one train standard deviation too high
    assert exact["rmse"] == pytest.approx(0.0, abs=1e-6) and exact["r2"] == pytest.approx(1.0)
    assert off["rmse"] == pytest.approx(task.target_std, rel=1e-5) and off["mae"] == pytest.approx(
        task.target_std
    )
    assert task.loss(y + 1.0, y).item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "write, config, match",
    [
        (lambda p: None, {"path": "missing.csv"}, r"missing.csv: no such file \(expected a csv table\)"),
        (lambda p: p.write_text("a,b\n1,2\n1,2,3,4\n"), {}, r"t.csv: not a readable CSV table \(ParserError"),
        (lambda p: p.write_text(""), {}, r"t.csv: not a readable CSV table \(EmptyDataError"),
        (
            lambda p: p.write_text("a,label\n1,x\n2,y\n"),
            {},
            r"t.csv: 2 rows; a train/val/test split needs at least 5",
        ),
        (
            lambda p: write_table(small_table(), p),
            {"target": "nope"},
            r"t.csv: no target column 'nope'; the columns",
        ),
        (lambda p: p.write_text("label\nx\ny\n"), {}, r"t.csv: expected a table with rows, a target column"),
        (
            lambda p: p.write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(9)) + "4,\n"),
            {},
            r"t.csv: target column 'label' has 1 missing values",
        ),
        (
            lambda p: p.write_text("a,label\n" + "".join(f"{i},x\n" for i in range(9))),
            {},
            r"t.csv: target column 'label' has a single class",
        ),
        (
            lambda p: p.write_text("a,label\n" + "".join(f"id{i},{i % 2}\n" for i in range(200))),
            {},
            r"t.csv: column 'a' has 200 distinct non-numeric values",
        ),
        (
            lambda p: write_table(small_table(), p),
            {"target": "colour", "task_kind": "regression"},
            r"t.csv: target column 'colour' has 1 missing values",
        ),
        (
            lambda p: write_table(small_table(), p),
            {"target": "label", "task_kind": "regression"},
            r"t.csv: regression target 'label' must be numeric",
        ),
    ],
)
def test_table_problems_are_one_error_naming_the_file(tmp_path, monkeypatch, write, config, match):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "t.csv"
    write(path)
    config = {"path": path, "target": "label", **config}
    with pytest.raises(DataError, match=match):
        make(CSVTable, **config)


def test_a_truncated_parquet_file_is_one_error_naming_it(tmp_path):
    path = write_table(small_table(), tmp_path / "t.parquet")
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match=r"t.parquet: not a readable PARQUET table"):
        make(ParquetTable, path=path, target="label")


def test_table_location_must_be_exactly_one_file(tmp_path):
    with pytest.raises(pydantic.ValidationError, match="exactly one of data_dir"):
        CSVTable.Config(target="label")
    with pytest.raises(pydantic.ValidationError, match="exactly one of data_dir"):
        CSVTable.Config(target="label", path="a.csv", data_dir=".")
    with pytest.raises(pydantic.ValidationError, match="target"):
        CSVTable.Config(path="a.csv")
    write_table(small_table(), tmp_path / "a.csv")
    write_table(small_table(), tmp_path / "b.csv")
    with pytest.raises(DataError, match=r"expected exactly one \.csv file, found a.csv, b.csv"):
        CSVTable(CSVTable.Config(data_dir=tmp_path, target="label")).spec()
    with pytest.raises(DataError, match=r"expected exactly one \.parquet/\.pq file, found none"):
        ParquetTable(ParquetTable.Config(data_dir=tmp_path, target="label")).spec()
