"""``digits-shifted``: scikit-learn's 8x8 digits pasted at a random place on a larger blank canvas."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from nnbench.hookspecs import hookimpl
from nnbench.tasks.classification import ClassificationTask
from nnbench.tasks.splits import split_indices
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, TaskSpec

DIGIT_SIZE = 8  # sides of scikit-learn's digit images
PLACEMENT_SEED = 0  # the digits' positions on the canvas, the same for every trial seed


class DigitsShifted(ClassificationTask):
    """Classify 8x8 digits placed at a random position on a ``canvas`` x ``canvas`` image."""

    name = "digits-shifted"
    version = 2  # 2: positions and test split the same for every seed (1: drawn by the seed)
    tier = "quick"
    description = (
        "Scikit-learn's 1797 8x8 digits, each pasted once at a random position on a blank 24x24 canvas "
        "(the canvas size is the knob): the same digits as the digits task, now anywhere. It tests "
        "translation invariance. A CNN should win, since its shared filters and pooling recognise a "
        "stroke wherever it is; an LSTM reading rows and a ViT follow, and an MLP, which must learn every "
        "digit at every position from about 1000 examples, falls far behind: on short CPU budgets it can "
        "stay near chance while the CNN is already right most of the time."
    )

    class Config(BaseConfig):
        """The canvas size."""

        canvas: int = Field(24, ge=DIGIT_SIZE)  # canvas side in pixels (8: the digits task, unshifted)

    def spec(self) -> TaskSpec:
        """Images ``(1, canvas, canvas)`` in [0, 1] to 10 class logits."""
        canvas = self.config.canvas
        return TaskSpec(
            name=self.name,
            modality="image",
            kind="classification",
            input_shape=(1, canvas, canvas),
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
        """Float32 ``(N, 1, canvas, canvas)`` scaled by 1/16 to [0, 1], labels long ``(N,)``.

        Split 60/20/20 as in ``digits`` (test rows fixed, validation rows by ``seed``); each image's
        top-left corner is drawn uniformly, once, by a generator seeded with ``(0, 1)``: the images
        are the same for every seed (seed 0's of version 1), so the test images are too.
        """
        import numpy as np
        import torch

        from nnbench.tasks.bundled import load_digits

        bunch = load_digits()
        n, canvas = len(bunch.target), self.config.canvas
        corners = np.random.default_rng([PLACEMENT_SEED, 1]).integers(
            0, canvas - DIGIT_SIZE + 1, size=(n, 2)
        )  # (N, 2)
        offsets = np.arange(DIGIT_SIZE)
        rows = corners[:, 0, None] + offsets  # (N, 8)
        cols = corners[:, 1, None] + offsets  # (N, 8)
        images = np.zeros((n, canvas, canvas), dtype=np.float32)
        images[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]] = bunch.images / 16.0
        images = torch.from_numpy(images).unsqueeze(1)  # (N, 1, canvas, canvas)
        labels = torch.tensor(bunch.target, dtype=torch.long)  # (N,)
        return {
            split: (images[torch.from_numpy(index)], labels[torch.from_numpy(index)])
            for split, index in split_indices(n, seed).items()
        }


@hookimpl
def register_tasks(register):
    """Register the DigitsShifted task."""
    register(DigitsShifted)
