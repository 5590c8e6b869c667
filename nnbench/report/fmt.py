"""Formatting for report cells: a missing value is a dash, never 0; units where a number has one."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

BLANK = "—"  # what a missing measurement shows as; never 0
NOT_REACHED = "not reached"  # a median time to target of infinity: half or more of the seeds missed


def missing(value: Any) -> bool:
    """True for None, NaN and pandas' missing markers."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def number(value: Any) -> float:
    """``value`` as a float, NaN when it is missing or not a number."""
    if missing(value) or isinstance(value, str):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def text(value: Any) -> str:
    """``value`` as text, the dash when missing."""
    return BLANK if missing(value) else str(value)


def num(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; the dash when missing."""
    value = number(value)
    if math.isnan(value):
        return BLANK
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.{digits}g}"


def count(value: Any) -> str:
    """A whole number with thousands separators: ``12,800``."""
    value = number(value)
    if not math.isfinite(value):
        return BLANK
    return f"{round(value):,}"


def rate(value: Any) -> str:
    """A throughput: whole numbers with separators from 100 up, else 3 significant digits."""
    value = number(value)
    if math.isfinite(value) and abs(value) >= 100:
        return count(value)
    return num(value, 3)


def seconds(value: Any) -> str:
    """A time in seconds, 3 significant digits; ``not reached`` for infinity."""
    value = number(value)
    if math.isinf(value):
        return NOT_REACHED
    return num(value, 3)


def usd(value: Any) -> str:
    """A cost in US dollars: ``$0.0012``; ``not reached`` for infinity."""
    value = number(value)
    if math.isnan(value):
        return BLANK
    if math.isinf(value):
        return NOT_REACHED
    if abs(value) >= 1:
        return f"${value:,.2f}"
    if value == 0:
        return "$0"
    # two significant digits in plain decimals: $0.0000037, never 3.7e-06
    decimals = max(2, 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    if abs(value) < 0.01:
        text = text.rstrip("0")
    return f"${text}"


_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(value: Any, unit: str = "") -> str:
    """A large count with an SI prefix: ``8.88 M`` (FLOPs), ``120 J``."""
    value = number(value)
    if not math.isfinite(value):
        return BLANK
    for factor, prefix in _PREFIXES:
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}".rstrip()
    return f"{value:.3g} {unit}".rstrip()


def size(value: Any) -> str:
    """Bytes in binary units: ``459 MiB``."""
    value = number(value)
    if not math.isfinite(value):
        return BLANK
    for factor, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {unit}"
    return f"{value:.0f} B"


def percent(value: Any, digits: int = 3) -> str:
    """A fraction as a percentage: ``0.42`` -> ``42%``."""
    value = number(value)
    if not math.isfinite(value):
        return BLANK
    return f"{value * 100:.{digits}g}%"


def seed(value: Any) -> str:
    """A seed as an integer when it is one."""
    if missing(value):
        return BLANK
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def first_line(error: Any, limit: int = 240) -> str:
    """The first non-blank line of an error, cut to ``limit`` characters; the dash when none."""
    if missing(error):
        return BLANK
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return BLANK
    return lines[0] if len(lines[0]) <= limit else lines[0][: limit - 1] + "…"


def when(value: Any) -> str:
    """A time stored as epoch seconds, in UTC; any other form as it is."""
    if missing(value):
        return BLANK
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def config_text(value: Any) -> str:
    """A config (dict or JSON text) as compact ``key=value`` text; empty for none."""
    if missing(value):
        return ""
    data = value
    if isinstance(value, str):
        try:
            data = json.loads(value)
        except ValueError:
            return value
    if isinstance(data, dict):
        return " ".join(f"{k}={v}" for k, v in sorted(data.items()))
    return str(value)


_QUOTED_LIST = re.compile(r"\[('[^'\]]*'(?:, '[^'\]]*')*)\]")


def na_reason(error: Any) -> str:
    """Why a pair was not run, in words: ``n/a: cnn takes ['image', 'sequence'] inputs, not tabular``
    (as older stores hold it) reads ``cnn takes image or sequence inputs, not tabular``."""
    from nnbench.types import one_of

    text = first_line(error).removeprefix("n/a: ")
    return _QUOTED_LIST.sub(lambda m: one_of(re.findall(r"'([^']*)'", m.group(1))), text)
