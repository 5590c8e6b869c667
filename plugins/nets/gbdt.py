"""The torch modules of the architecture declared in :mod:`nnbench_plugins.gbdt`, imported by its ``build``.

Kept apart from the architecture's declaration so that listing the architectures never imports torch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

import nnbench


class FittedTrees(nn.Module):
    """A scikit-learn booster behind a torch forward; no parameters, the booster is extra state."""

    def __init__(self, *, task: nnbench.TaskSpec):
        super().__init__()
        self.output_shape = tuple(task.output_shape)
        self.classification = task.kind == "classification"
        self.num_classes = task.num_classes
        self.estimators: list[Any] = []  # one classifier, or one regressor per output

    def get_extra_state(self) -> dict[str, Any]:
        return {"estimators": list(self.estimators)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.estimators = list(state["estimators"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.estimators:
            raise RuntimeError("gbdt: the trees are not fitted yet (train() fits them)")
        features = x.detach().float().cpu().reshape(len(x), -1).numpy()  # (B, F)
        if self.classification:
            (estimator,) = self.estimators
            probabilities = estimator.predict_proba(features)  # (B, classes seen in training)
            scores = np.full((len(x), self.num_classes), math.log(1e-12), dtype=np.float32)
            scores[:, estimator.classes_.astype(int)] = np.log(np.clip(probabilities, 1e-12, None))
        else:
            columns = [estimator.predict(features) for estimator in self.estimators]
            scores = np.stack(columns, axis=1)  # (B, k)
        return torch.as_tensor(scores, dtype=torch.float32, device=x.device).view(len(x), *self.output_shape)
