"""The papers each built-in architecture's docstring must cite: its family's founding paper, checked by text.

A citation counts when the docstring names the first author's surname and the year (as "Name et al.
(2017)", "Name & Other, 2015" or "Name, Other & Third (1986)") and the paper's title in quotes; line
breaks inside a title are ignored. Used by tests/test_builtin_architectures.py and
tests/test_family_architectures.py.
"""

from __future__ import annotations

import re

# plugin module -> (first author, year, title) of the papers it must cite
REQUIRED = {
    "mlp": [("Rumelhart", 1986, "Learning representations by back-propagating errors")],
    "cnn": [("LeCun", 1998, "Gradient-based learning applied to document recognition")],
    "rnn": [
        ("Hochreiter", 1997, "Long Short-Term Memory"),
        ("Cho", 2014, "Learning Phrase Representations using RNN Encoder-Decoder"),
    ],
    "transformer": [
        ("Vaswani", 2017, "Attention Is All You Need"),
        ("Dosovitskiy", 2021, "An Image is Worth 16x16 Words"),
    ],
    "gan": [
        ("Goodfellow", 2014, "Generative Adversarial Nets"),
        ("Miyato", 2018, "Spectral Normalization for Generative Adversarial Networks"),
    ],
    "diffusion": [("Ho", 2020, "Denoising Diffusion Probabilistic Models")],
    "gbdt": [
        ("Friedman", 2001, "Greedy Function Approximation: A Gradient Boosting Machine"),
        ("Ke", 2017, "LightGBM: A Highly Efficient Gradient Boosting Decision Tree"),
    ],
}


def cites(docstring: str, author: str, year: int, title: str) -> bool:
    """Whether ``docstring`` cites the paper: author and year together, and the title in quotes."""
    text = " ".join((docstring or "").split())  # one line, single spaces
    # the first author, then co-authors or "et al." (no sentence end), then the year within ~60 chars
    author_year = re.search(
        rf"\b{re.escape(author)}\b[^.;]{{0,60}}?(?:et al\.)?[^;]{{0,20}}?\(?{year}\)?", text
    )
    return bool(author_year) and f'"{title}' in text


def missing_citations(name: str, docstring: str) -> list[str]:
    """The required papers ``docstring`` does not cite, as "Author year"."""
    return [f"{a} {y}" for a, y, t in REQUIRED[name] if not cites(docstring, a, y, t)]
