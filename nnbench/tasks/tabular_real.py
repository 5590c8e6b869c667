"""``tabular-real``: small real tables bundled with scikit-learn (breast cancer, or wine)."""

from __future__ import annotations

from typing import Any, Literal

from nnbench.hookspecs import hookimpl
from nnbench.tasks.classification import ClassificationTask
from nnbench.tasks.splits import split_indices
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, TaskSpec

# dataset -> (scikit-learn loader name, number of features, number of classes)
DATASETS = {
    "breast_cancer": ("load_breast_cancer", 30, 2),
    "wine": ("load_wine", 13, 3),
}


class TabularReal(ClassificationTask):
    """Classify the rows of a real table bundled with scikit-learn, standardized without the test rows."""

    name = "tabular-real"
    version = 2  # 2: test split fixed, statistics of the non-test rows (1: by the seed, train rows)
    tier = "smoke"
    description = (
        "A small real table bundled with scikit-learn (Wisconsin breast cancer by default: 569 rows, "
        "30 numeric features, 2 classes): a sanity check on real tabular data. Only architectures that "
        "take flat feature vectors apply; an MLP should win easily, since the features have no spatial "
        "or temporal order for a CNN, RNN or Transformer prior to exploit."
    )

    class Config(BaseConfig):
        """Which table to use."""

        dataset: Literal["breast_cancer", "wine"] = "breast_cancer"  # 569x30, 2 classes | 178x13, 3 classes

    def spec(self) -> TaskSpec:
        """Feature vectors ``(F,)`` to class logits."""
        _, num_features, num_classes = DATASETS[self.config.dataset]
        return TaskSpec(
            name=self.name,
            modality="tabular",
            kind="classification",
            input_shape=(num_features,),
            output_shape=(num_classes,),
            num_classes=num_classes,
        )

    def metric(self) -> Metric:
        """Test accuracy, target 95%; equivalence within 1 point; anchors: chance (1 / classes) -> 0, the
        target -> 1. Chance is 1/k, not the majority class's share (breast_cancer's classes are 63/37)."""
        classes = DATASETS[self.config.dataset][2]
        return Metric(
            "accuracy", higher_is_better=True, target=0.95, margin=Margin(0.01), anchors=(1 / classes, 0.95)
        )

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Float32 ``(N, F)`` standardized with the mean and std of the rows outside the test split (the
        same for every seed, so the test rows are too); labels long ``(N,)``."""
        import torch

        from nnbench.tasks import bundled

        loader_name, _, _ = DATASETS[self.config.dataset]
        bunch = getattr(bundled, loader_name)()
        features = torch.tensor(bunch.data, dtype=torch.float64)  # (N, F)
        labels = torch.tensor(bunch.target, dtype=torch.long)  # (N,)
        rows = {split: torch.from_numpy(index) for split, index in split_indices(len(labels), seed).items()}
        train = features[torch.cat([rows["train"], rows["val"]])]  # every row but the test's
        mean = train.mean(dim=0)
        std = train.std(dim=0, unbiased=False).clamp_min(1e-12)  # a constant column stays finite
        return {
            split: (((features[index] - mean) / std).float(), labels[index]) for split, index in rows.items()
        }


@hookimpl
def register_tasks(register):
    """Register the TabularReal task."""
    register(TabularReal)
