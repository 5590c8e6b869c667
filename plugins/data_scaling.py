"""The data scaling the generative plugins share (``gan``, ``diffusion``): data to the model's units and back.

Not an architecture. A generator works in units where the data are centred and of unit size: images
have their range mapped to [-1, 1] (a tanh's range; a diffusion model's clipping range), points are
standardised per coordinate. The statistics come from the training split, fitted once before
training (an architecture's ``prepare``), and are buffers, so they travel with the model's state.
"""

from __future__ import annotations

import torch
from torch import nn


class DataScaling(nn.Module):
    """``data = shift + scale * model``: images' range to [-1, 1], points to zero mean and unit std.

    ``shape`` is one sample's shape; ``image`` picks the rule. :meth:`fit` sets the statistics from
    the training split; until then it is the identity.
    """

    def __init__(self, shape: tuple[int, ...], *, image: bool):
        super().__init__()
        self.image = image
        self.register_buffer("shift", torch.zeros(shape))
        self.register_buffer("scale", torch.ones(shape))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Images: one range for all pixels, to [-1, 1]; points: each coordinate's mean and std."""
        x = x.float()
        if self.image:
            low, high = x.min(), x.max()
            self.shift.fill_(float(high + low) / 2)
            self.scale.fill_(max(float(high - low) / 2, 1e-6))
        else:
            self.shift.copy_(x.mean(dim=0))
            self.scale.copy_(x.std(dim=0).clamp_min(1e-6))

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Data ``(B, *shape)`` in the model's units."""
        return (x.float() - self.shift) / self.scale

    def to_data(self, z: torch.Tensor) -> torch.Tensor:
        """Model units ``(B, *shape)`` back in data units."""
        return self.shift + self.scale * z
