"""Gradient-boosted decision trees: the non-neural reference row for tables.

scikit-learn's ``HistGradientBoostingClassifier`` / ``HistGradientBoostingRegressor`` (histogram-binned
gradient boosting as in LightGBM: Ke et al., 2017, "LightGBM: A Highly Efficient Gradient Boosting
Decision Tree"; boosting: Friedman, 2001, "Greedy Function Approximation: A Gradient Boosting Machine").
It is marked ``reference = True``: reports show it as a yardstick, not as a competing network.

There are no training steps: ``train`` fits the trees on the whole training split at once (on the CPU,
with as many OpenMP threads as torch is allowed), scores the validation split once, and reports the
boosting iterations as steps. The runner then records the wall clock of ``train()`` as training time
and says so. The fitted model is wrapped in a module whose forward returns log class probabilities
``(B, num_classes)`` (classification) or predictions ``(B, k)`` (regression, one booster per output)
on the input's device, so the task's own ``evaluate`` scores it; the fitted trees travel in the module's
``state_dict`` (extra state), so checkpoint selection keeps them.

Cost of the defaults (200 iterations, 31 leaves): about 0.3 s to fit tabular-real on one CPU core.
Sizes on tabular (2,400 rows, 4 classes: a tree per class and iteration), fitted on one CPU core: xs
(50 iterations, 15 leaves) 3,000 leaves in all and 0.5 s, l (800 iterations, 127 leaves) 51k leaves
(min_samples_leaf stops most trees short of the limit) and 6.1 s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import nnbench
from nnbench import hookimpl

if TYPE_CHECKING:  # the torch modules are imported by build, not here
    from nnbench_plugins.nets.gbdt import FittedTrees
    from torch import nn


class GBDT(nnbench.Architecture):
    """Histogram gradient-boosted trees from scikit-learn: a non-neural reference for tables."""

    name = "gbdt"
    modalities = frozenset({"tabular"})
    kinds = frozenset({"classification", "regression"})
    reference = True

    class Config(nnbench.Config):
        """The booster's main options (scikit-learn's names)."""

        max_iter: int = 200  # boosting iterations (trees per class)
        learning_rate: float = 0.1  # shrinkage of each tree
        max_leaf_nodes: int = 31  # leaves per tree
        max_depth: int | None = None  # depth limit per tree (None: only the leaf limit)
        min_samples_leaf: int = 20  # smallest leaf
        l2_regularization: float = 0.0  # L2 penalty on leaf values
        early_stopping: bool = False  # stop when a 10% hold-out of the training split stops improving

    # Boosting iterations double and leaves per tree double too (leaves also stop at min_samples_leaf
    # on small tables, so the fitted trees grow less than the limits). s is the default (200 x 31).
    sizes = {
        "xs": {"max_iter": 50, "max_leaf_nodes": 15},
        "s": {"max_iter": 200, "max_leaf_nodes": 31},
        "m": {"max_iter": 400, "max_leaf_nodes": 63},
        "l": {"max_iter": 800, "max_leaf_nodes": 127},
    }
    # Shrinkage from 0.01 (needs many trees) to 0.3 (few); 8-64 leaves per tree and 5-50 samples per
    # leaf, log-spaced (the tables here have hundreds to thousands of rows); L2 on leaf values from
    # negligible to strong.
    search_space = {
        "learning_rate": nnbench.LogUniform(0.01, 0.3),
        "max_leaf_nodes": nnbench.IntRange(8, 64, log=True),
        "min_samples_leaf": nnbench.IntRange(5, 50, log=True),
        "l2_regularization": nnbench.LogUniform(1e-3, 10.0),
    }

    def incompatibility(self, task: nnbench.TaskSpec) -> str | None:
        """The base rules, plus: flat feature vectors only."""
        reason = super().incompatibility(task)
        if reason is None and len(task.input_shape) != 1:
            return f"gbdt takes (F,) feature vectors, got {task.input_shape}"
        return reason

    def build(self, task: nnbench.TaskSpec, config: GBDT.Config) -> nn.Module:
        """An unfitted :class:`FittedTrees`; ``train`` fits it."""
        from nnbench_plugins.nets.gbdt import FittedTrees

        return FittedTrees(task=task)

    def train(self, model: FittedTrees, task: nnbench.Task, config: GBDT.Config, ctx: nnbench.RunContext):
        """Fit on the whole training split (no measured steps), then score the validation split once."""
        import torch
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        x, y = task.data["train"]
        features = x.detach().float().cpu().reshape(len(x), -1).numpy()  # (N, F)
        targets = y.detach().cpu().numpy()
        options = config.model_dump()
        options["random_state"] = ctx.trial.seed % 2**32
        with threadpool_limits(limits=torch.get_num_threads(), user_api="openmp"):
            if model.classification:
                estimators = [HistGradientBoostingClassifier(**options).fit(features, targets)]
            else:
                columns = targets.reshape(len(targets), -1)  # (N, k)
                estimators = [
                    HistGradientBoostingRegressor(**options).fit(features, columns[:, j])
                    for j in range(columns.shape[1])
                ]
        model.estimators = estimators
        ctx.loop.evaluate(model, "val")
        iterations = max(estimator.n_iter_ for estimator in estimators)
        return nnbench.TrainResult(steps=iterations, samples=len(features))


@hookimpl
def register_architectures(register):
    """Register the gradient-boosted trees."""
    register(GBDT())
