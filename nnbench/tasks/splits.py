"""Seeded train/val/test splits of a fixed dataset, shared by the tasks built on bundled tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

SPLIT_FRACTIONS = (0.6, 0.2, 0.2)  # train, val, test


def split_indices(
    n: int, seed: int, fractions: tuple[float, float, float] = SPLIT_FRACTIONS
) -> dict[str, np.ndarray]:
    """Row indices of each split: a permutation of ``range(n)`` from ``seed``, cut 60/20/20.

    Train and val take ``int(fraction * n)`` rows each; test takes the rest, so no row is lost.
    """
    import numpy as np

    order = np.random.default_rng(seed).permutation(n)
    n_train = int(fractions[0] * n)
    n_val = int(fractions[1] * n)
    return {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
