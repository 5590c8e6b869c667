"""Names users type: the rule a registered name follows and the did-you-mean hint for a misspelt one.

One home for both, so the registry, the suite checks, search spaces and the plugin scaffold agree.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

# Architecture and task names: lower-case letters, digits, '-', '_' or '.', starting with a letter or digit.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

# Words people write for a key that spelling distance alone would not find (``learning_rate`` is far
# from ``lr``): offered only when the key they stand for is one of the known ones.
SYNONYMS = {
    "learning_rate": "lr",
    "learning-rate": "lr",
    "learningrate": "lr",
    "wd": "weight_decay",
    "bs": "batch_size",
    "batch": "batch_size",
    "optim": "optimizer",
    "opt": "optimizer",
    "max_steps": "steps",
    "time_limit": "time",
    "dtype": "precision",
    "amp": "precision",
    "models": "architectures",
    "archs": "architectures",
    "arch": "architectures",
    "datasets": "tasks",
}


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known`` (or a known synonym), or an empty string."""
    known = list(known)
    synonym = SYNONYMS.get(name.lower())
    if synonym is not None and synonym in known:
        return f"; did you mean {synonym!r}?"
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
