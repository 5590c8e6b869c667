"""``digits-gen``: learn to generate scikit-learn's 8x8 digits; judged in a digit classifier's features.

No Inception weights exist offline, so the task trains its own small CNN classifier on the real training
split at setup (deterministic per seed, a few seconds on a CPU, cached per process) and measures samples in
its 64 penultimate features: the Frechet distance (the FID of Heusel et al., 2017, with this network in
place of Inception), the kernel distance (KID, Binkowski et al., 2018), precision/recall/density/coverage
(Naeem et al., 2020) and the distance between class histograms. Each distance comes with its floor: the
same distance between two disjoint real sets of the evaluation's size, the best a perfect model can
expect.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from nnbench.hookspecs import hookimpl
from nnbench.tasks import metrics
from nnbench.tasks.splits import split_indices
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, Task, TaskSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

FEATURES = 64  # width of the feature layer the distances are measured in
FEATURE_STEPS = 300  # Adam steps of the feature network (batch 64: about 18 epochs of 1078 images)
FEATURE_BATCH = 64
FEATURE_LR = 2e-3
# Fixed anchors of the fid, (zero, one), means over seeds 0-4 on the test split: zero is the fid of a
# Gaussian fitted to the train images' pixel mean and covariance (clipped to [-1, 1]: a generator that
# learnt only the first two moments), one is fid_floor (real against real: the floor a perfect
# generator can expect). tests/test_anchors.py recomputes them.
FID_ANCHORS = (2.14, 0.302)


def digit_splits(seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The 1797 digits scaled to [-1, 1], float32 ``(N, 1, 8, 8)``, with labels, split 60/20/20: the
    test rows fixed, the validation rows picked by ``seed``."""
    import torch

    from nnbench.tasks.bundled import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0  # (N, 1, 8, 8)
    labels = torch.tensor(bunch.target, dtype=torch.long)  # (N,)
    return {
        split: (images[torch.from_numpy(rows)], labels[torch.from_numpy(rows)])
        for split, rows in split_indices(len(labels), seed).items()
    }


def feature_network() -> torch.nn.Sequential:
    """The untrained classifier: three 3x3 convolutions, a 64-unit feature layer, 10 logits.

    ``net[:-1](x)`` gives the ``(B, 64)`` features, ``net(x)`` the ``(B, 10)`` logits.
    """
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),  # (B, 16, 8, 8)
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),  # (B, 32, 8, 8)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (B, 32, 4, 4)
        nn.Conv2d(32, 32, 3, padding=1),  # (B, 32, 4, 4)
        nn.ReLU(),
        nn.Flatten(),  # (B, 512)
        nn.Linear(32 * 4 * 4, FEATURES),
        nn.ReLU(),
        nn.Linear(FEATURES, 10),
    )


@functools.lru_cache(maxsize=4)
def trained_feature_state(seed: int) -> tuple[dict[str, torch.Tensor], float]:
    """Weights of :func:`feature_network` trained on the TRAIN split of ``seed`` only, on the CPU, and
    the root-mean-square of its train features (features are divided by it, so entries are of order 1).

    Deterministic for a seed on a given machine: weights and batches come from generators seeded with
    ``seed`` (the global random state is left untouched) and one thread does the arithmetic.
    About a second on one core; cached per process, so every trial of a seed in a process reuses it.
    """
    import torch

    images, labels = digit_splits(seed)["train"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = feature_network()
        optimizer = torch.optim.Adam(net.parameters(), lr=FEATURE_LR)
        generator = torch.Generator().manual_seed(seed)
        net.train()
        for _ in range(FEATURE_STEPS):
            batch = torch.randint(0, len(labels), (FEATURE_BATCH,), generator=generator)
            loss = metrics.cross_entropy(net(images[batch]), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            scale = net[:-1](images).pow(2).mean().sqrt().item()
    finally:
        torch.set_num_threads(threads)
    return {name: tensor.detach().clone() for name, tensor in net.state_dict().items()}, scale


class DigitsGen(Task):
    """Generate 8x8 digits in [-1, 1]; scored by Frechet distance in a digit classifier's features."""

    name = "digits-gen"
    version = 2  # 2: the test split is the same for every seed (1: drawn by the seed)
    tier = "quick"
    description = (
        "Generate scikit-learn's 8x8 handwritten digits (the 1078-image train split, pixels in [-1, 1]); "
        "samples are judged in the 64 features of a small CNN the task trains on the real train split: "
        "Frechet distance (fid, primary), KID, precision/recall/density/coverage and the distance between "
        "class histograms, each beside its real-vs-real floor at the same sample size. It tests whether a "
        "generator reproduces both the look and the variety of the digits. Diffusion should win (approaching the "
        "floor as its budget grows), while a GAN needs a convolutional or spectral-norm critic to avoid "
        "collapsing onto a few digits, which class_tv and recall expose."
    )

    class Config(BaseConfig):
        """No options: the dataset is fixed and the seed changes the split and the feature network."""

    def __init__(self, config: BaseConfig | None = None):
        super().__init__(config)
        self.feature_net: torch.nn.Sequential | None = None  # set by setup()
        self.feature_scale = 1.0  # RMS of the train features, set by setup()
        self._floors: dict[str, dict[str, float]] = {}  # split -> floors, computed once

    def spec(self) -> TaskSpec:
        """Images ``(1, 8, 8)``; a model samples ``(n, 1, 8, 8)`` in [-1, 1]."""
        return TaskSpec(
            name=self.name,
            modality="image",
            kind="generation",
            input_shape=(1, 8, 8),
            output_shape=(1, 8, 8),
        )

    def metric(self) -> Metric:
        """Frechet distance in the feature network's features, lower is better, no target (see fid_floor).

        Equivalence within 10% of the reference's fid; anchors (:data:`FID_ANCHORS`): a Gaussian fitted
        to the train images -> 0, the real-against-real floor -> 1.
        """
        return Metric(
            "fid", higher_is_better=False, target=None, margin=Margin(0.1, relative=True), anchors=FID_ANCHORS
        )

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Float32 images ``(N, 1, 8, 8)`` in [-1, 1] (pixels / 8 - 1); no labels."""
        return {split: (images, None) for split, (images, _) in digit_splits(seed).items()}

    def setup(self, seed: int, device: str) -> None:
        """Make the data, and train (or reuse) the feature network of ``seed`` and put it on ``device``."""
        super().setup(seed, device)
        state, self.feature_scale = trained_feature_state(seed)
        net = feature_network()
        net.load_state_dict(state)
        self.feature_net = net.to(device).eval()
        self._floors = {}

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(n, 64)`` features (divided by the train features' RMS) and ``(n, 10)`` logits of
        ``images`` ``(n, 1, 8, 8)``."""
        import torch

        with torch.no_grad():
            feats = metrics.predict(self.feature_net[:-1], images)
            return feats / self.feature_scale, self.feature_net[-1](feats)

    def _compare(self, images: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
        feats, logits = self.features(images)
        real_feats, real_logits = self.features(real)
        histogram = logits.argmax(dim=1).bincount(minlength=10).double() / len(images)
        real_histogram = real_logits.argmax(dim=1).bincount(minlength=10).double() / len(real)
        return {
            "fid": metrics.frechet_distance(feats, real_feats),
            "kid": metrics.kernel_distance(feats, real_feats),
            "class_tv": 0.5 * (histogram - real_histogram).abs().sum().item(),
            **metrics.precision_recall_density_coverage(feats, real_feats),
        }

    def floors(self, split: str) -> dict[str, float]:
        """``fid_floor``, ``kid_floor`` and ``class_tv_floor``: the same distances between two disjoint
        sets of held-out real images, ``split`` and the other held-out split (val for test, test for val),
        both cut to the smaller size (359 against 360 by default).

        Held-out, not train, images: the feature network was trained on the train split, whose features
        sit measurably apart (about twice the floor), and a perfect generator draws fresh digits.
        """
        if split not in self._floors:
            other = "test" if split == "val" else "val"
            real, reference = self.data[split][0], self.data[other][0]
            size = min(len(real), len(reference))
            scores = self._compare(reference[:size], real[:size])
            self._floors[split] = {f"{name}_floor": scores[name] for name in ("fid", "kid", "class_tv")}
        return self._floors[split]

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """Draw as many samples as ``split`` has images, clip them to [-1, 1] and compare.

        Non-finite sample values are counted in ``nonfinite_fraction`` and replaced by 0 before clipping,
        so a diverged generator scores badly instead of failing the evaluation.

        ``fid`` (primary) and ``kid`` (feature distances), ``class_tv`` (total variation between the
        classifier's class histograms of the samples and of the real images: 0 is the same mix of digits,
        1 disjoint), ``precision``, ``recall``, ``density``, ``coverage`` (k = 5 in feature space), and
        ``fid_floor``, ``kid_floor``, ``class_tv_floor``: the same distances between two real sets.
        """
        import math

        real, _ = self.data[split]
        sample = getattr(model, "sample", None)
        if not callable(sample):
            raise TypeError(
                f"task {self.name!r} scores generative models: {type(model).__name__} has no sample(n)"
            )
        n = len(real)
        samples = sample(n).detach().to(self.device).float()
        if samples.numel() != n * math.prod(self.spec().output_shape):
            raise ValueError(
                f"task {self.name!r}: sample(n) must return (n, 1, 8, 8), got {tuple(samples.shape)}"
            )
        nonfinite = (~samples.isfinite()).float().mean().item()
        samples = samples.nan_to_num(0.0, 0.0, 0.0).reshape(n, 1, 8, 8).clamp(-1.0, 1.0)
        return {**self._compare(samples, real), **self.floors(split), "nonfinite_fraction": nonfinite}


@hookimpl
def register_tasks(register):
    """Register the DigitsGen task."""
    register(DigitsGen)
