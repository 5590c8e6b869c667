"""``mnist``, ``fashion-mnist`` and ``cifar10``: real image datasets read from files the user has.

Nothing is downloaded at run time: each task reads ``data_dir`` (the IDX files of MNIST or Fashion-MNIST,
gzipped or not; the python pickle batches of CIFAR-10), or, when the suite gives none, the copy that
``nnbench data fetch NAME`` put in the data cache (:mod:`nnbench.datasets`), through
:mod:`nnbench.tasks.loaders`, which turns a missing or malformed file into one error naming it. The
official test set is the test split, the same for every seed; the validation split is carved from the
training set by the trial's seed, after dropping any training image byte-identical to a test image.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from nnbench.hookspecs import hookimpl
from nnbench.tasks import loaders
from nnbench.tasks.classification import ClassificationTask
from nnbench.tasks.splits import row_keys
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, TaskSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

IDX_STEMS = (  # the four files of an MNIST-format dataset (each may also end in .gz)
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class LocalImagesConfig(BaseConfig):
    """Where the files are, and how much of the training set becomes the validation split."""

    # The folder holding the dataset's files (relative to the working directory); none: the data cache's
    # copy from `nnbench data fetch NAME` ($NNBENCH_DATA/NAME).
    data_dir: Path | None = None
    val_fraction: float = Field(0.1, gt=0, lt=1)  # training rows held out for validation, chosen by the seed


def data_dir(task: ClassificationTask) -> Path:
    """The task's ``data_dir``, or its dataset's folder in the data cache (a DataError naming the fetch
    command when it is not there)."""
    if task.config.data_dir is not None:
        return task.config.data_dir
    from nnbench import datasets

    return datasets.cached(task.name)


def split_train(
    x: np.ndarray,
    y: np.ndarray,
    test: tuple[np.ndarray, np.ndarray],
    seed: int,
    val_fraction: float,
) -> dict[str, tuple[Any, Any]]:
    """Train/val from ``(x, y)`` by a permutation from ``seed``, test as given; byte pixels to float32 / 255.

    A training image whose bytes equal a test image's is dropped first, so no seed trains or validates
    on a test image (datasets scraped from the web hold a few such copies).
    """
    import numpy as np
    import torch

    test_keys = set(row_keys(test[0]))
    unseen = np.array([key not in test_keys for key in row_keys(x)], dtype=bool)
    x, y = x[unseen], y[unseen]
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = max(1, round(val_fraction * len(y)))
    rows = {"train": order[n_val:], "val": order[:n_val]}
    data = {split: (x[index], y[index]) for split, index in rows.items()}
    data["test"] = test
    return {
        split: (
            torch.from_numpy(images.astype(np.float32) / 255.0),
            torch.from_numpy(labels.astype(np.int64)),
        )
        for split, (images, labels) in data.items()
    }


class MNIST(ClassificationTask):
    """Classify the 28x28 handwritten digits of MNIST (LeCun et al., 1998), read from local IDX files."""

    name = "mnist"
    version = 2  # 2: training images equal to a test image are dropped
    tier = "local"
    description = (
        "MNIST (LeCun et al., 1998): 60000 training and 10000 test 28x28 handwritten digits, read from the "
        "four IDX files in data_dir or the data cache (gzipped or not). A real-data anchor for the image "
        "families: a CNN should win thanks to its locality and translation priors, with an MLP close "
        "behind, since the digits are centred and the task is nearly solved by any family (fully trained, "
        "over tens of epochs, CNNs pass 99% and MLPs about 98% in the literature)."
    )
    Config = LocalImagesConfig
    image_shape = (28, 28)

    def spec(self) -> TaskSpec:
        """Images ``(1, 28, 28)`` in [0, 1] to 10 class logits; checks that the files are there."""
        for stem in IDX_STEMS:
            loaders.find_file(data_dir(self), loaders.idx_names(stem), f"the {self.name} file {stem}")
        return TaskSpec(
            name=self.name,
            modality="image",
            kind="classification",
            input_shape=(1, *self.image_shape),
            output_shape=(10,),
            num_classes=10,
        )

    def metric(self) -> Metric:
        """Test accuracy, target 98%; equivalence within 1 point; anchors: chance (10 classes) -> 0,
        the target -> 1."""
        return Metric(
            "accuracy", higher_is_better=True, target=0.98, margin=Margin(0.01), anchors=(1 / 10, 0.98)
        )

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Float32 ``(N, 1, 28, 28)`` pixels / 255 and long labels; val carved from train by ``seed``."""
        folder = data_dir(self)
        x, y = loaders.read_idx_pair(folder, "train", image_shape=self.image_shape)
        x_test, y_test = loaders.read_idx_pair(folder, "t10k", image_shape=self.image_shape)
        return split_train(x[:, None], y, (x_test[:, None], y_test), seed, self.config.val_fraction)


class FashionMNIST(MNIST):
    """Classify the 28x28 clothing images of Fashion-MNIST (Xiao et al., 2017), read from local IDX files."""

    name = "fashion-mnist"
    version = 2  # 2: training images equal to a test image are dropped
    tier = "local"
    description = (
        "Fashion-MNIST (Xiao et al., 2017): 60000 training and 10000 test 28x28 images of 10 kinds of "
        "clothing, in MNIST's IDX format, read from data_dir or the data cache. Harder than MNIST and less "
        "forgiving of models without spatial priors: a CNN should win, ahead of an MLP, since telling a "
        "shirt from a pullover takes local texture and shape (fully trained over tens of epochs, the "
        "dataset's paper and benchmarks report about 91-93% for small CNNs and 88-89% for MLPs)."
    )

    def metric(self) -> Metric:
        """Test accuracy, target 90%; equivalence within 1 point; anchors: chance (10 classes) -> 0,
        the target -> 1."""
        return Metric(
            "accuracy", higher_is_better=True, target=0.9, margin=Margin(0.01), anchors=(1 / 10, 0.9)
        )


class CIFAR10(ClassificationTask):
    """Classify the 32x32 colour images of CIFAR-10 (Krizhevsky, 2009), read from local pickle batches."""

    name = "cifar10"
    version = 2  # 2: training images equal to a test image are dropped
    tier = "local"
    description = (
        "CIFAR-10 (Krizhevsky, 2009): 50000 training and 10000 test 32x32 colour images of 10 object "
        "classes, read from the python pickle batches in data_dir (or data_dir/cifar-10-batches-py) or the "
        "data cache, with an "
        "unpickler that builds numpy arrays and nothing else. Natural images with clutter, pose and colour: "
        "a CNN should win clearly, a ViT needs far more data or time to catch up, and an MLP stays far "
        "behind (with minutes of GPU training, small ResNets reach 80-94% and MLPs about 50-60%)."
    )
    Config = LocalImagesConfig

    def spec(self) -> TaskSpec:
        """Images ``(3, 32, 32)`` in [0, 1] to 10 class logits; checks that the batches are there."""
        folder = loaders.cifar_folder(data_dir(self))
        for name in (*loaders.CIFAR_TRAIN_BATCHES, loaders.CIFAR_TEST_BATCH):
            loaders.find_file(folder, [name], f"CIFAR-10 batch {name}")
        return TaskSpec(
            name=self.name,
            modality="image",
            kind="classification",
            input_shape=(3, 32, 32),
            output_shape=(10,),
            num_classes=10,
        )

    def metric(self) -> Metric:
        """Test accuracy, target 80%; equivalence within 1 point; anchors: chance (10 classes) -> 0,
        the target -> 1."""
        return Metric(
            "accuracy", higher_is_better=True, target=0.8, margin=Margin(0.01), anchors=(1 / 10, 0.8)
        )

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Float32 ``(N, 3, 32, 32)`` pixels / 255 and long labels; val carved from train by ``seed``."""
        batches = loaders.read_cifar10(data_dir(self))
        x, y = batches["train"]
        return split_train(x, y, batches["test"], seed, self.config.val_fraction)


@hookimpl
def register_tasks(register):
    """Register the MNIST, FashionMNIST and CIFAR10 tasks."""
    register(MNIST)
    register(FashionMNIST)
    register(CIFAR10)
