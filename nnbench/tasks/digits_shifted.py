"""``digits-shifted``: scikit-learn's 8x8 digits pasted at a random place on a larger blank canvas."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from nnbench.tasks import metrics
from nnbench.tasks.splits import split_indices
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, Task, TaskSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

DIGIT_SIZE = 8  # sides of scikit-learn's digit images


class DigitsShifted(Task):
    """Classify 8x8 digits placed at a random position on a ``canvas`` x ``canvas`` image."""

    name = "digits-shifted"
    version = 1
    tier = "quick"
    description = (
        "Scikit-learn's 1797 8x8 digits, each pasted once at a random position on a blank 24x24 canvas "
        "(the canvas size is the knob): the same digits as the digits task, now anywhere. It tests "
        "translation invariance. A CNN should win (about 98%), since its shared filters and pooling "
        "recognise a stroke wherever it is; an LSTM reading rows and a ViT follow, and an MLP, which must "
        "learn every digit at every position from about 1000 examples, falls far behind (about 76%)."
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

        Split 60/20/20 by ``seed`` as in ``digits``; each image's top-left corner is drawn uniformly
        by a second generator seeded with ``(seed, 1)`` (a stream independent of the split's).
        """
        import numpy as np
        import torch

        from nnbench.tasks.bundled import load_digits

        bunch = load_digits()
        n, canvas = len(bunch.target), self.config.canvas
        corners = np.random.default_rng([seed, 1]).integers(0, canvas - DIGIT_SIZE + 1, size=(n, 2))  # (N, 2)
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

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the class logits."""
        return metrics.cross_entropy(outputs, targets)

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """``accuracy`` (primary) and mean cross-entropy ``loss`` on ``split``."""
        x, y = self.data[split]
        logits = metrics.predict(model, x)
        return {"accuracy": metrics.accuracy(logits, y), "loss": metrics.cross_entropy(logits, y).item()}
