"""``running-parity``: the parity of every prefix of a bit string, a test of state tracking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from nnbench.tasks import metrics
from nnbench.types import Config as BaseConfig
from nnbench.types import Metric, Task, TaskSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch


class RunningParity(Task):
    """Per position t of a random bit string, predict the XOR of bits 0..t."""

    name = "running-parity"
    version = 1
    tier = "smoke"
    description = (
        "Random bit strings labelled at every position with the parity (XOR) of all bits so far: it tests "
        "state tracking, one bit of state that each new input may flip. A recurrent network (LSTM/GRU) "
        "should win, since its state update is exactly the computation needed at any length, while MLPs, "
        "CNNs with a finite receptive field and Transformers stall short of perfect at later positions."
    )

    class Config(BaseConfig):
        """Sequence length and split sizes."""

        seq_len: int = Field(32, ge=1)  # bits per string, and positions labelled per string
        n_train: int = Field(4000, ge=1)  # training strings
        n_val: int = Field(500, ge=1)  # validation strings
        n_test: int = Field(500, ge=1)  # test strings

    def spec(self) -> TaskSpec:
        """Tokens ``(T,)`` over a vocabulary of 2 to per-position logits ``(T, 2)``, causal."""
        seq_len = self.config.seq_len
        return TaskSpec(
            name=self.name,
            modality="sequence",
            kind="classification",
            input_shape=(seq_len,),
            output_shape=(seq_len, 2),
            vocab_size=2,
            num_classes=2,
            causal=True,
        )

    def metric(self) -> Metric:
        """Mean per-position test accuracy, target 99%."""
        return Metric("accuracy", higher_is_better=True, target=0.99)

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Bits as long ``(N, T)``; labels long ``(N, T)``, the running XOR of the bits."""
        import torch

        generator = torch.Generator().manual_seed(seed)
        sizes = {"train": self.config.n_train, "val": self.config.n_val, "test": self.config.n_test}
        data = {}
        for split, n in sizes.items():  # drawn in this fixed order from one generator
            bits = torch.randint(0, 2, (n, self.config.seq_len), generator=generator)  # (N, T)
            data[split] = (bits, bits.cumsum(dim=1) % 2)
        return data

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy averaged over every position of every string (``(B*T, 2)`` against ``(B*T,)``)."""
        return metrics.cross_entropy(outputs, targets)

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """``accuracy`` (primary: mean over positions), ``last_position_accuracy`` (the whole string's
        parity, the hardest position), ``sequence_accuracy`` (every position right) and ``loss``."""
        x, y = self.data[split]
        logits = metrics.predict(model, x)  # (N, T, 2)
        correct = logits.argmax(dim=-1) == y  # (N, T)
        return {
            "accuracy": correct.float().mean().item(),
            "last_position_accuracy": correct[:, -1].float().mean().item(),
            "sequence_accuracy": correct.all(dim=1).float().mean().item(),
            "loss": metrics.cross_entropy(logits, y).item(),
        }
