"""scikit-learn's bundled tables (digits, breast cancer, wine), read straight from its installed files.

The same bytes ``sklearn.datasets.load_*`` reads, without importing scikit-learn (about a second):
every trial process pays that import otherwise. ``tests/test_tasks.py`` checks equality with scikit-learn.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnbench.errors import DataError


@dataclass(frozen=True)
class Table:
    """Features ``data`` (N, F) float64, integer ``target`` (N,), and for digits ``images`` (N, 8, 8)."""

    data: np.ndarray
    target: np.ndarray
    images: np.ndarray | None = None


def _data_dir() -> Path:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "scikit-learn is not installed: its bundled datasets are needed (pip install scikit-learn)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def load_digits() -> Table:
    """The 1797 8x8 digits (``digits.csv.gz``: 64 pixel columns, then the label)."""
    path = _data_dir() / "digits.csv.gz"
    with gzip.open(path, "rt") as handle:
        rows = np.loadtxt(handle, delimiter=",")
    data, target = rows[:, :-1], rows[:, -1].astype(int)
    return Table(data=data, target=target, images=data.reshape(-1, 8, 8))


def _load_csv(name: str) -> Table:
    # The format of scikit-learn's load_csv_data: a header "n_samples,n_features,class names...",
    # then one row per sample with the features and the class index last.
    path = _data_dir() / name
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        n_samples, n_features = int(header[0]), int(header[1])
        data = np.empty((n_samples, n_features))
        target = np.empty((n_samples,), dtype=int)
        for i, row in enumerate(reader):
            data[i] = np.asarray(row[:-1], dtype=np.float64)
            target[i] = int(row[-1])
    return Table(data=data, target=target)


def load_breast_cancer() -> Table:
    """The Wisconsin breast cancer table: 569 x 30, 2 classes."""
    return _load_csv("breast_cancer.csv")


def load_wine() -> Table:
    """The wine recognition table: 178 x 13, 3 classes."""
    return _load_csv("wine_data.csv")
