"""The report's recall and context sections, checked against known answers on hand-made frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from nnbench.report import context_section, figures, page, recall_section
from nnbench.report.page import template
from nnbench.report.sections import PageSection, TaskView

# -- recall --------------------------------------------------------------------------------------------

KV = (4, 8, 16)


def recall_row(family: str, width: int, length: int, seed: int, kv: dict[int, float], **extra) -> dict:
    """One mqar trial as the store holds it: a width sweep entry of ``family``."""
    option = {"rnn": "hidden"}.get(family, "d_model")
    queries = sum(k * kv[k] for k in kv) / sum(kv)  # accuracy over every query, as mqar weighs them
    return {
        "trial_id": f"{family}-{width}-{length}-{seed}",
        "task": "mqar",
        "architecture": family,
        "arch_label": f"{family} {option}={width}",
        "arch_config": {option: width, "depth": 2},
        "width_option": option,
        "model_width": width,
        "sequence_length": length,
        "stage": "main",
        "seed": seed,
        "status": "ok",
        "test_score": queries,
        "test_metrics": {"accuracy": queries, "loss": 1.0, **{f"accuracy_kv{k}": v for k, v in kv.items()}},
        "state_bytes": {"transformer": 4 * 2 * 2 * length * width, "rnn": 4 * 2 * width}[family],
        "metric": "accuracy",
        "higher_is_better": True,
    } | extra


def recall_frame() -> pd.DataFrame:
    """Attention recalls everything; the RNN's recall falls with pairs and rises with its width."""
    rows = []
    for length in (64, 128):
        for seed in (0, 1):
            for width in (32, 64, 128):
                rows.append(recall_row("transformer", width, length, seed, {k: 1.0 for k in KV}))
                rnn = {k: min(1.0, width / (16 * k)) + 0.01 * seed for k in KV}
                rows.append(recall_row("rnn", width, length, seed, rnn))
    return pd.DataFrame(rows)


def test_recall_points_per_family_width_and_length():
    frame = recall_frame()
    rows = recall_section.recall_trials(frame, "accuracy")
    assert len(rows) == len(frame)
    assert set(recall_section.families(rows)) == {"transformer", "rnn"}  # the width option is dropped
    points = recall_section.recall_points(rows, "model_width")
    assert len(points) == 2 * 2 * 3 and set(points["n"]) == {2}
    rnn = points[(points["family"] == "rnn") & (points["length"] == 64)].sort_values("x")
    assert list(rnn["x"]) == [32, 64, 128] and list(rnn["size"]) == ["32", "64", "128"]
    expected = [
        np.mean(
            [
                recall_row("rnn", w, 64, s, {k: min(1.0, w / (16 * k)) + 0.01 * s for k in KV})["test_score"]
                for s in (0, 1)
            ]
        )
        for w in (32, 64, 128)
    ]
    assert rnn["mean"].to_numpy() == pytest.approx(expected)
    state = recall_section.recall_points(rows, "state_bytes")
    at_128 = state[(state["family"] == "transformer") & (state["length"] == 128)].sort_values("x")
    assert list(at_128["x"]) == [4 * 2 * 2 * 128 * w for w in (32, 64, 128)]


def test_recall_by_pair_count_table():
    counts, table = recall_section.kv_table(
        recall_section.recall_trials(recall_frame(), "accuracy"), "accuracy"
    )
    assert counts == [4, 8, 16]
    row = next(r for r in table if r["family"] == "rnn" and r["width"] == "64" and r["length"] == "64")
    # width 64: min(1, 64 / (16 K)) = 1, 0.5, 0.25, plus 0.00 and 0.01 over the two seeds
    assert row["cells"] == ["1.005", "0.505", "0.255"] and row["seeds"] == "2"
    section, _ = recall_section.task_recall(
        1, "mqar", recall_frame(), colors={}, metric="accuracy", higher_is_better=True
    )
    shown = section["kv_table"]
    assert [c.title for c in shown.columns][-3:] == ["4 pairs", "8 pairs", "16 pairs"]
    assert next(r for r in shown.rows if r["family"] == "rnn" and r["width"] == "64")["kv16"] == "0.255"


def test_a_store_holds_the_options_as_json_text_and_the_family_is_still_found():
    frame = recall_frame()
    frame["arch_config"] = frame["arch_config"].map(json.dumps)
    frame["model_width"] = frame["model_width"].astype(float)  # as a column with gaps loads
    assert set(recall_section.families(frame)) == {"transformer", "rnn"}


def test_the_recall_section_has_a_figure_per_axis_and_length_and_renders():
    section, plots = recall_section.task_recall(
        3, "mqar", recall_frame(), colors={}, metric="accuracy", higher_is_better=True
    )
    assert [(f["axis"], f["length"]) for f in section["figures"]] == [
        ("model width", "64"),
        ("model width", "128"),
        ("state per sequence", "64"),
        ("state per sequence", "128"),
    ]
    assert set(plots) == {f["id"] for f in section["figures"]}
    for plot in plots.values():
        go.Figure(plot)  # a valid plotly figure
        assert plot["layout"]["xaxis"]["type"] == "log"
    html = template("_recall.html").render(section=PageSection("recall", "Recall", "_recall.html", [section]))
    assert 'id="recall-3"' in html and "16 pairs" in html and html.count('class="figure"') == 4


def test_tasks_without_recall_by_pairs_and_tuning_trials_are_left_out():
    frame = recall_frame()
    plain = frame.assign(test_metrics=[{"accuracy": 0.5}] * len(frame))
    assert recall_section.task_recall(1, "t", plain, colors={}, metric="accuracy", higher_is_better=True) == (
        None,
        {},
    )
    tune = frame.iloc[:1].assign(stage="tune", test_score=0.0, trial_id="tune-0")
    rows = recall_section.recall_trials(pd.concat([frame, tune]), "accuracy")
    assert "tune-0" not in set(rows["trial_id"])


def test_families_without_a_state_size_are_named():
    frame = recall_frame()
    frame.loc[frame["architecture"] == "rnn", "state_bytes"] = None
    section, plots = recall_section.task_recall(
        1, "mqar", frame, colors={}, metric="accuracy", higher_is_better=True
    )
    assert section["missing"].endswith("declares no state size: rnn.")
    state_plot = plots["fig-1-recall-state-64"]
    assert {t["name"] for t in state_plot["data"]} == {"transformer"}


# -- context ---------------------------------------------------------------------------------------------

LENGTHS = (64, 128, 256, 512)
PROBES = (256, 1024, 4096, 16384)


def context_row(family: str, length: int, seed: int) -> dict:
    """A trial trained at ``length``: attention's costs grow as length^2, the SSM's as length (exactly,
    plus a fixed per-call cost that only shows at the short end)."""
    power = 2 if family == "transformer" else 1
    probes = []
    for n in PROBES:
        scale = 1e-9 if family == "transformer" else 1e-6  # both 1 ms a call at 1024 tokens
        seconds = 1e-5 + scale * n**power * (1 + 0.01 * seed)
        probes.append(
            {
                "length": n,
                "seconds_per_call": seconds,
                "tokens_per_s": n / seconds,
                "peak_bytes": 1000 * n,
                "state_bytes": 512 * n if family == "transformer" else 4096,
                "error": None,
            }
        )
    probes.append(
        {"length": 65536, "seconds_per_call": None, "error": "skipped: length 16384 took 30 s a call"}
    )
    return {
        "trial_id": f"{family}-{length}-{seed}",
        "task": "mqar",
        "architecture": family,
        "arch_label": family,
        "stage": "main",
        "seed": seed,
        "status": "ok",
        "sequence_length": length,
        "step_ms_median": 0.1 + (1e-4 if family == "transformer" else 1e-2) * length**power,
        "inference_by_length": probes,
    }


def context_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [context_row(f, n, s) for f in ("transformer", "ssm") for n in LENGTHS for s in (0, 1)]
    )


def exponents(section: dict) -> dict[tuple[str, str], float]:
    return {
        (r["family"], r["measure"]): float(r["exponent"]) for r in section["fits"] if r["exponent"] != "—"
    }


def test_fitted_exponents_at_the_long_end():
    section, plots = context_section.task_context(
        2, "mqar", context_frame(), colors={}, metric="accuracy", higher_is_better=True
    )
    fits = exponents(section)
    assert fits[("transformer", "inference time per sequence")] == pytest.approx(2.0, abs=0.05)
    assert fits[("ssm", "inference time per sequence")] == pytest.approx(1.0, abs=0.1)
    assert fits[("transformer", "inference tokens/s")] == pytest.approx(-1.0, abs=0.05)
    assert fits[("transformer", "inference peak memory")] == pytest.approx(1.0)
    assert fits[("ssm", "state per sequence")] == pytest.approx(0.0, abs=1e-9)
    assert fits[("transformer", "state per sequence")] == pytest.approx(1.0)
    assert fits[("transformer", "training step time")] == pytest.approx(2.0, abs=0.1)
    assert fits[("ssm", "training step time")] == pytest.approx(1.0, abs=0.1)
    notes = {r["note"].split(" (")[0] for r in section["fits"]}
    assert notes == {"fitted on the 3 longest of 4 lengths"}
    assert [f["what"] for f in section["figures"]] == [
        "training step time",
        "inference tokens/s",
        "inference peak memory",
        "state per sequence",
    ]
    for plot in plots.values():
        go.Figure(plot)
        assert plot["layout"]["xaxis"]["type"] == plot["layout"]["yaxis"]["type"] == "log"
    html = template("_context.html").render(
        section=PageSection("context", "Context", "_context.html", [section])
    )
    assert 'id="context-2"' in html and "exponent b" in html and html.count('class="figure"') == 4


def test_the_fit_goes_through_every_trial_at_the_long_end():
    rows = context_section.probe_rows(context_frame())
    points = context_section.measure_points(rows, "seconds_per_call")
    attention = points[points["family"] == "transformer"]
    assert list(attention["x"]) == list(PROBES) and set(attention["n"]) == {8}  # 4 lengths x 2 seeds
    observed = context_section.observations(rows, "seconds_per_call")
    observed = observed[observed["family"] == "transformer"]
    used = context_section.long_end(observed)
    assert sorted(set(used["length"])) == list(PROBES[1:]) and len(used) == 3 * 8
    fit, note = context_section.family_fit(observed)
    direct = context_section.stats.power_law_fit(used["length"], used["value"])
    assert fit.exponent == direct.exponent and fit.n == 24 and fit.low < fit.exponent < fit.high
    assert note == "fitted on the 3 longest of 4 lengths (24 values)"


def test_no_section_without_several_lengths_or_probes_and_no_fit_below_three():
    one_length = context_frame().assign(sequence_length=64, inference_by_length=None)
    assert context_section.task_context(1, "t", one_length, colors={}, metric="m", higher_is_better=True) == (
        None,
        {},
    )
    two = pd.DataFrame({"family": ["a"] * 4, "length": [1.0, 2.0, 2.0, 1.0], "value": [1.0, 2.0, 2.1, 1.1]})
    assert context_section.family_fit(two) == (None, "no fit: 2 length(s) with a value, 3 needed")


def test_probe_errors_and_failed_trials_are_left_out():
    frame = context_frame()
    frame.loc[0, "status"] = "error"
    rows = context_section.probe_rows(frame)
    assert 65536 not in set(rows["length"]) and len(rows) == (len(frame) - 1) * len(PROBES)


def test_families_keep_their_colours_from_the_page():
    section, plots = context_section.task_context(
        1, "mqar", context_frame(), colors={"ssm": "#123456"}, metric="m", higher_is_better=True
    )
    lines = [t for t in plots["fig-1-context-tokens_per_s"]["data"] if t["name"] == "ssm"]
    assert lines[0]["line"]["color"] == "#123456"
    assert figures.architecture_colors(["ssm"])  # the fallback palette for the others


# -- wired into the page: one TaskSectionKind each ----------------------------------------------------


def test_both_sections_build_from_a_task_view_and_render_in_the_page():
    frame = pd.concat([recall_frame(), context_frame()], ignore_index=True)
    frame["trial_id"] = [f"t{i}" for i in range(len(frame))]
    frame["test_score"] = frame["test_score"].fillna(0.5)
    view = TaskView(
        index=4,
        name="mqar",
        trials=frame,
        competing=frame,
        points=pd.DataFrame(),
        metric="accuracy",
        higher_is_better=True,
    )
    recall, recall_plots = recall_section.build(view)
    context, context_plots = context_section.build(view)
    assert recall["anchor"] == "recall-4" and context["anchor"] == "context-4"
    assert recall_plots and context_plots
    assert {kind.id for kind in page.TASK_SECTIONS} >= {"recall", "context"}
    html = page.render_report(frame.assign(metric="accuracy", higher_is_better=True), None, None)
    assert '<section id="recall">' in html and '<section id="context">' in html
    assert 'href="#recall"' in html and "exponent b" in html and "16 pairs" in html
