"""``digits``: scikit-learn's bundled 8x8 handwritten digits, the sanity check of every image model."""

from __future__ import annotations

from typing import Any

from nnbench.hookspecs import hookimpl
from nnbench.tasks.classification import ClassificationTask
from nnbench.tasks.splits import split_indices
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, TaskSpec


class Digits(ClassificationTask):
    """Classify scikit-learn's 1797 8x8 digit images (10 classes), split 60/20/20 (test fixed, val by the seed)."""

    name = "digits"
    version = 2  # 2: the test split is the same for every seed (1: drawn by the seed)
    tier = "smoke"
    description = (
        "Scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes): a sanity check that a "
        "family learns a small image task at all. Every family should get most digits right within seconds "
        "on a CPU; the CNN's locality prior gives it a small edge in accuracy, while the MLP gets there "
        "fastest because the images are tiny."
    )

    class Config(BaseConfig):
        """No options: the dataset and its test rows are fixed; the seed picks the validation rows."""

    def spec(self) -> TaskSpec:
        """Images ``(1, 8, 8)`` in [0, 1] to 10 class logits."""
        return TaskSpec(
            name=self.name,
            modality="image",
            kind="classification",
            input_shape=(1, 8, 8),
            output_shape=(10,),
            num_classes=10,
        )

    def metric(self) -> Metric:
        """Test accuracy, target 95%; equivalence within 1 point; anchors: chance (10 classes) -> 0,
        the target -> 1."""
        return Metric(
            "accuracy", higher_is_better=True, target=0.95, margin=Margin(0.01), anchors=(1 / 10, 0.95)
        )

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Pixels scaled by 1/16 to [0, 1] as float32 ``(N, 1, 8, 8)``, labels as long ``(N,)``."""
        import torch

        from nnbench.tasks.bundled import load_digits

        bunch = load_digits()
        images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
        labels = torch.tensor(bunch.target, dtype=torch.long)  # (N,)
        return {
            split: (images[torch.from_numpy(rows)], labels[torch.from_numpy(rows)])
            for split, rows in split_indices(len(labels), seed).items()
        }


@hookimpl
def register_tasks(register):
    """Register the Digits task."""
    register(Digits)
