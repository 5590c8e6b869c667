"""Metric functions shared by the built-in tasks.

torch is imported inside each function so that importing :mod:`nnbench.tasks` stays fast.
Every function returning a score returns a plain Python float.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

EVAL_CHUNK = 1024  # samples per forward pass when evaluating: bounded activation memory
MMD_BANDWIDTHS = (0.1, 0.2, 0.5, 1.0, 2.0)  # RBF bandwidths (data units) averaged by mmd()
IGNORE_INDEX = -100  # a target position that is not scored (PyTorch's cross-entropy default)
PRDC_NEIGHBOURS = 5  # k of the k-nearest-neighbour balls of precision/recall/density/coverage


def predict(model: torch.nn.Module, x: torch.Tensor, chunk_size: int = EVAL_CHUNK) -> torch.Tensor:
    """The model's outputs for every row of ``x``, computed ``chunk_size`` rows at a time, as float32."""
    import torch

    return torch.cat([model(x[start : start + chunk_size]).float() for start in range(0, len(x), chunk_size)])


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy over every position: logits ``(..., C)`` against integer targets ``(...)``.

    Positions whose target is :data:`IGNORE_INDEX` are skipped (and left out of the mean).
    """
    import torch.nn.functional as F

    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        reduction=reduction,
        ignore_index=IGNORE_INDEX,
    )


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of positions whose arg-max class equals the target, over every element of ``targets``
    except those equal to :data:`IGNORE_INDEX`."""
    scored = targets != IGNORE_INDEX
    return (logits.argmax(dim=-1) == targets)[scored].float().mean().item()


def _mean_rbf_kernel(a: torch.Tensor, b: torch.Tensor, bandwidths: Sequence[float], chunk_size: int) -> float:
    """Mean over all pairs (i, j) of the RBF kernel averaged over ``bandwidths``, ``chunk_size`` rows at a time."""
    import torch

    total = 0.0
    for start in range(0, len(a), chunk_size):
        # Exact distances: the matmul shortcut is off by ~1e-3 near zero, which the small bandwidths see.
        sq_dist = (
            torch.cdist(a[start : start + chunk_size], b, compute_mode="donot_use_mm_for_euclid_dist") ** 2
        )
        kernel = sum(torch.exp(-sq_dist / (2.0 * h * h)) for h in bandwidths) / len(
            bandwidths
        )  # (chunk, len(b))
        total += kernel.sum().item()
    return total / (len(a) * len(b))


def mmd(
    samples: torch.Tensor,
    real: torch.Tensor,
    bandwidths: Sequence[float] = MMD_BANDWIDTHS,
    chunk_size: int = EVAL_CHUNK,
) -> float:
    """Squared maximum mean discrepancy between ``samples`` ``(n, D)`` and ``real`` ``(m, D)``.

    RBF kernel ``exp(-|x - y|^2 / (2 h^2))`` averaged over ``bandwidths``; the biased (V-statistic)
    estimator, so the value is never negative and is exactly 0 when the two sets are equal.
    Its floor for two independent samples of one distribution is of order ``1/n``, the same
    for every model at the same sample size (Gretton et al., 2012, "A Kernel Two-Sample Test").
    """
    samples = samples.reshape(len(samples), -1).float()
    real = real.reshape(len(real), -1).float()
    k_ss = _mean_rbf_kernel(samples, samples, bandwidths, chunk_size)
    k_rr = _mean_rbf_kernel(real, real, bandwidths, chunk_size)
    k_sr = _mean_rbf_kernel(samples, real, bandwidths, chunk_size)
    return max(k_ss + k_rr - 2.0 * k_sr, 0.0)  # clip float rounding below zero


def sliced_wasserstein(
    samples: torch.Tensor, real: torch.Tensor, num_projections: int = 128, seed: int = 0
) -> float:
    """Sliced 2-Wasserstein distance between ``samples`` ``(n, D)`` and ``real`` ``(m, D)``, in data units.

    Both sets are projected on ``num_projections`` random unit directions drawn from a generator seeded
    with ``seed`` (the same directions for every model); on each line the 1-D distance is that of the
    sorted projections (matched quantiles when ``n != m``). Returns ``sqrt(mean over lines of W2^2)``
    (Bonneel et al., 2015, "Sliced and Radon Wasserstein Barycenters of Measures").
    """
    import torch

    samples = samples.reshape(len(samples), -1).float()
    real = real.reshape(len(real), -1).float()
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(samples.shape[1], num_projections, generator=generator)
    directions = (directions / directions.norm(dim=0, keepdim=True)).to(samples.device)  # (D, P)
    proj_s = (samples @ directions).sort(dim=0).values  # (n, P)
    proj_r = (real.to(samples.device) @ directions).sort(dim=0).values  # (m, P)
    if len(proj_s) != len(proj_r):
        m = min(len(proj_s), len(proj_r))
        levels = (torch.arange(m, device=samples.device) + 0.5) / m  # matched quantile levels
        proj_s = proj_s[(levels * len(proj_s)).long()]
        proj_r = proj_r[(levels * len(proj_r)).long()]
    return ((proj_s - proj_r) ** 2).mean().sqrt().item()


def _exact_cdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between rows, without the matmul shortcut (off by ~1e-3 near zero)."""
    import torch

    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def energy_distance(samples: torch.Tensor, real: torch.Tensor, chunk_size: int = EVAL_CHUNK) -> float:
    """Energy distance ``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` between ``samples`` and ``real``, in data units.

    The biased (V-statistic) estimator over all pairs, never negative and 0 for equal sets
    (Szekely & Rizzo, 2013, "Energy statistics: A class of statistics based on distances").
    """
    samples = samples.reshape(len(samples), -1).float()
    real = real.reshape(len(real), -1).float().to(samples.device)

    def mean_distance(a: torch.Tensor, b: torch.Tensor) -> float:
        total = 0.0
        for start in range(0, len(a), chunk_size):
            chunk = a[start : start + chunk_size]
            total += _exact_cdist(chunk, b).sum().item()
        return total / (len(a) * len(b))

    value = 2 * mean_distance(samples, real) - mean_distance(samples, samples) - mean_distance(real, real)
    return max(value, 0.0)  # clip float rounding below zero


def _kth_neighbour_distance(points: torch.Tensor, k: int, chunk_size: int = EVAL_CHUNK) -> torch.Tensor:
    """Distance from each row of ``points`` to its k-th nearest other row, ``(n,)``."""
    import torch

    return torch.cat(
        [
            # k + 1: the 0 on the diagonal is the point itself
            _exact_cdist(points[start : start + chunk_size], points).kthvalue(k + 1, dim=1).values
            for start in range(0, len(points), chunk_size)
        ]
    )


def precision_recall_density_coverage(
    samples: torch.Tensor, real: torch.Tensor, k: int = PRDC_NEIGHBOURS, chunk_size: int = EVAL_CHUNK
) -> dict[str, float]:
    """Precision, recall, density and coverage of ``samples`` against ``real`` (rows are feature vectors).

    Each point owns the ball reaching its k-th nearest neighbour in its own set (Kynkaanniemi et al.,
    2019, "Improved Precision and Recall Metric for Assessing Generative Models"; Naeem et al., 2020,
    "Reliable Fidelity and Diversity Metrics for Generative Models"):

    - ``precision``: fraction of samples inside at least one real ball (fidelity);
    - ``recall``: fraction of real points inside at least one sample ball (diversity);
    - ``density``: mean number of real balls holding a sample, divided by k (about 1 for a perfect model,
      above 1 when samples crowd dense regions; outlier-robust fidelity);
    - ``coverage``: fraction of real balls holding at least one sample (outlier-robust diversity).
    """
    import torch

    samples = samples.reshape(len(samples), -1).float()
    real = real.reshape(len(real), -1).float().to(samples.device)
    real_radius = _kth_neighbour_distance(real, k, chunk_size)  # (m,)
    sample_radius = _kth_neighbour_distance(samples, k, chunk_size)  # (n,)
    in_some_real_ball = 0.0
    real_balls_hit = 0.0
    real_in_some_sample_ball = torch.zeros(len(real), dtype=torch.bool, device=samples.device)
    nearest_sample = torch.full((len(real),), float("inf"), device=samples.device)
    for start in range(0, len(samples), chunk_size):
        distance = _exact_cdist(samples[start : start + chunk_size], real)  # (chunk, m)
        in_real_ball = distance <= real_radius[None, :]
        in_some_real_ball += in_real_ball.any(dim=1).sum().item()
        real_balls_hit += in_real_ball.sum().item()
        real_in_some_sample_ball |= (distance <= sample_radius[start : start + chunk_size, None]).any(dim=0)
        nearest_sample = torch.minimum(nearest_sample, distance.min(dim=0).values)
    return {
        "precision": in_some_real_ball / len(samples),
        "recall": real_in_some_sample_ball.sum().item() / len(real),
        "density": real_balls_hit / (k * len(samples)),
        "coverage": (nearest_sample <= real_radius).sum().item() / len(real),
    }


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to the rows of ``a`` and ``b`` (feature vectors).

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``, computed in float64 through the symmetric
    matrix ``S_a^(1/2) S_b S_a^(1/2)``, which has the eigenvalues of ``S_a S_b`` (Heusel et al., 2017,
    "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", the FID).
    """
    import torch

    a = a.reshape(len(a), -1).double()
    b = b.reshape(len(b), -1).double().to(a.device)
    mean_a, mean_b = a.mean(dim=0), b.mean(dim=0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)  # (D, D), unbiased
    eigenvalues, eigenvectors = torch.linalg.eigh(cov_a)
    sqrt_a = eigenvectors @ torch.diag(eigenvalues.clamp_min(0).sqrt()) @ eigenvectors.T
    cross = torch.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a).clamp_min(0).sqrt().sum()
    value = (mean_a - mean_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross
    return max(value.item(), 0.0)  # clip float rounding below zero


def kernel_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel ``(x.y / D + 1)^3`` between feature rows.

    The KID of Binkowski et al., 2018 ("Demystifying MMD GANs"), here over all pairs at once (no subsets);
    unbiased, so it may dip slightly below 0 when the two sets come from one distribution.
    """
    a = a.reshape(len(a), -1).double()
    b = b.reshape(len(b), -1).double().to(a.device)
    dim = a.shape[1]
    k_aa = (a @ a.T / dim + 1) ** 3
    k_bb = (b @ b.T / dim + 1) ** 3
    k_ab = (a @ b.T / dim + 1) ** 3
    n, m = len(a), len(b)
    within_a = (k_aa.sum() - k_aa.diagonal().sum()) / (n * (n - 1))
    within_b = (k_bb.sum() - k_bb.diagonal().sum()) / (m * (m - 1))
    return (within_a + within_b - 2 * k_ab.mean()).item()
