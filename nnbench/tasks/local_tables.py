"""``csv`` and ``parquet``: a table the user has, with a named target column, as a tabular task.

The table is read by pandas (Parquet through pyarrow) via :mod:`nnbench.tasks.loaders`: numeric and
boolean columns are features as they are, other columns are one-hot encoded, a classification target
becomes class indices. Rows are split 60/20/20: the test rows are the same for every seed (with every
copy of a test row), the validation rows are picked by the seed. Features (and a regression target) are
standardized with the statistics of the rows outside the test split, and a missing feature value
becomes their mean.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pydantic

from nnbench.errors import DataError
from nnbench.hookspecs import hookimpl
from nnbench.tasks import loaders, metrics
from nnbench.tasks.classification import ClassificationTask
from nnbench.tasks.splits import split_indices
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, TaskSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import torch

MIN_ROWS = 5  # the fewest rows that leave every split of a 60/20/20 cut non-empty


class TableConfig(BaseConfig):
    """Which file, which column to predict, and whether it is a class or a number."""

    data_dir: Path | None = None  # a folder holding exactly one table of the task's format (or give path)
    path: Path | None = None  # the table file itself (or give data_dir); relative to the working directory
    target: str  # the column to predict (required)
    task_kind: Literal["classification", "regression"] = "classification"

    @pydantic.model_validator(mode="after")
    def _one_location(self) -> TableConfig:
        if (self.data_dir is None) == (self.path is None):
            raise ValueError(
                "give exactly one of data_dir (a folder holding one table) and path (the table file)"
            )
        return self


@functools.lru_cache(maxsize=4)
def _prepared(
    path: Path, file_format: str, target: str, task_kind: str, stamp: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The table's feature matrix, targets and class names, cached per file version (``stamp``)."""
    frame = loaders.read_table(path, file_format)
    features, targets, classes = loaders.table_arrays(frame, path, target=target, task_kind=task_kind)
    if len(targets) < MIN_ROWS:
        raise DataError(f"{path}: {len(targets)} rows; a train/val/test split needs at least {MIN_ROWS}")
    features.flags.writeable = False
    targets.flags.writeable = False
    return features, targets, tuple(classes)


class CSVTable(ClassificationTask):
    """Predict one column of a local CSV table from the others (classification or regression)."""

    name = "csv"
    version = 2  # 2: test rows (and their copies) fixed, statistics of the non-test rows
    tier = "local"
    description = (
        "A table the user has, as a CSV file: one target column to predict (a class or a number) from the "
        "other columns, split 60/20/20 (the test rows fixed) and standardized without the test rows. It shows how the "
        "families do on the user's own data. On most real tables gradient-boosted trees (the gbdt reference "
        "row) are the bar to beat and an MLP or an FT-Transformer comes close; the image and sequence "
        "families do not apply."
    )
    Config = TableConfig
    file_format = "csv"
    suffixes = (".csv",)

    def __init__(self, config: TableConfig | None = None):
        super().__init__(config)
        self.target_mean, self.target_std = 0.0, 1.0  # a regression target's train statistics (make_data)

    def table_path(self) -> Path:
        """``path``, or the one file of the task's format in ``data_dir``."""
        if self.config.path is not None:
            return Path(self.config.path)
        folder = Path(self.config.data_dir)
        if not folder.is_dir():
            raise DataError(
                f"{folder}: no such folder (expected a folder holding one {self.file_format} table)"
            )
        found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in self.suffixes)
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise DataError(
                f"{folder}: expected exactly one {'/'.join(self.suffixes)} file, found {names} (or give path)"
            )
        return found[0]

    def table(self) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """Features ``(N, F)`` float64 with NaN where missing, targets ``(N,)`` and class names."""
        path = self.table_path()
        try:
            stat = path.stat()
        except OSError:
            raise DataError(f"{path}: no such file (expected a {self.file_format} table)") from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        return _prepared(path.resolve(), self.file_format, self.config.target, self.config.task_kind, stamp)

    def spec(self) -> TaskSpec:
        """Feature vectors ``(F,)`` to class logits, or to one number for regression (reads the table)."""
        features, _, classes = self.table()
        if self.config.task_kind == "regression":
            return TaskSpec(
                name=self.name,
                modality="tabular",
                kind="regression",
                input_shape=(features.shape[1],),
                output_shape=(1,),
            )
        return TaskSpec(
            name=self.name,
            modality="tabular",
            kind="classification",
            input_shape=(features.shape[1],),
            output_shape=(len(classes),),
            num_classes=len(classes),
        )

    def metric(self) -> Metric:
        """Test accuracy for classification; root-mean-square error (target units, lower is better) for
        regression. No target: the table is unknown.

        Accuracy: equivalence within 1 point; anchors: chance (1 / the table's classes) -> 0, a perfect
        score (accuracy 1) -> 1. RMSE: equivalence within 5% of the reference's RMSE; no anchors (the
        table's scale is unknown), so a regression table is left out of scores across tasks.
        """
        if self.config.task_kind == "regression":
            return Metric("rmse", higher_is_better=False, target=None, margin=Margin(0.05, relative=True))
        classes = self.spec().num_classes or 2
        return Metric(
            "accuracy", higher_is_better=True, target=None, margin=Margin(0.01), anchors=(1 / classes, 1.0)
        )

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Float32 features ``(N, F)`` standardized with the non-test rows' statistics (missing values: 0,
        their mean); long class indices ``(N,)``, or float32 standardized targets ``(N, 1)`` for regression.
        Rows with equal features are in the test split together or not at all."""
        import numpy as np
        import torch

        features, targets, _ = self.table()
        rows = split_indices(len(targets), seed, rows=np.nan_to_num(features, nan=np.inf))
        development = np.concatenate([rows["train"], rows["val"]])  # every row but the test's
        train = features[development]
        with np.errstate(all="ignore"):  # an all-missing column has no mean: it becomes zeros
            mean = np.nan_to_num(np.nanmean(train, axis=0))
            std = np.nan_to_num(np.nanstd(train, axis=0))
        std = np.where(std > 1e-12, std, 1.0)
        scaled = np.nan_to_num((features - mean) / std, nan=0.0)
        if self.config.task_kind == "regression":
            self.target_mean = float(targets[development].mean())
            self.target_std = float(targets[development].std()) or 1.0
            standardized = (targets - self.target_mean) / self.target_std
            labels = torch.tensor(standardized, dtype=torch.float32)[:, None]  # (N, 1)
        else:
            labels = torch.tensor(targets, dtype=torch.long)
        x = torch.tensor(scaled, dtype=torch.float32)
        return {
            split: (x[torch.from_numpy(index)], labels[torch.from_numpy(index)])
            for split, index in rows.items()
        }

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the class logits, or mean squared error of the standardized target."""
        if self.config.task_kind == "regression":
            return (outputs.float() - targets).pow(2).mean()
        return super().loss(outputs, targets)

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """Classification: ``accuracy`` (primary) and ``loss``. Regression: ``rmse`` (primary, target units),
        ``mae`` (target units), ``r2`` (1 - MSE / variance of the split's targets) and ``loss`` (MSE of the
        standardized target)."""
        if self.config.task_kind != "regression":
            return super().evaluate(model, split)
        x, y = self.data[split]
        outputs = metrics.predict(model, x)
        error = (outputs.reshape(y.shape) - y).double()
        mse = error.pow(2).mean().item()
        variance = y.double().var(unbiased=False).item()
        return {
            "rmse": mse**0.5 * self.target_std,
            "mae": error.abs().mean().item() * self.target_std,
            "r2": 1.0 - mse / variance if variance > 0 else 0.0,
            "loss": mse,
        }


class ParquetTable(CSVTable):
    """Predict one column of a local Parquet table from the others (classification or regression)."""

    name = "parquet"
    version = 2  # 2: test rows (and their copies) fixed, statistics of the non-test rows
    tier = "local"
    description = (
        "A table the user has, as a Parquet file (read with pyarrow): one target column to predict (a class "
        "or a number) from the other columns, split 60/20/20 (the test rows fixed) and standardized "
        "without the test rows. It shows how the families do on the user's own data. On most real tables "
        "gradient-boosted trees (the gbdt reference row) are the bar to beat and an MLP or an "
        "FT-Transformer comes close; the image and sequence families do not apply."
    )
    file_format = "parquet"
    suffixes = (".parquet", ".pq")


@hookimpl
def register_tasks(register):
    """Register the CSVTable and ParquetTable tasks."""
    register(CSVTable)
    register(ParquetTable)
