"""The generation tasks' fixed anchors are what their definitions compute (so they cannot rot).

zero: a Gaussian fitted to the train split's mean and covariance (a generator that learnt only the
first two moments); one: real against real (the floor a perfect generator can expect). Means over
seeds 0-4, as the constants in nnbench/tasks/toy2d.py and digits_gen.py say.
"""

from __future__ import annotations

import numpy as np
import pytest

SEEDS = range(5)


def gaussian_fit(x, n: int, seed: int):
    """``n`` samples of the Gaussian with the mean and covariance of ``x`` ``(N, ...)``, as float32 ``(n, D)``."""
    import torch

    x = x.reshape(len(x), -1).double()
    mean, cov = x.mean(0), torch.cov(x.T)
    factor = torch.linalg.cholesky(cov + 1e-6 * torch.eye(len(mean), dtype=torch.float64))
    z = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (mean + z @ factor.T).float()


@pytest.mark.parametrize("variant", ["8gaussians", "checkerboard", "swissroll", "moons", "spirals"])
def test_toy2d_anchors(variant):
    from nnbench.tasks import metrics, toy2d

    zeros, ones = [], []
    for seed in SEEDS:
        data = toy2d.Toy2D(toy2d.Toy2D.Config(variant=variant)).make_data(seed)
        train, val, test = data["train"][0], data["val"][0], data["test"][0]
        zeros.append(metrics.mmd(gaussian_fit(train, len(test), seed), test))
        ones.append(metrics.mmd(val, test))
    expected = (np.mean(zeros), np.mean(ones))
    assert toy2d.MMD_ANCHORS[variant] == pytest.approx(expected, rel=0.01)  # noqa: SIM300
    metric = toy2d.Toy2D(toy2d.Toy2D.Config(variant=variant)).metric()
    assert metric.anchors == toy2d.MMD_ANCHORS[variant]


@pytest.mark.slow
def test_digits_gen_anchors():
    import torch

    from nnbench.tasks import digits_gen

    zeros, ones = [], []
    for seed in SEEDS:
        task = digits_gen.DigitsGen()
        task.setup(seed, "cpu")
        train, test = task.data["train"][0], task.data["test"][0]
        fake = gaussian_fit(train, len(test), seed).reshape(-1, 1, 8, 8).clamp(-1, 1)

        class Fitted(torch.nn.Module):
            def __init__(self, images):
                super().__init__()
                self.images = images

            def sample(self, n):
                return self.images[:n]

        scores = task.evaluate(Fitted(fake), "test")
        zeros.append(scores["fid"])
        ones.append(scores["fid_floor"])
    expected = (np.mean(zeros), np.mean(ones))
    assert digits_gen.FID_ANCHORS == pytest.approx(expected, rel=0.01)  # noqa: SIM300
