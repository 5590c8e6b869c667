"""``mnist1d`` and ``mnist1d-shuffled``: MNIST-1D, a 40-point signal per digit, made offline.

The generator is a faithful re-implementation of ``make_dataset()`` with the default arguments of the
``mnist1d`` package (Greydanus, 2020, "Scaling down Deep Learning"; package version 0.0.2.post1): the
same ten templates, the same transformations in the same order, the same random draws from numpy's
legacy generator seeded with 42. Its output equals the reference dataset the package loads
(``mnist1d_data.pkl``) within 1e-15 in float64 and bit for bit in the float32 served: the SHA-256 pinned
below is the reference data's, and ``tests/test_task_catalogue.py`` checks the generator against figures
taken from that file. The package itself is not used because it imports matplotlib and requests at
import time. The pin makes a changed generator (or a numpy/scipy release that changes a random stream)
fail loudly instead of silently changing the task.
"""

from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING, Any

from nnbench.errors import DataError
from nnbench.hookspecs import hookimpl
from nnbench.tasks.classification import ClassificationTask
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, TaskSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

# The package's get_dataset_args() defaults.
NUM_SAMPLES = 5000  # 500 per class
TRAIN_SPLIT = 0.8  # the first 4000 (after the package's shuffle) train, the last 1000 test
TEMPLATE_LEN = 12
PADDING = (36, 60)  # zeros appended to the template: a random count in [36, 60]
SCALE_COEFF = 0.4  # amplitude scaled by 1 + 0.4 * U(-0.5, 0.5)
MAX_TRANSLATION = 48  # circular shift by U{0..47}
CORR_NOISE_SCALE = 0.25  # Gaussian-smoothed (sigma 2) noise where the signal is exactly zero
IID_NOISE_SCALE = 2e-2
SHEAR_SCALE = 0.75  # a linear ramp of slope 0.75 * U(-0.5, 0.5)
FINAL_SEQ_LENGTH = 40
GENERATOR_SEED = 42
EPS = 1e-8

VAL_SIZE = 500  # validation rows carved from the 4000 training rows by the trial's seed

# sha256 of float32 x (train then test) + int64 y (train then test), C order, little-endian.
CHECKSUMS = {
    False: "f7e6b4ae1766612049bfa012eb07881b5a4d2a1f4c0fd4cc7ce4b79fb0853cdb",
    True: "05d73e75e2f0929c54e0c73a9568cde49f2f57ea0e94ea1d64e441700a0d50a2",
}


def templates() -> np.ndarray:
    """The package's ten hand-drawn 12-point digit templates, whitened, starting at 0, divided by 6."""
    import numpy as np

    x = np.asarray(
        [
            [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
            [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
            [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
            [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
            [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
            [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
            [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
            [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
            [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
            [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
        ]
    )
    x -= x.mean(1, keepdims=True)
    x /= x.std(1, keepdims=True)
    x -= x[:, :1]
    return x / 6.0


def _resample(x: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of ``x`` (on an even grid over [0, 1]) at ``n`` evenly spaced points."""
    import numpy as np

    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(x)), x)


def _transform(x: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """One random variation of template ``x``: pad, dilate, scale, translate, noise, shear, subsample."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    low, high = PADDING
    pad = low + int(rng.rand() * (high - low + 1))
    signal = np.concatenate([x + EPS, np.zeros(pad)])
    signal = _resample(signal, TEMPLATE_LEN + high)  # (72,)
    signal *= 1 + SCALE_COEFF * (rng.rand() - 0.5)
    shift = rng.choice(MAX_TRANSLATION)
    signal = np.concatenate([signal[-shift:], signal[:-shift]])  # shift 0 keeps the signal as it is
    mask = signal != 0  # correlated noise fills the padding only
    corr_noise = gaussian_filter(CORR_NOISE_SCALE * rng.randn(*signal.shape), 2)
    signal = mask * signal + (1 - mask) * corr_noise
    signal = signal + IID_NOISE_SCALE * rng.randn(*signal.shape)
    signal = signal - SHEAR_SCALE * (rng.rand() - 0.5) * np.linspace(-0.5, 0.5, len(signal))
    return _resample(signal, FINAL_SEQ_LENGTH)  # (40,)


def checksum(x: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of ``x`` as float32 and ``y`` as int64 (the arrays a task serves), in C order."""
    import numpy as np

    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(x, dtype="<f4").tobytes())
    digest.update(np.ascontiguousarray(y, dtype="<i8").tobytes())
    return digest.hexdigest()


def generate(shuffle_positions: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The 5000 signals ``(5000, 40)`` float64 and labels ``(5000,)`` int64 of ``make_dataset()``.

    Rows come in the package's order: its first 4000 are the train split, its last 1000 the test split.
    With ``shuffle_positions`` the 40 positions are permuted by the package's ``shuffle_seq`` draw.
    """
    import numpy as np

    rng = np.random.RandomState(GENERATOR_SEED)
    base = templates()
    xs, ys = [], []
    for label in range(10):
        for _ in range(NUM_SAMPLES // 10):
            xs.append(_transform(base[label], rng))
            ys.append(label)
    order = rng.permutation(len(ys))
    x = np.stack(xs)[order]  # (5000, 40)
    y = np.asarray(ys, dtype=np.int64)[order]  # (5000,)
    if shuffle_positions:
        x = x[:, rng.permutation(FINAL_SEQ_LENGTH)]
    return (x - x.mean()) / x.std(), y


@functools.lru_cache(maxsize=2)
def verified_dataset(shuffle_positions: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`generate` as float32/int64, checked against the pinned checksum once per process."""
    import numpy as np

    x, y = generate(shuffle_positions)
    x, y = x.astype(np.float32), y.astype(np.int64)
    found = checksum(x, y)
    if found != CHECKSUMS[shuffle_positions]:
        raise DataError(
            f"MNIST-1D{' (shuffled)' if shuffle_positions else ''} generator produced different data "
            f"(sha256 {found}, expected {CHECKSUMS[shuffle_positions]}): the numpy or scipy in use changed "
            f"a random stream or a filter, so the task would silently differ; pin numpy/scipy or bump the "
            f"task version with a new checksum"
        )
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


class MNIST1D(ClassificationTask):
    """Classify MNIST-1D signals (40 points, one feature each) into 10 digits."""

    name = "mnist1d"
    version = 1
    tier = "quick"
    description = (
        "MNIST-1D (Greydanus, 2020): each of ten 12-point digit templates padded, stretched, shifted, "
        "sheared and drowned in correlated noise, then sampled at 40 points; 4000 train and 1000 test "
        "signals. It tests locality and order priors on a problem small enough for a CPU: a GRU or a CNN "
        "should win, since a digit is a local shape anywhere along the signal, a patch Transformer "
        "follows, and an MLP, which must learn every shift separately, stalls far below them (trained "
        "to convergence, the dataset's paper reports about 94% for a CNN, 91% for a GRU and 68% for an MLP)."
    )
    shuffle_positions = False

    class Config(BaseConfig):
        """No options: the dataset is pinned by its checksum; the seed only picks the validation rows."""

    def spec(self) -> TaskSpec:
        """A feature sequence ``(40, 1)`` to 10 class logits."""
        return TaskSpec(
            name=self.name,
            modality="sequence",
            kind="classification",
            input_shape=(FINAL_SEQ_LENGTH, 1),
            output_shape=(10,),
            num_classes=10,
        )

    def metric(self) -> Metric:
        """Test accuracy, target 90%; equivalence within 1 point; anchors: chance (10 classes) -> 0,
        the target -> 1."""
        return Metric(
            "accuracy", higher_is_better=True, target=0.9, margin=Margin(0.01), anchors=(1 / 10, 0.9)
        )

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Float32 ``(N, 40, 1)`` and long labels: 3500 train and 500 val (from the package's 4000 train
        rows, chosen by ``seed``), and the package's 1000 test rows."""
        import numpy as np
        import torch

        x, y = verified_dataset(self.shuffle_positions)
        n_train = int(NUM_SAMPLES * TRAIN_SPLIT)
        order = np.random.default_rng(seed).permutation(n_train)
        rows = {
            "train": order[VAL_SIZE:],
            "val": order[:VAL_SIZE],
            "test": np.arange(n_train, NUM_SAMPLES),
        }
        return {
            split: (torch.tensor(x[index]).unsqueeze(-1), torch.tensor(y[index]))  # (N, 40, 1), (N,)
            for split, index in rows.items()
        }


class MNIST1DShuffled(MNIST1D):
    """MNIST-1D with its 40 positions permuted by one fixed permutation: the control."""

    name = "mnist1d-shuffled"
    version = 1
    tier = "quick"
    description = (
        "MNIST-1D with the 40 positions of every signal permuted by one fixed permutation (the package's "
        "shuffle_seq option): the control for mnist1d. The information is unchanged but neighbouring "
        "points are no longer neighbours, so the locality and order priors that won mnist1d become "
        "useless: the ranking should flip, with the MLP (which never used the order) on top and the "
        "CNN and GRU falling to or below it."
    )
    shuffle_positions = True

    def metric(self) -> Metric:
        """Test accuracy, no target (the control is not meant to be solved); equivalence within 1 point;
        anchors: chance (10 classes) -> 0, mnist1d's target (90%) -> 1, so the two read on one scale."""
        return Metric(
            "accuracy", higher_is_better=True, target=None, margin=Margin(0.01), anchors=(1 / 10, 0.9)
        )


@hookimpl
def register_tasks(register):
    """Register the MNIST1D and MNIST1DShuffled tasks."""
    register(MNIST1D)
    register(MNIST1DShuffled)
