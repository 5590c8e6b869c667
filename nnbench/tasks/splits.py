"""Splits whose test part is the same for every seed, and never seen by any seed's training or tuning.

A seed varies the initial weights, the order of the batches and which of the remaining rows are
held out for validation; it never changes the test split. Tuning selects on one seed's validation
split and the winner is re-run on every seed, so a test row that some seed trains or validates on
would leak into the scores. Two tools:

* :func:`split_indices` for a fixed dataset (bundled tables, local tables): the test rows are drawn
  once, by a permutation from :data:`TEST_SEED` (seed 0's permutation, so seed 0's split is the one
  it always had), and train/val are carved from the other rows by the trial's seed. A row whose
  content equals a test row's (a duplicate in the data) goes to the test split too.
* :func:`draw_excluding` for generated data (sequences, points): the test split is drawn from a
  generator of its own, the same for every seed, and a training or validation row that comes out
  equal to a test row is drawn again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

SPLIT_FRACTIONS = (0.6, 0.2, 0.2)  # train, val, test
TEST_SEED = 0  # the permutation that picks a fixed dataset's test rows (seed 0's: its split is unchanged)
GENERATED_TEST_STREAM = (
    2**32 + 11
)  # seeds a generated task's test split (a seed that hit it still trains on no test row)
MAX_REDRAWS = 100  # rounds of drawing again before a generated task declares its space too small


def row_keys(rows: np.ndarray) -> list[bytes]:
    """A key per row (first axis) of ``rows``: a hash of its bytes, so equal content gives equal keys."""
    import numpy as np

    flat = np.ascontiguousarray(rows).reshape(len(rows), -1)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


def split_indices(
    n: int,
    seed: int,
    fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
    rows: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Row indices of each split of ``n`` rows: the test rows fixed, train/val carved by ``seed``.

    Test: the last ``n - int(0.6 n) - int(0.2 n)`` rows of the permutation from :data:`TEST_SEED`,
    plus, when ``rows`` (the data, first axis = rows) is given, every other row with the same content
    as one of them. Train and val: the remaining rows in the order of the seed's permutation, the first
    ``int(0.6 n)`` (fewer if duplicates moved to test) for training, the rest for validation.
    """
    import numpy as np

    n_train = int(fractions[0] * n)
    n_val = int(fractions[1] * n)
    is_test = np.zeros(n, dtype=bool)
    is_test[np.random.default_rng(TEST_SEED).permutation(n)[n_train + n_val :]] = True
    if rows is not None:
        keys = row_keys(rows)
        test_keys = {key for key, test in zip(keys, is_test) if test}
        is_test |= np.array([key in test_keys for key in keys], dtype=bool)
    order = np.random.default_rng(seed).permutation(n)
    pool = order[~is_test[order]]  # the non-test rows in the seed's order
    n_train = min(n_train, len(pool) - min(n_val, len(pool) // 4))  # duplicates shrink train first
    return {
        "train": pool[:n_train],
        "val": pool[n_train:],
        "test": np.flatnonzero(is_test),
    }


def draw_excluding(
    draw: Callable[[int], tuple[np.ndarray, ...]], n: int, exclude: set[bytes], what: str
) -> tuple[np.ndarray, ...]:
    """``n`` rows from ``draw(k)`` (arrays of ``k`` rows each; the first array's rows are compared),
    without any row whose :func:`row_keys` key is in ``exclude``.

    ``draw`` is called with ``n`` first, so when nothing collides the rows are exactly its first
    draw; rows that collide are dropped and the missing ones drawn again.
    """
    import numpy as np

    parts: list[tuple[np.ndarray, ...]] = []
    have = 0
    for _ in range(MAX_REDRAWS):
        arrays = draw(n - have)
        keep = np.array([key not in exclude for key in row_keys(arrays[0])], dtype=bool)
        parts.append(tuple(array[keep] for array in arrays))
        have += int(keep.sum())
        if have >= n:
            return tuple(np.concatenate([part[i] for part in parts])[:n] for i in range(len(arrays)))
    raise ValueError(
        f"{what}: cannot draw {n} rows that differ from every test row in {MAX_REDRAWS} rounds "
        f"(the space of possible rows is too small for the split sizes)"
    )
