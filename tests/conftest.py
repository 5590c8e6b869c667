"""Shared fixtures: a fresh plugin manager per test, a store in a temporary folder, tiny suites."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_PLUGINS = Path(__file__).resolve().parent / "plugins"

# Trials in tests use one thread: two test processes may share the machine's two cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch):
    """Each test starts with no plugin loaded and no failure recorded, and no strict/trace mode."""
    from nnbench import plugins

    monkeypatch.delenv("NNBENCH_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("NNBENCH_TRACE_PLUGINS", raising=False)
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture(autouse=True)
def empty_data_cache(tmp_path_factory, monkeypatch) -> Path:
    """Each test has its own empty data cache (NNBENCH_DATA): none reads the user's fetched datasets."""
    path = tmp_path_factory.mktemp("nnbench-data")
    monkeypatch.setenv("NNBENCH_DATA", str(path))
    return path


def idx_bytes(array) -> bytes:
    """An IDX file holding a uint8 numpy array (LeCun's format: 0, 0, type 0x08, ndim, sizes, data)."""
    import struct

    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype("uint8").tobytes()


def tiny_mnist_files(n_train: int = 40, n_test: int = 10, seed: int = 0) -> dict[str, bytes]:
    """The four gzipped IDX files of a tiny MNIST-shaped dataset, by their published names."""
    import gzip

    import numpy as np

    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    return {f"{stem}.gz": gzip.compress(idx_bytes(array), mtime=0) for stem, array in arrays.items()}


def tiny_cifar_batches(n: int = 4, seed: int = 0) -> dict[str, bytes]:
    """The six pickled batches of a tiny CIFAR-10-shaped dataset, as the official archive has them."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(seed)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, size=n)],
            b"data": rng.integers(0, 256, size=(n, 3072)).astype(np.uint8),
            b"filenames": [b"x.png"] * n,
        }
        batches[name] = pickle.dumps(batch, protocol=2)
    return batches


@pytest.fixture
def fetched_datasets(empty_data_cache) -> Path:
    """A data cache holding tiny stand-ins for MNIST, Fashion-MNIST and CIFAR-10, laid out as
    ``nnbench data fetch`` leaves them (for suites that name those tasks without a data_dir)."""
    for name in ("mnist", "fashion-mnist"):
        (empty_data_cache / name).mkdir()
        for file_name, body in tiny_mnist_files().items():
            (empty_data_cache / name / file_name).write_bytes(body)
    cifar = empty_data_cache / "cifar10" / "cifar-10-batches-py"
    cifar.mkdir(parents=True)
    for file_name, body in tiny_cifar_batches().items():
        (cifar / file_name).write_bytes(body)
    return empty_data_cache


@pytest.fixture
def group():
    """The ``nnbench`` click group, for invoking commands in-process with click's CliRunner."""
    from nnbench.cli import cli

    return cli


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    """A results store path in a temporary folder (also set as NNBENCH_DB)."""
    path = tmp_path / "results.db"
    monkeypatch.setenv("NNBENCH_DB", str(path))
    return path


@pytest.fixture
def write_suite(tmp_path):
    """Write a suite file from YAML text (dedented) and return its path."""

    def write(text: str, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300):
    """Run ``python -m nnbench ARGS`` in a subprocess, as a user would; return the CompletedProcess."""
    return run_module("nnbench", *args, env=env, cwd=cwd, timeout=timeout)


def run_module(
    module: str, *args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300
):
    """Run ``python -m MODULE ARGS`` in a subprocess with ``env`` added to this one's; return the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


def pip_install_target(package: Path, site: Path) -> None:
    """Install a package folder with pip into ``site`` (no dependencies): a real install, no venv touched."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(package),
        ],
        check=True,
        capture_output=True,
    )


def count_ok(db) -> int:
    """Trials with status ok in the store at ``db`` now (0 before it exists or while it is locked)."""
    if not os.path.exists(db):
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM trials WHERE status='ok'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
