"""The base of every task whose model outputs class logits: cross-entropy loss, accuracy and loss scored."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nnbench.tasks import metrics
from nnbench.types import Task

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch


class ClassificationTask(Task):
    """A task scored on class logits ``(B, C)`` (or per position, ``(B, T, C)``) against class indices.

    Gives the generic supervised step's loss and the usual evaluation; a task that scores more (per-query
    accuracy, a longer test split) overrides :meth:`evaluate` and keeps the loss.
    """

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the class logits (positions whose target is ``-100`` are skipped)."""
        return metrics.cross_entropy(outputs, targets)

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """``accuracy`` (primary) and mean cross-entropy ``loss`` on ``split``."""
        x, y = self.data[split]
        logits = metrics.predict(model, x)
        return {"accuracy": metrics.accuracy(logits, y), "loss": metrics.cross_entropy(logits, y).item()}
