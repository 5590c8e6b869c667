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


def predict(model: torch.nn.Module, x: torch.Tensor, chunk_size: int = EVAL_CHUNK) -> torch.Tensor:
    """The model's outputs for every row of ``x``, computed ``chunk_size`` rows at a time, as float32."""
    import torch

    return torch.cat([model(x[start : start + chunk_size]).float() for start in range(0, len(x), chunk_size)])


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy over every position: logits ``(..., C)`` against integer targets ``(...)``."""
    import torch.nn.functional as F

    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction=reduction)


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of positions whose arg-max class equals the target (over every element of ``targets``)."""
    return (logits.argmax(dim=-1) == targets).float().mean().item()


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
