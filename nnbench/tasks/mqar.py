"""``mqar``: multi-query associative recall, the in-context retrieval task of Zoology.

A sequence opens with ``num_kv_pairs`` key-value token pairs, then holds every key once more as a query,
at random positions among random filler tokens; at each query the model must output the key's value.
Arora et al., 2023, "Zoology: Measuring and Improving Recall in Efficient Language Models" (the
``multiquery_ar`` generator: keys from the lower half of the vocabulary, values from the upper half,
queries placed with a power-law bias towards the start of the query region).

Zoology trains and tests on a mix of key-value counts and reports recall per count, since a model with
a fixed state recalls a few pairs well and many badly. ``min_kv_pairs`` does that here: sequences then
hold ``min_kv_pairs``, twice that, four times that, ... up to ``num_kv_pairs`` pairs, an equal share of
every split each, and ``evaluate`` reports ``accuracy_kv<K>`` for every count K (without it, every
sequence holds ``num_kv_pairs`` and ``accuracy_kv<num_kv_pairs>`` equals ``accuracy``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pydantic
from pydantic import Field

from nnbench.hookspecs import hookimpl
from nnbench.tasks import metrics
from nnbench.tasks.classification import ClassificationTask
from nnbench.tasks.splits import GENERATED_TEST_STREAM, draw_excluding, row_keys
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, TaskSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import torch

POWER_A = 0.01  # query gaps are drawn with probability proportional to a * i^(a - 1) (Zoology's power_a)


def make_examples(
    n: int, *, vocab_size: int, seq_len: int, num_kv_pairs: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` MQAR sequences: tokens ``(n, seq_len)`` and targets ``(n, seq_len)``.

    A target is the value owed at a query position and :data:`~nnbench.tasks.metrics.IGNORE_INDEX`
    everywhere else. Layout: ``k1 v1 k2 v2 ... kK vK`` then the query region, where key ``i`` sits at
    offset ``2 * gap_i`` and every other position holds a random token of the whole vocabulary.
    """
    import numpy as np

    half = vocab_size // 2
    rows = np.arange(n)[:, None]
    # Distinct keys from 1..half-1 and distinct values from half..V-1: the first K of a random order.
    keys = 1 + np.argsort(rng.random((n, half - 1)), axis=1)[:, :num_kv_pairs]  # (n, K)
    values = half + np.argsort(rng.random((n, vocab_size - half)), axis=1)[:, :num_kv_pairs]  # (n, K)
    context = np.empty((n, 2 * num_kv_pairs), dtype=np.int64)
    context[:, 0::2], context[:, 1::2] = keys, values
    # K distinct even offsets of the query region, drawn without replacement with power-law weights
    # (the Gumbel top-k trick: the same law as drawing one at a time, renormalising the rest).
    space = (seq_len - 2 * num_kv_pairs) // 2
    weights = POWER_A * np.arange(1, space + 1) ** (POWER_A - 1)
    gumbel = -np.log(-np.log(rng.random((n, space))))
    gaps = np.argsort(-(np.log(weights / weights.sum()) + gumbel), axis=1)[:, :num_kv_pairs]  # (n, K)
    queries = rng.integers(0, vocab_size, size=(n, seq_len - 2 * num_kv_pairs))  # random fillers
    queries[rows, 2 * gaps] = keys
    tokens = np.concatenate([context, queries], axis=1)  # (n, T)
    targets = np.full((n, seq_len), metrics.IGNORE_INDEX, dtype=np.int64)
    targets[rows, 2 * num_kv_pairs + 2 * gaps] = values
    return tokens, targets


class MQAR(ClassificationTask):
    """At every query of a key shown earlier in the sequence, predict the value paired with it."""

    name = "mqar"
    version = 2  # 2: one test split for every seed, no test sequence in training (1: by the seed)
    tier = "quick"
    description = (
        "Multi-query associative recall (Zoology, Arora et al. 2023): key-value token pairs, then each key "
        "again as a query among random tokens, where the model must emit the key's value; only the query "
        "positions are scored. It tests in-context retrieval, looking up a token by content. A Transformer "
        "should win outright, since one attention head can match the query to its key and copy the next "
        "token, while an RNN must squeeze every pair into a fixed state, and MLPs and CNNs have no way to "
        "address positions by content, so they stay near chance among the values."
    )

    class Config(BaseConfig):
        """Vocabulary, length, number of pairs and split sizes."""

        vocab_size: int = Field(64, ge=4)  # keys from 1..V/2-1, values from V/2..V-1
        seq_len: int = Field(64, ge=4)  # tokens per sequence: 2K of pairs, then the query region
        num_kv_pairs: int = Field(8, ge=1)  # key-value pairs per sequence, each queried once
        # With a value: sequences hold min_kv_pairs, 2x, 4x, ... up to num_kv_pairs pairs, in equal shares.
        min_kv_pairs: int | None = Field(None, ge=1)
        n_train: int = Field(10000, ge=1)  # training sequences
        n_val: int = Field(500, ge=1)  # validation sequences
        n_test: int = Field(1000, ge=1)  # test sequences

        @pydantic.model_validator(mode="after")
        def _pairs_fit(self) -> MQAR.Config:
            if self.num_kv_pairs > min(self.vocab_size // 2 - 1, self.vocab_size - self.vocab_size // 2):
                raise ValueError(
                    f"num_kv_pairs={self.num_kv_pairs} needs distinct keys: vocab_size too small"
                )
            if (self.seq_len - 2 * self.num_kv_pairs) // 2 < self.num_kv_pairs:
                raise ValueError(
                    f"seq_len={self.seq_len} leaves no room for {self.num_kv_pairs} pairs and their queries "
                    f"(needs at least {4 * self.num_kv_pairs})"
                )
            if self.min_kv_pairs is not None and self.min_kv_pairs > self.num_kv_pairs:
                raise ValueError(
                    f"min_kv_pairs={self.min_kv_pairs} is above num_kv_pairs={self.num_kv_pairs}"
                )
            return self

        def kv_counts(self) -> list[int]:
            """The numbers of key-value pairs sequences hold, smallest first."""
            if self.min_kv_pairs is None:
                return [self.num_kv_pairs]
            counts = [self.min_kv_pairs]
            while counts[-1] * 2 < self.num_kv_pairs:
                counts.append(counts[-1] * 2)
            return sorted({*counts, self.num_kv_pairs})

    def spec(self) -> TaskSpec:
        """Tokens ``(T,)`` over the vocabulary to per-position logits ``(T, V)``, causal."""
        seq_len, vocab_size = self.config.seq_len, self.config.vocab_size
        return TaskSpec(
            name=self.name,
            modality="sequence",
            kind="classification",
            input_shape=(seq_len,),
            output_shape=(seq_len, vocab_size),
            vocab_size=vocab_size,
            num_classes=vocab_size,
            causal=True,
        )

    def metric(self) -> Metric:
        """Accuracy over the query positions of the test split, target 99%; equivalence within 1 point;
        anchors: chance among the values (1 / (vocab_size - vocab_size // 2)) -> 0, the target -> 1."""
        values = self.config.vocab_size - self.config.vocab_size // 2
        return Metric(
            "accuracy", higher_is_better=True, target=0.99, margin=Margin(0.01), anchors=(1 / values, 0.99)
        )

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Tokens long ``(N, T)``; targets long ``(N, T)``, ``-100`` except at the query positions.

        The test sequences come from a generator of their own (:data:`~nnbench.tasks.splits.
        GENERATED_TEST_STREAM`), the same for every seed; train and val from ``seed``'s generator, in
        that order, and a sequence equal to a test sequence is drawn again. The loss (the base's
        cross-entropy) averages over the query positions only: the others are ``-100``, skipped.
        """
        import numpy as np
        import torch

        config = self.config

        def drawer(rng: np.random.Generator):
            def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
                # Every count of key-value pairs an equal share (one count without min_kv_pairs).
                counts = config.kv_counts()
                shares = [n // len(counts) + (i < n % len(counts)) for i in range(len(counts))]
                parts = [
                    make_examples(
                        share,
                        vocab_size=config.vocab_size,
                        seq_len=config.seq_len,
                        num_kv_pairs=count,
                        rng=rng,
                    )
                    for count, share in zip(counts, shares)
                ]
                tokens = np.concatenate([p[0] for p in parts])  # (n, T)
                targets = np.concatenate([p[1] for p in parts])
                if len(counts) > 1:  # mixed counts: shuffled, so batches mix them too
                    order = rng.permutation(n)
                    tokens, targets = tokens[order], targets[order]
                return tokens, targets

            return draw

        test = drawer(np.random.default_rng(GENERATED_TEST_STREAM))(config.n_test)
        exclude = set(row_keys(test[0]))
        draw = drawer(np.random.default_rng(seed))
        data = {
            split: draw_excluding(draw, n, exclude, f"mqar {split}")
            for split, n in (("train", config.n_train), ("val", config.n_val))
        }
        data["test"] = test
        return {split: (torch.from_numpy(x), torch.from_numpy(y)) for split, (x, y) in data.items()}

    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """``accuracy`` (primary: over query positions), ``sequence_accuracy`` (every query of a sequence
        right), ``loss`` (cross-entropy over query positions) and ``accuracy_kv<K>``: the accuracy over
        the queries of sequences with K key-value pairs, for each K the split holds."""
        x, y = self.data[split]
        logits = metrics.predict(model, x)  # (N, T, V)
        queried = y != metrics.IGNORE_INDEX  # (N, T)
        wrong = (logits.argmax(dim=-1) != y) & queried  # (N, T)
        results = {
            "accuracy": metrics.accuracy(logits, y),
            "sequence_accuracy": (~wrong.any(dim=1)).float().mean().item(),
            "loss": metrics.cross_entropy(logits, y).item(),
        }
        pairs = queried.sum(dim=1)  # (N,): each key is queried once, so the count of its pairs
        for count in sorted(set(pairs.tolist())):
            rows = pairs == count
            results[f"accuracy_kv{count}"] = 1.0 - wrong[rows].sum().item() / queried[rows].sum().item()
        return results


@hookimpl
def register_tasks(register):
    """Register the MQAR task."""
    register(MQAR)
