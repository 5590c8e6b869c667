"""``running-parity``: the parity of every prefix of a bit string, a test of state tracking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from nnbench.hookspecs import hookimpl
from nnbench.tasks import metrics
from nnbench.tasks.classification import ClassificationTask
from nnbench.tasks.splits import GENERATED_TEST_STREAM, draw_excluding, row_keys
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, TaskSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch


LENGTH_FACTOR = 4  # test_4x strings are this many times longer than the training strings


class RunningParity(ClassificationTask):
    """Per position t of a random bit string, predict the XOR of bits 0..t; also scored at 4x the length."""

    name = "running-parity"
    # 2: the extra split test_4x (train/val/test data unchanged from version 1); 3: test and test_4x the
    # same for every seed, no test string in training
    version = 3
    tier = "smoke"
    description = (
        "Random bit strings labelled at every position with the parity (XOR) of all bits so far: it tests "
        "state tracking, one bit of state that each new input may flip, and length generalisation (the "
        "selected checkpoint is also scored on strings 4x longer, test_4x). A recurrent network (LSTM/GRU) "
        "should win, also at 4x, since its state update is exactly the computation needed at any length, "
        "while MLPs, CNNs with a finite receptive field and Transformers stall short of perfect at later "
        "positions; a model with a fixed input length gets no test_4x score at all."
    )
    extra_splits = ("test_4x",)

    class Config(BaseConfig):
        """Sequence length and split sizes."""

        seq_len: int = Field(32, ge=1)  # bits per string, and positions labelled per string
        n_train: int = Field(4000, ge=1)  # training strings
        n_val: int = Field(500, ge=1)  # validation strings
        n_test: int = Field(500, ge=1)  # test strings, and test_4x strings (of 4 x seq_len bits)

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
        """Mean per-position test accuracy, target 99%; equivalence within 1 point; anchors: chance (two
        classes, 0.5) -> 0, the target -> 1."""
        return Metric(
            "accuracy", higher_is_better=True, target=0.99, margin=Margin(0.01), anchors=(0.5, 0.99)
        )

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Bits as long ``(N, T)``; labels long ``(N, T)``, the running XOR of the bits.

        ``test`` and then ``test_4x`` (``n_test`` strings of ``4 * seq_len`` bits) come from a generator
        of their own (:data:`~nnbench.tasks.splits.GENERATED_TEST_STREAM`), the same for every seed;
        train and val from ``seed``'s generator, in that order, and a string equal to a test string is
        drawn again (short strings collide: 8 bits have only 256). The loss (the base's cross-entropy)
        averages over every position of every string.
        """
        import torch

        seq_len = self.config.seq_len

        def drawer(generator: torch.Generator):
            def draw(n: int, length: int = seq_len):
                bits = torch.randint(0, 2, (n, length), generator=generator).numpy()  # (N, T)
                return (bits,)

            return draw

        test_draw = drawer(torch.Generator().manual_seed(GENERATED_TEST_STREAM))
        splits = {"test": test_draw(self.config.n_test)[0]}
        splits["test_4x"] = test_draw(self.config.n_test, LENGTH_FACTOR * seq_len)[0]
        exclude = set(row_keys(splits["test"]))
        draw = drawer(torch.Generator().manual_seed(seed))
        for split, n in (("train", self.config.n_train), ("val", self.config.n_val)):
            splits[split] = draw_excluding(draw, n, exclude, f"running-parity {split}")[0]
        data = {}
        for split in ("train", "val", "test", "test_4x"):
            bits = torch.from_numpy(splits[split])
            data[split] = (bits, bits.cumsum(dim=1) % 2)
        return data

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """``accuracy`` (primary: mean over positions), ``last_position_accuracy`` (the whole string's
        parity, the hardest position), ``sequence_accuracy`` (every position right) and ``loss``.

        On ``test_4x`` a model that cannot take the longer strings (a shape error, or outputs of the wrong
        shape, e.g. an MLP built for ``seq_len`` inputs) gets an empty dict: no score, and no failed trial.
        """
        import torch

        x, y = self.data[split]
        if split in self.extra_splits:
            try:
                logits = metrics.predict(model, x)
            except (RuntimeError, IndexError, ValueError) as exc:
                if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower():
                    raise  # running out of memory is the trial's failure, not a fixed input length
                return {}  # the architecture has a fixed input length
            if tuple(logits.shape) != (*y.shape, 2):
                return {}
        else:
            logits = metrics.predict(model, x)  # (N, T, 2)
        correct = logits.argmax(dim=-1) == y  # (N, T)
        return {
            "accuracy": correct.float().mean().item(),
            "last_position_accuracy": correct[:, -1].float().mean().item(),
            "sequence_accuracy": correct.all(dim=1).float().mean().item(),
            "loss": metrics.cross_entropy(logits, y).item(),
        }


@hookimpl
def register_tasks(register):
    """Register the RunningParity task."""
    register(RunningParity)
