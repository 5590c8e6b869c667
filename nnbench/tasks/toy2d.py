"""``toy2d``: two-dimensional point clouds for generative models (GANs, diffusion)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from nnbench.tasks import metrics
from nnbench.types import Config as BaseConfig
from nnbench.types import Metric, Task, TaskSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

RADIUS = 2.0  # 8gaussians: the modes sit on a circle of this radius
MODE_STD = 0.1  # 8gaussians: standard deviation of each mode, per coordinate
NUM_MODES = 8


def mode_centers() -> list[tuple[float, float]]:
    """The eight 8gaussians centres, evenly spaced on the circle of radius :data:`RADIUS`."""
    return [
        (RADIUS * math.cos(2 * math.pi * k / NUM_MODES), RADIUS * math.sin(2 * math.pi * k / NUM_MODES))
        for k in range(NUM_MODES)
    ]


class Toy2D(Task):
    """Learn to sample a 2-D distribution; scored by MMD and sliced Wasserstein against held-out points."""

    name = "toy2d"
    version = 1
    tier = "smoke"
    description = (
        "Two-dimensional point clouds (the 8gaussians variant: eight tight modes on a circle of radius 2) "
        "that a generative model must learn to sample: it tests mode coverage and sample sharpness. "
        "Diffusion models should win, as their likelihood-style training covers every mode, while GANs "
        "tend to collapse onto a few modes and leave others empty."
    )

    class Config(BaseConfig):
        """Which distribution and how many points per split."""

        variant: Literal["8gaussians"] = "8gaussians"  # the distribution (more variants will join)
        n_train: int = Field(2000, ge=1)  # training points
        n_val: int = Field(1000, ge=1)  # validation points (and samples drawn to score on val)
        n_test: int = Field(1000, ge=1)  # test points (and samples drawn to score on test)

    def spec(self) -> TaskSpec:
        """Points ``(2,)``; a model samples ``(n, 2)``."""
        return TaskSpec(
            name=self.name, modality="points", kind="generation", input_shape=(2,), output_shape=(2,)
        )

    def metric(self) -> Metric:
        """Squared MMD between the model's samples and the split's points, lower is better, no target."""
        return Metric("mmd", higher_is_better=False, target=None)

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Float32 points ``(N, 2)``; no labels."""
        import numpy as np
        import torch

        rng = np.random.default_rng(seed)
        centers = np.array(mode_centers())  # (8, 2)
        sizes = {"train": self.config.n_train, "val": self.config.n_val, "test": self.config.n_test}
        data = {}
        for split, n in sizes.items():  # drawn in this fixed order from one generator
            modes = rng.integers(0, NUM_MODES, size=n)
            points = centers[modes] + rng.normal(0.0, MODE_STD, size=(n, 2))  # (N, 2)
            data[split] = (torch.tensor(points, dtype=torch.float32), None)
        return data

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """Draw as many samples as the split has points and compare the two sets.

        ``mmd`` (primary, see :func:`nnbench.tasks.metrics.mmd`), ``sliced_wasserstein`` (data units),
        and for 8gaussians ``high_quality`` (fraction of samples within 3 std of a mode) and
        ``modes_covered`` (fraction of the 8 modes receiving at least a tenth of their fair share,
        ``n / 80``, of high-quality samples; after Srivastava et al., 2017, VEEGAN).
        """
        import torch

        real, _ = self.data[split]
        sample = getattr(model, "sample", None)
        if not callable(sample):
            raise TypeError(
                f"task {self.name!r} scores generative models: {type(model).__name__} has no sample(n)"
            )
        samples = sample(len(real)).to(self.device).float().reshape(len(real), -1)  # (n, 2)
        if samples.shape[1] != 2:
            raise ValueError(f"task {self.name!r}: sample(n) must return (n, 2), got {tuple(samples.shape)}")
        result = {
            "mmd": metrics.mmd(samples, real),
            "sliced_wasserstein": metrics.sliced_wasserstein(samples, real),
        }
        centers = torch.tensor(mode_centers(), dtype=torch.float32, device=samples.device)  # (8, 2)
        distance, nearest = torch.cdist(samples, centers).min(dim=1)  # (n,), (n,)
        good = distance < 3 * MODE_STD
        per_mode = torch.bincount(nearest[good], minlength=NUM_MODES)  # (8,)
        result["high_quality"] = good.float().mean().item()
        result["modes_covered"] = (per_mode >= len(real) / (10 * NUM_MODES)).float().mean().item()
        return result
