"""``tabular``: a synthetic table of informative features drowned in useless ones.

Scikit-learn's ``make_classification`` (Guyon, 2003, the MADELON design: Gaussian clusters on the
vertices of a hypercube in the informative subspace) plus ``noise_features`` columns of pure noise,
shuffled among the informative ones. Grinsztajn et al., 2022, "Why do tree-based models still
outperform deep learning on typical tabular data?", found uninformative features to be one reason
MLPs lose to gradient-boosted trees; this task isolates it.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from nnbench.hookspecs import hookimpl
from nnbench.tasks.classification import ClassificationTask
from nnbench.tasks.splits import split_indices
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, TaskSpec

TABLE_SEED = 0  # draws the table: the same table (seed 0's of version 1) for every trial seed


class Tabular(ClassificationTask):
    """Classify rows of a ``make_classification`` table with ``noise_features`` useless columns."""

    name = "tabular"
    version = 2  # 2: one table and test split for every seed (1: both drawn by the seed)
    tier = "quick"
    description = (
        "A synthetic table from scikit-learn's make_classification: 8 informative features (Gaussian "
        "clusters, two per class, 4 classes) hidden among 40 columns of pure noise, standardized with "
        "the statistics of the non-test rows; the table and its test rows are fixed, the seed picks the validation rows. It tests robustness to useless features, which real "
        "tables are full of. Gradient-boosted trees (the gbdt reference row) should win, since each split "
        "picks one informative column and ignores the rest, while an MLP mixes every column from its first "
        "layer: the noise columns cost it far more accuracy than they cost the trees, and with "
        "noise_features=0 it can match or beat them."
    )

    class Config(BaseConfig):
        """Table shape and difficulty."""

        n_samples: int = Field(4000, ge=20)  # rows in all, split 60/20/20 (test fixed, val by the seed)
        n_informative: int = Field(8, ge=2)  # features that carry the class
        noise_features: int = Field(40, ge=0)  # extra columns of standard normal noise
        n_classes: int = Field(4, ge=2)
        class_sep: float = Field(1.0, gt=0)  # hypercube side / 2: smaller is harder

    def spec(self) -> TaskSpec:
        """Feature vectors ``(informative + noise,)`` to class logits."""
        config = self.config
        num_features = config.n_informative + config.noise_features
        return TaskSpec(
            name=self.name,
            modality="tabular",
            kind="classification",
            input_shape=(num_features,),
            output_shape=(config.n_classes,),
            num_classes=config.n_classes,
        )

    def metric(self) -> Metric:
        """Test accuracy, target 80%; equivalence within 1 point; anchors: chance (1 / n_classes) -> 0, the
        target -> 1."""
        return Metric(
            "accuracy",
            higher_is_better=True,
            target=0.8,
            margin=Margin(0.01),
            anchors=(1 / self.config.n_classes, 0.8),
        )

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Float32 ``(N, F)`` standardized with the mean and std of the non-test rows; labels long ``(N,)``.

        ``make_classification`` draws the table once, from :data:`TABLE_SEED` (clusters, rows, 1% flipped
        labels, and the order of the columns, so the informative ones sit anywhere); the rows are then
        split 60/20/20, the test rows fixed and the validation rows picked by ``seed``.
        """
        import torch
        from sklearn.datasets import make_classification

        config = self.config
        features, labels = make_classification(
            n_samples=config.n_samples,
            n_features=config.n_informative + config.noise_features,
            n_informative=config.n_informative,
            n_redundant=0,
            n_repeated=0,
            n_classes=config.n_classes,
            n_clusters_per_class=2,
            class_sep=config.class_sep,
            flip_y=0.01,
            shuffle=True,
            random_state=TABLE_SEED,
        )
        features = torch.tensor(features, dtype=torch.float64)  # (N, F)
        labels = torch.tensor(labels, dtype=torch.long)  # (N,)
        rows = {split: torch.from_numpy(index) for split, index in split_indices(len(labels), seed).items()}
        train = features[torch.cat([rows["train"], rows["val"]])]  # every row but the test's
        mean = train.mean(dim=0)
        std = train.std(dim=0, unbiased=False).clamp_min(1e-12)
        return {
            split: (((features[index] - mean) / std).float(), labels[index]) for split, index in rows.items()
        }


@hookimpl
def register_tasks(register):
    """Register the Tabular task."""
    register(Tabular)
