"""``toy2d``: two-dimensional point clouds for generative models (GANs, diffusion)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from nnbench.hookspecs import hookimpl
from nnbench.tasks import metrics
from nnbench.tasks.splits import GENERATED_TEST_STREAM, draw_excluding, row_keys
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, Task, TaskSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import torch

RADIUS = 2.0  # 8gaussians: the modes sit on a circle of this radius
MODE_STD = 0.1  # 8gaussians: standard deviation of each mode, per coordinate
NUM_MODES = 8
SWISSROLL_NOISE = 0.1  # swissroll: Gaussian noise per coordinate, after scaling the roll by 1/5
MOONS_NOISE = 0.1  # moons: Gaussian noise per coordinate, after centring and scaling by 1.5
SPIRALS_NOISE = 0.1  # spirals: Gaussian noise per coordinate, after scaling by 1/3
# Fixed anchors of the mmd per variant, (zero, one), at the default sizes (1000 val and test points),
# means over seeds 0-4: zero is the mmd of a Gaussian fitted to the train split's mean and covariance
# (a generator that learnt only the first two moments), one is the mmd between the val and test points
# (real against real: the floor a perfect generator can expect). tests/test_anchors.py recomputes them.
MMD_ANCHORS = {
    "8gaussians": (0.0568, 0.00259),
    "checkerboard": (0.0116, 0.0013),
    "swissroll": (0.0171, 0.00145),
    "moons": (0.0188, 0.00162),
    "spirals": (0.0096, 0.00184),
}


def mode_centers() -> list[tuple[float, float]]:
    """The eight 8gaussians centres, evenly spaced on the circle of radius :data:`RADIUS`."""
    return [
        (RADIUS * math.cos(2 * math.pi * k / NUM_MODES), RADIUS * math.sin(2 * math.pi * k / NUM_MODES))
        for k in range(NUM_MODES)
    ]


def draw_points(variant: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points ``(n, 2)`` of ``variant`` drawn from ``rng``; every variant lies within about [-3, 3]^2.

    The shapes follow the toy densities of FFJORD (Grathwohl et al., 2019) and scikit-learn's moons.
    """
    import numpy as np

    if variant == "8gaussians":  # eight modes of std MODE_STD on a circle of radius RADIUS
        modes = rng.integers(0, NUM_MODES, size=n)
        return np.array(mode_centers())[modes] + rng.normal(0.0, MODE_STD, size=(n, 2))
    if variant == "checkerboard":  # uniform on the 8 dark unit squares of a 4x4 board over [-2, 2]^2
        x1 = rng.uniform(-2.0, 2.0, size=n)
        x2 = rng.uniform(0.0, 1.0, size=n) - 2.0 * rng.integers(0, 2, size=n) + np.floor(x1) % 2
        return np.stack([x1, x2], axis=1)
    if variant == "swissroll":  # the spiral t (cos t, sin t) for t in [1.5 pi, 4.5 pi], scaled by 1/5
        t = 1.5 * math.pi * (1.0 + 2.0 * rng.uniform(size=n))
        roll = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 5.0
        return roll + rng.normal(0.0, SWISSROLL_NOISE, size=(n, 2))
    if variant == "moons":  # two interleaved half circles, centred and scaled by 1.5
        angle = rng.uniform(0.0, math.pi, size=n)
        upper = rng.integers(0, 2, size=n).astype(bool)
        x = np.where(upper, np.cos(angle), 1.0 - np.cos(angle))
        y = np.where(upper, np.sin(angle), 0.5 - np.sin(angle))
        moons = (np.stack([x, y], axis=1) - np.array([0.5, 0.25])) * 1.5
        return moons + rng.normal(0.0, MOONS_NOISE, size=(n, 2))
    if variant == "spirals":  # two arms of an Archimedean spiral, one the other's reflection through 0
        turn = np.sqrt(rng.uniform(size=n)) * 3.0 * math.pi
        arm = np.stack([-np.cos(turn) * turn, np.sin(turn) * turn], axis=1) + 0.5 * rng.uniform(size=(n, 2))
        sign = np.where(rng.integers(0, 2, size=n).astype(bool), 1.0, -1.0)[:, None]
        return sign * arm / 3.0 + rng.normal(0.0, SPIRALS_NOISE, size=(n, 2))
    raise ValueError(f"unknown toy2d variant {variant!r}")


class Toy2D(Task):
    """Learn to sample a 2-D distribution; scored by MMD, energy distance, sliced Wasserstein and PRDC."""

    name = "toy2d"
    version = 2  # 2: the test points are the same for every seed (1: drawn by the seed)
    tier = "smoke"
    description = (
        "Two-dimensional point clouds that a generative model must learn to sample (variants: 8gaussians, "
        "eight tight modes on a circle of radius 2, the default; checkerboard; swissroll; moons; spirals): "
        "it tests mode coverage and sample sharpness on shapes small enough to see. Diffusion models should "
        "win, as their likelihood-style training covers every mode and thin structure, while GANs tend to "
        "collapse onto a few modes (low recall and coverage) or blur between them (low precision)."
    )

    class Config(BaseConfig):
        """Which distribution and how many points per split."""

        variant: Literal["8gaussians", "checkerboard", "swissroll", "moons", "spirals"] = "8gaussians"
        n_train: int = Field(2000, ge=1)  # training points
        n_val: int = Field(1000, ge=1)  # validation points (and samples drawn to score on val)
        n_test: int = Field(1000, ge=1)  # test points (and samples drawn to score on test)

    def spec(self) -> TaskSpec:
        """Points ``(2,)``; a model samples ``(n, 2)``."""
        return TaskSpec(
            name=self.name, modality="points", kind="generation", input_shape=(2,), output_shape=(2,)
        )

    def metric(self) -> Metric:
        """Squared MMD between the model's samples and the split's points, lower is better, no target.

        Equivalence within 10% of the reference's mmd (the metric's scale spans orders of magnitude).
        Anchors (:data:`MMD_ANCHORS`): a Gaussian fitted to the data -> 0, the real-against-real floor -> 1;
        computed at the default sizes, so only approximate for other ``n_val``/``n_test``.
        """
        return Metric(
            "mmd",
            higher_is_better=False,
            target=None,
            margin=Margin(0.1, relative=True),
            anchors=MMD_ANCHORS[self.config.variant],
        )

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Float32 points ``(N, 2)``; no labels.

        The test points come from a generator of their own (:data:`~nnbench.tasks.splits.
        GENERATED_TEST_STREAM`), the same for every seed; train and val from ``seed``'s generator, in
        that order (a point equal to a test point, which float64 draws make unlikely, is drawn again).
        """
        import numpy as np
        import torch

        variant = self.config.variant

        def drawer(rng: np.random.Generator):
            def draw(n: int) -> tuple[np.ndarray]:
                return (draw_points(variant, n, rng).astype(np.float32),)  # (N, 2), as served

            return draw

        points = {"test": drawer(np.random.default_rng(GENERATED_TEST_STREAM))(self.config.n_test)[0]}
        exclude = set(row_keys(points["test"]))
        draw = drawer(np.random.default_rng(seed))
        for split, n in (("train", self.config.n_train), ("val", self.config.n_val)):
            points[split] = draw_excluding(draw, n, exclude, f"toy2d {split}")[0]
        return {split: (torch.from_numpy(points[split]), None) for split in ("train", "val", "test")}

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """Draw as many samples as the split has points and compare the two sets.

        ``mmd`` (primary, see :func:`nnbench.tasks.metrics.mmd`), ``energy_distance`` and
        ``sliced_wasserstein`` (data units), ``precision``, ``recall``, ``density`` and ``coverage``
        (k-nearest-neighbour balls, k = 5, see :func:`nnbench.tasks.metrics.precision_recall_density_coverage`),
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
            "energy_distance": metrics.energy_distance(samples, real),
            "sliced_wasserstein": metrics.sliced_wasserstein(samples, real),
            **metrics.precision_recall_density_coverage(samples, real),
        }
        if self.config.variant != "8gaussians":
            return result
        centers = torch.tensor(mode_centers(), dtype=torch.float32, device=samples.device)  # (8, 2)
        distance, nearest = torch.cdist(samples, centers).min(dim=1)  # (n,), (n,)
        good = distance < 3 * MODE_STD
        per_mode = torch.bincount(nearest[good], minlength=NUM_MODES)  # (8,)
        result["high_quality"] = good.float().mean().item()
        result["modes_covered"] = (per_mode >= len(real) / (10 * NUM_MODES)).float().mean().item()
        return result


@hookimpl
def register_tasks(register):
    """Register the Toy2D task."""
    register(Toy2D)
