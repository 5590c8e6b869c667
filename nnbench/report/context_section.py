"""The report's context section: per task, what each family costs against sequence length, on log-log
axes with a fitted power-law exponent per family.

Four measures, each a line per family (the trial's label, as in the leaderboards):

- the training step time (``step_ms_median``) against the training length (``sequence_length``), from
  trials of the task at several lengths (a suite sweeping ``seq_len``);
- inference tokens per second, peak memory of one forward pass, and the state kept per sequence, against
  the inference length, from the trials' ``inference_by_length`` probes (a suite's
  ``inference_lengths``; see :mod:`nnbench.context_probe`), pooled over every trial of the family.

Each point is the mean over the trials at that length (95% bootstrap interval). Per family and measure,
``log(y) = a + b log(length)`` is fitted by :func:`nnbench.stats.power_law_fit` through every trial's
value at the longest half of its lengths (at least :data:`MIN_FIT_LENGTHS`), since fixed per-call
costs flatten the short end. The
time of a sequence grows as length^b: attention should come out near 2 (every token reads every
other), recurrent, state-space and linear-attention models near 1, and FFT convolutions a little above
1. Tuning trials never count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from nnbench import stats
from nnbench.report import figures
from nnbench.report import fmt as f
from nnbench.report.sections import Column, Table, TaskView
from nnbench.report.tuning_section import competing

MIN_FIT_LENGTHS = 3  # a line through two points has no residual, so no interval
FIT_CURVE_POINTS = 40
# (key, what it is, axis title, source): "trial" columns of the trial, "probe" entries of its probes
MEASURES = (
    ("step_ms_median", "training step time", "training step time (ms)", "trial"),
    ("seconds_per_call", "inference time per sequence", "inference time per sequence (s)", "probe"),
    ("tokens_per_s", "inference tokens/s", "inference throughput (tokens/s)", "probe"),
    ("peak_bytes", "inference peak memory", "memory allocated by one forward pass (bytes)", "probe"),
    ("state_bytes", "state per sequence", "state kept per sequence (bytes)", "probe"),
)
FIGURES = ("step_ms_median", "tokens_per_s", "peak_bytes", "state_bytes")  # drawn; the time is in the table


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _labels(rows: pd.DataFrame) -> pd.Series:
    if "arch_label" in rows:
        return rows["arch_label"].where(rows["arch_label"].notna(), rows["architecture"]).astype(str)
    return rows["architecture"].astype(str)


def training_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """Competing ok trials with a training length and a step time: ``family``, ``length``, ``step_ms_median``."""
    columns = ["family", "length", "step_ms_median"]
    if trials.empty:
        return pd.DataFrame(columns=columns)
    rows = competing(trials)
    rows = rows[rows["status"] == "ok"]
    frame = pd.DataFrame(
        {
            "family": _labels(rows),
            "length": _numeric(rows, "sequence_length"),
            "step_ms_median": _numeric(rows, "step_ms_median"),
        }
    )
    return frame[np.isfinite(frame["length"]) & np.isfinite(frame["step_ms_median"])]


def probe_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """Every inference probe of the competing ok trials, one row per (trial, length), with ``family``."""
    columns = ["family", "length", "seconds_per_call", "tokens_per_s", "peak_bytes", "state_bytes"]
    if trials.empty or "inference_by_length" not in trials:
        return pd.DataFrame(columns=columns)
    rows = competing(trials)
    rows = rows[rows["status"] == "ok"]
    out = []
    for family, probes in zip(_labels(rows), rows["inference_by_length"], strict=True):
        for probe in probes if isinstance(probes, list) else []:
            if isinstance(probe, Mapping) and not probe.get("error"):
                out.append([family, *(probe.get(k) for k in columns[1:])])
    frame = pd.DataFrame(out, columns=columns)
    return frame.apply(pd.to_numeric, errors="coerce").assign(family=frame["family"]) if len(frame) else frame


def measure_points(rows: pd.DataFrame, key: str) -> pd.DataFrame:
    """One row per (family, length) with a positive ``key``: ``family``, ``size`` (the length, as the
    point's label), ``x`` (the length), ``mean``, ``low``, ``high`` and ``n`` (trials)."""
    columns = ["family", "size", "x", "mean", "low", "high", "n"]
    values = _numeric(rows, key)
    rows = rows[np.isfinite(values) & (values > 0) & (_numeric(rows, "length") > 0)]
    out = []
    for (family, length), group in rows.groupby(["family", "length"], sort=True):
        spread = stats.mean_interval(pd.to_numeric(group[key], errors="coerce"))
        out.append([family, f"{length:g}", float(length), spread.mean, spread.low, spread.high, spread.n])
    return pd.DataFrame(out, columns=columns)


def observations(rows: pd.DataFrame, key: str) -> pd.DataFrame:
    """Every positive ``key`` value with its ``family`` and ``length``: the rows a fit uses."""
    values, lengths = _numeric(rows, key), _numeric(rows, "length")
    keep = np.isfinite(values) & (values > 0) & (lengths > 0)
    return pd.DataFrame({"family": rows["family"][keep], "length": lengths[keep], "value": values[keep]})


def long_end(observed: pd.DataFrame) -> pd.DataFrame:
    """The observations at a family's longest half of lengths, at least :data:`MIN_FIT_LENGTHS` lengths."""
    lengths = sorted(set(observed["length"]))
    keep = lengths[-max(MIN_FIT_LENGTHS, math.ceil(len(lengths) / 2)) :]
    return observed[observed["length"].isin(keep)]


def family_fit(observed: pd.DataFrame) -> tuple[stats.PowerLawFit | None, str]:
    """The power law through every observation of one family at its long end, or None and why not.

    Each trial's value at a length is one observation (not the mean over trials), so replicates give
    the exponent's interval degrees of freedom: 3 lengths of 4 trials each have 10, not 1.
    """
    lengths = observed["length"].nunique()
    if lengths < MIN_FIT_LENGTHS:
        return None, f"no fit: {lengths} length(s) with a value, {MIN_FIT_LENGTHS} needed"
    used = long_end(observed)
    try:
        fit = stats.power_law_fit(used["length"].to_numpy(dtype=float), used["value"].to_numpy(dtype=float))
    except ValueError as exc:
        return None, f"no fit: {exc}"
    return fit, f"fitted on the {used['length'].nunique()} longest of {lengths} lengths ({len(used)} values)"


def fit_curve(fit: stats.PowerLawFit) -> tuple[list[float], list[float]]:
    """The fitted power law as (length, value) points over the lengths it was fitted on, to draw."""
    xs = np.geomspace(fit.x_min, fit.x_max, FIT_CURVE_POINTS)
    return xs.tolist(), fit.predict(xs).tolist()


def _log_log(points: pd.DataFrame, *, x_title: str, y_title: str, colors, fits, title: str) -> dict:
    """:func:`nnbench.report.figures.scaling`'s lines per family, with a logarithmic y axis too."""
    figure = figures.scaling(points, x_title=x_title, colors=dict(colors), fits=fits, title=title)
    figure["layout"]["yaxis"] = {
        "title": {"text": f"{y_title}, log scale"},
        "type": "log",
        "exponentformat": "SI",
    }
    return figure


# ---------------------------------------------------------------------------------------------
# the section


def task_context(
    index: int,
    task_name: str,
    task_trials: pd.DataFrame,
    *,
    colors: Mapping[str, str],
    metric: str,
    higher_is_better: bool,
) -> tuple[dict | None, dict]:
    """One task's part of the context section and its figures; ``(None, {})`` when it was neither run
    at several lengths nor probed at any.

    ``metric`` and ``higher_is_better`` are taken for the common section signature; the section is
    about cost, so it does not use them.
    """
    training, probes = training_rows(task_trials), probe_rows(task_trials)
    several_lengths = training.groupby("family")["length"].nunique().max() if len(training) else 0
    if several_lengths < 2 and probes.empty:
        return None, {}
    name = str(task_name)
    palette = figures.architecture_colors(pd.concat([training["family"], probes["family"]])) | dict(colors)
    section: dict[str, Any] = {"task": name, "anchor": f"context-{index}", "figures": [], "fits": []}
    plots: dict[str, Any] = {}
    for key, what, axis, source in MEASURES:
        rows = training if source == "trial" else probes
        points, observed = measure_points(rows, key), observations(rows, key)
        curves = {}
        for family, group in points.groupby("family", sort=True):
            fit, note = family_fit(observed[observed["family"] == family])
            row = {
                "family": family,
                "measure": what,
                "points": str(len(group)),
                "exponent": f.BLANK,
                "interval": f.BLANK,
                "range": f"{group['x'].min():g} – {group['x'].max():g} tokens",
                "note": note,
            }
            if fit is not None:
                curves[family] = fit_curve(fit)
                row |= {"exponent": f.num(_rounded(fit.exponent), 3), "interval": _interval(fit)}
            section["fits"].append(row)
        if key not in FIGURES:
            continue
        fig_id = f"fig-{index}-context-{key}"
        x_title = "training length (tokens)" if source == "trial" else "inference length (tokens)"
        section["figures"].append({"id": fig_id if len(points) else None, "what": what})
        if len(points):
            plots[fig_id] = _log_log(
                points,
                x_title=x_title,
                y_title=axis,
                colors=palette,
                fits=curves,
                title=f"{name}: {what} against length",
            )
    section["fits_table"] = Table(
        "context-fits",
        [
            Column("family", "family", "name"),
            Column("measure", "measure"),
            Column("points", "lengths", "num"),
            Column("exponent", "exponent b", "num"),
            Column("interval", "95% interval", "num"),
            Column("range", "length range", "num"),
            Column("note", "note", "wrap"),
        ],
        section["fits"],
    )
    return section, plots


def build(view: TaskView) -> tuple[dict | None, dict]:
    """The context section's part for one task (see :mod:`nnbench.report.sections`)."""
    return task_context(
        view.index, view.name, view.competing, colors=view.family_colors, metric=view.metric,
        higher_is_better=view.higher_is_better,
    )  # fmt: skip


def _rounded(value: float) -> float:
    """An exponent as the table shows it: 1e-30 from a constant's fit is 0."""
    return round(value, 9) + 0.0  # + 0.0: no "-0"


def _interval(fit: stats.PowerLawFit) -> str:
    if not (math.isfinite(fit.low) and math.isfinite(fit.high)):
        return f.BLANK
    return f"[{f.num(_rounded(fit.low), 3)}, {f.num(_rounded(fit.high), 3)}]"
