"""``listops``: nested list operations on digits, the hierarchical task of Long Range Arena, scaled down.

An expression such as ``[MAX 2 9 [MIN 4 7 ] 0 ]`` is read token by token and its value (a digit) is the
class. Nangia & Bowman, 2018, "ListOps: A Diagnostic Dataset for Latent Tree Learning"; Tay et al.,
2021, "Long Range Arena: A Benchmark for Efficient Transformers" (there: depth up to 10, up to 10
arguments, 500 to 2000 tokens; here the depth, the arguments and the length are options).
"""

from __future__ import annotations

import random
import statistics
from typing import Any

import pydantic
from pydantic import Field

from nnbench.hookspecs import hookimpl
from nnbench.tasks.classification import ClassificationTask
from nnbench.tasks.splits import GENERATED_TEST_STREAM, draw_excluding, row_keys
from nnbench.types import Config as BaseConfig
from nnbench.types import Margin, Metric, TaskSpec

PAD = 0  # fills every sequence after its closing bracket
DIGIT_TOKENS = range(1, 11)  # digit d is token d + 1
OPERATORS = {  # opening token -> (name, the operation on the arguments' values)
    11: ("MIN", min),
    12: ("MAX", max),
    13: ("MED", lambda values: int(statistics.median(values))),  # the median, rounded down as in LRA
    14: ("SM", lambda values: sum(values) % 10),  # sum modulo 10
}
CLOSE = 15  # "]"
VOCAB_SIZE = 16
OPERATOR_P = 0.3  # probability that an argument below the maximum depth is itself an operation
MAX_DRAWS = 10_000  # draws of one expression before its length window is declared out of reach


def token_names() -> dict[int, str]:
    """A readable name for every token: ``"<pad>"``, ``"0"``..``"9"``, ``"[MIN"``... and ``"]"``."""
    names = {PAD: "<pad>", CLOSE: "]"}
    names.update({token: str(token - 1) for token in DIGIT_TOKENS})
    names.update({token: f"[{name}" for token, (name, _) in OPERATORS.items()})
    return names


def make_expression(rng: random.Random, *, max_depth: int, max_args: int) -> tuple[list[int], int]:
    """One random expression as tokens, and its value. The root is always an operation.

    Each operation takes 2 to ``max_args`` arguments; an argument is an operation with probability
    :data:`OPERATOR_P` while operations nest fewer than ``max_depth`` levels, otherwise a digit. Only ``rng.random()``
    is used, whose sequence Python guarantees across versions.
    """

    def node(depth: int) -> tuple[list[int], int]:
        if depth > 1 and (depth > max_depth or rng.random() >= OPERATOR_P):
            digit = int(rng.random() * 10)
            return [digit + 1], digit
        operator = 11 + int(rng.random() * len(OPERATORS))
        tokens, values = [operator], []
        for _ in range(2 + int(rng.random() * (max_args - 1))):
            arg_tokens, arg_value = node(depth + 1)
            tokens += arg_tokens
            values.append(arg_value)
        return tokens + [CLOSE], OPERATORS[operator][1](values)

    return node(1)


class ListOps(ClassificationTask):
    """Compute the digit value of a nested expression of MIN, MAX, MED and SM read as a token sequence."""

    name = "listops"
    version = 2  # 2: one test split for every seed, no test expression in training (1: by the seed)
    tier = "long"
    description = (
        "LRA-style ListOps, scaled down: nested expressions such as [MAX 2 9 [MIN 4 7 ] 0 ] over digits with "
        "MIN, MAX, MED (median) and SM (sum mod 10), up to 5 operations deep and 16 to 128 tokens, classified by their "
        "value (10 classes). It tests hierarchical composition: an answer depends on every bracket. "
        "Transformers and LSTMs should lead, since they can "
        "combine distant tokens, but none solves it quickly (the Long Range Arena paper reports about 37% "
        "for a Transformer fully trained at length 2000); MLPs and CNNs, with no way to match brackets, "
        "stay near the majority class. It needs minutes of training."
    )

    class Config(BaseConfig):
        """Expression shape, length window and split sizes."""

        max_depth: int = Field(5, ge=1)  # levels of nested operations at most (1: one flat operation)
        max_args: int = Field(5, ge=2)  # arguments of an operation at most (at least 2)
        min_length: int = Field(16, ge=4)  # expressions shorter than this many tokens are redrawn
        seq_len: int = Field(128, ge=4)  # expressions longer than this are redrawn; shorter ones padded
        n_train: int = Field(20000, ge=1)  # training expressions
        n_val: int = Field(2000, ge=1)  # validation expressions
        n_test: int = Field(2000, ge=1)  # test expressions

        @pydantic.model_validator(mode="after")
        def _window_is_open(self) -> ListOps.Config:
            if self.min_length > self.seq_len:
                raise ValueError(f"min_length={self.min_length} is above seq_len={self.seq_len}")
            longest = 1
            for _ in range(self.max_depth):  # an operation of max_args operations of ... of digits
                longest = 2 + self.max_args * longest
            if self.min_length > longest:
                raise ValueError(
                    f"min_length={self.min_length}: expressions of depth {self.max_depth} with at most "
                    f"{self.max_args} arguments have at most {longest} tokens"
                )
            return self

    def spec(self) -> TaskSpec:
        """Tokens ``(T,)`` over 16 symbols to 10 class logits."""
        return TaskSpec(
            name=self.name,
            modality="sequence",
            kind="classification",
            input_shape=(self.config.seq_len,),
            output_shape=(10,),
            vocab_size=VOCAB_SIZE,
            num_classes=10,
        )

    def metric(self) -> Metric:
        """Test accuracy, no target (the reference of LRA is far below solving it); equivalence within 1
        point; anchors: chance (10 values) -> 0, a perfect score (accuracy 1) -> 1."""
        return Metric(
            "accuracy", higher_is_better=True, target=None, margin=Margin(0.01), anchors=(1 / 10, 1.0)
        )

    def make_data(self, seed: int) -> dict[str, tuple[Any, Any]]:
        """Tokens long ``(N, T)``, each expression followed by padding; values long ``(N,)``.

        The test expressions come from a generator of their own (:data:`~nnbench.tasks.splits.
        GENERATED_TEST_STREAM`), the same for every seed; train and val from ``random.Random(seed)``, in
        that order, and an expression equal to a test expression is drawn again. Expressions whose
        length falls outside ``[min_length, seq_len]`` are redrawn.
        """
        import numpy as np
        import torch

        config = self.config

        def drawer(rng: random.Random):
            def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
                rows, values = [], []
                for _ in range(n):
                    expression, value = self._expression(rng)
                    rows.append(expression + [PAD] * (config.seq_len - len(expression)))
                    values.append(value)
                tokens = np.array(rows, dtype=np.int64).reshape(n, config.seq_len)  # (N, T)
                return tokens, np.array(values, dtype=np.int64)

            return draw

        test = drawer(random.Random(GENERATED_TEST_STREAM))(config.n_test)
        exclude = set(row_keys(test[0]))
        draw = drawer(random.Random(seed))
        data = {
            split: draw_excluding(draw, n, exclude, f"listops {split}")
            for split, n in (("train", config.n_train), ("val", config.n_val))
        }
        data["test"] = test
        return {split: (torch.from_numpy(x), torch.from_numpy(y)) for split, (x, y) in data.items()}

    def _expression(self, rng: random.Random) -> tuple[list[int], int]:
        """One expression within the length window, and its value."""
        config = self.config
        for _ in range(MAX_DRAWS):
            expression, value = make_expression(rng, max_depth=config.max_depth, max_args=config.max_args)
            if config.min_length <= len(expression) <= config.seq_len:
                return expression, value
        raise ValueError(
            f"listops: no expression of {config.min_length} to {config.seq_len} tokens in "
            f"{MAX_DRAWS} draws (max_depth={config.max_depth}, max_args={config.max_args}): "
            f"widen the length window"
        )


@hookimpl
def register_tasks(register):
    """Register the ListOps task."""
    register(ListOps)
