"""mqar's recall by number of key-value pairs (Zoology's mix of pair counts) and its unchanged defaults."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import torch

from nnbench.tasks import metrics
from nnbench.tasks.mqar import MQAR, make_examples

MIXED = MQAR.Config(
    vocab_size=64, seq_len=48, num_kv_pairs=8, min_kv_pairs=2, n_train=90, n_val=30, n_test=301
)


class Replay(torch.nn.Module):
    """A 'model' that returns fixed logits for the split it is evaluated on."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits[: len(x)]


def test_without_min_kv_pairs_every_sequence_holds_num_kv_pairs_as_before():
    # One count of pairs draws exactly what version 2 drew: the test split from its own stream, then
    # train and val from the seed's generator (no collision with a test sequence at these sizes).
    from nnbench.tasks.splits import GENERATED_TEST_STREAM

    config = MQAR.Config(vocab_size=32, seq_len=32, num_kv_pairs=4, n_train=20, n_val=5, n_test=7)
    data = MQAR(config).make_data(3)
    test = make_examples(
        7, vocab_size=32, seq_len=32, num_kv_pairs=4, rng=np.random.default_rng(GENERATED_TEST_STREAM)
    )
    rng = np.random.default_rng(3)
    expected = {"test": test}
    for split, n in (("train", 20), ("val", 5)):
        expected[split] = make_examples(n, vocab_size=32, seq_len=32, num_kv_pairs=4, rng=rng)
    for split, (tokens, targets) in expected.items():
        assert torch.equal(data[split][0], torch.from_numpy(tokens))
        assert torch.equal(data[split][1], torch.from_numpy(targets))
    assert MQAR.version == 2 and config.kv_counts() == [4]


def test_a_mix_of_pair_counts_in_equal_shuffled_shares_of_every_split():
    assert MIXED.kv_counts() == [2, 4, 8]
    assert MQAR.Config(num_kv_pairs=12, seq_len=64, min_kv_pairs=5).kv_counts() == [5, 10, 12]
    data = MQAR(MIXED).make_data(0)
    for split, n in (("train", 90), ("val", 30), ("test", 301)):
        x, y = data[split]
        pairs = (y != metrics.IGNORE_INDEX).sum(dim=1)
        counts = {k: int((pairs == k).sum()) for k in (2, 4, 8)}
        assert sum(counts.values()) == n and max(counts.values()) - min(counts.values()) <= 1
        assert len(set(pairs[: n // 3].tolist())) > 1  # shuffled, not three blocks
        for tokens, targets, k in zip(x.tolist(), y.tolist(), pairs.tolist(), strict=True):
            keys, values = tokens[0 : 2 * k : 2], tokens[1 : 2 * k : 2]
            scored = {t: target for t, target in enumerate(targets) if target != metrics.IGNORE_INDEX}
            assert sorted(tokens[t] for t in scored) == sorted(keys)
            assert all(
                target == dict(zip(keys, values, strict=True))[tokens[t]] for t, target in scored.items()
            )


def test_recall_is_reported_per_pair_count():
    task = MQAR(MIXED)
    task.setup(seed=0, device="cpu")
    x, y = task.data["test"]
    pairs = (y != metrics.IGNORE_INDEX).sum(dim=1)
    # right at every query of sequences with 2 or 4 pairs, wrong at every query of those with 8
    answer = torch.where((pairs == 8)[:, None] & (y != metrics.IGNORE_INDEX), 1, y.clamp(min=0))
    logits = torch.nn.functional.one_hot(answer, 64).float() * 10
    with torch.no_grad():
        scores = task.evaluate(Replay(logits), "test")
    assert scores["accuracy_kv2"] == 1.0 and scores["accuracy_kv4"] == 1.0 and scores["accuracy_kv8"] == 0.0
    queries = {k: int((pairs == k).sum()) * k for k in (2, 4, 8)}
    assert scores["accuracy"] == pytest.approx((queries[2] + queries[4]) / sum(queries.values()))


def test_one_count_reports_its_recall_too():
    task = MQAR(MQAR.Config(vocab_size=32, seq_len=32, num_kv_pairs=4, n_train=10, n_val=10, n_test=10))
    task.setup(seed=0, device="cpu")
    _, y = task.data["test"]
    with torch.no_grad():
        scores = task.evaluate(Replay(torch.zeros(*y.shape, 32)), "test")
    assert [k for k in scores if k.startswith("accuracy_kv")] == ["accuracy_kv4"]
    assert scores["accuracy_kv4"] == scores["accuracy"]


def test_min_kv_pairs_above_the_pairs_is_an_error():
    with pytest.raises(pydantic.ValidationError, match="min_kv_pairs=9 is above num_kv_pairs=8"):
        MQAR.Config(min_kv_pairs=9)
