"""The report's tuning and scaling sections: the data behind their tables, checked against known
answers on small hand-made frames, and on synthetic stores of a tuned, size-swept suite."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

import nnbench
from nnbench import stats
from nnbench.report import scaling_section, synthetic, tuning_section
from nnbench.report.page import prepare_trials


def tune_row(study: str, label: str, index: int, val: float | None, hparams: dict, **extra) -> dict:
    """One tuning trial as the store holds it (``val=None``: the trial failed)."""
    return {
        "trial_id": f"{study}-{index}",
        "task": "digits",
        "architecture": label.split()[0],
        "arch_label": label,
        "stage": "tune",
        "study": study,
        "tune_index": index,
        "hparams": hparams,
        "tune_trials": 4,
        "tune_sampler": "tpe",
        "budget_steps": 15,
        "budget_s": None,
        "seed": 0,
        "status": "ok" if val is not None else "error",
        "val_score": val,
        "test_score": val,
        "metric": "accuracy",
        "higher_is_better": True,
    } | extra


def final_row(study: str, label: str, seed: int, score: float, hparams: dict) -> dict:
    return {
        "trial_id": f"{study}-final-{seed}",
        "task": "digits",
        "architecture": label.split()[0],
        "arch_label": label,
        "stage": "final",
        "tuned_from": study,
        "hparams": hparams,
        "tune_trials": 4,
        "tune_sampler": "tpe",
        "budget_steps": 30,
        "seed": seed,
        "status": "ok",
        "val_score": score,
        "test_score": score,
        "metric": "accuracy",
        "higher_is_better": True,
    }


LR = [0.038, 0.002, 0.056, 0.092]


def t8_like() -> pd.DataFrame:
    """Two studies of 4 tuning trials (as in a small tuned suite) and their finals on 2 seeds.

    tiny-linear: validation 0.81, 0.15, 0.82, 0.86 (best: the last). mlp: 0.17, 0.17, failed, 0.17:
    three equal scores, so the study selects the first of them (index 0), whose width is 32.
    """
    tiny, mlp = "tiny-linear (tuned)", "mlp (tuned)"
    rows = [
        tune_row("s-tiny", tiny, i, v, {"training.lr": lr, "bias": i == 3})
        for i, (v, lr) in enumerate(zip([0.81, 0.15, 0.82, 0.86], LR, strict=True))
    ]
    rows += [
        tune_row("s-mlp", mlp, i, v, {"width": w})
        for i, (v, w) in enumerate(zip([0.17, 0.17, None, 0.17], [32, 16, 16, 16], strict=True))
    ]
    rows += [
        final_row("s-tiny", tiny, seed, 0.9 + seed / 100, {"training.lr": LR[3], "bias": True})
        for seed in (0, 1)
    ]
    rows += [final_row("s-mlp", mlp, seed, 0.2, {"width": 32}) for seed in (0, 1)]
    return pd.DataFrame(rows)


# -- stages -----------------------------------------------------------------------------------------


def test_a_store_without_stages_is_all_main_and_competes():
    frame = pd.DataFrame({"task": ["a", "b"], "status": ["ok", "ok"]})
    assert list(tuning_section.stages(frame)) == ["main", "main"]
    assert len(tuning_section.competing(frame)) == 2 and tuning_section.tuning_trials(frame).empty
    mixed = frame.assign(stage=[None, "tune"])
    assert list(tuning_section.competing(mixed)["task"]) == ["a"]


# -- the tuning table -------------------------------------------------------------------------------


def test_study_rows_best_iqr_range_and_selected_hparams():
    tiny, mlp = sorted(tuning_section.study_rows(t8_like(), True), key=lambda s: s["label"], reverse=True)
    assert tiny["label"] == "tiny-linear (tuned)"
    assert (tiny["trials"], tiny["ok"], tiny["planned"], tiny["seeds"]) == (4, 4, 4, 2)
    assert tiny["best"] == 0.86
    assert tiny["median"] == pytest.approx(0.815)
    assert tiny["iqr"] == pytest.approx(
        np.percentile([0.81, 0.15, 0.82, 0.86], 75) - np.percentile([0.81, 0.15, 0.82, 0.86], 25)
    )
    assert tiny["range"] == pytest.approx(0.71)
    assert tiny["selected"] == {"training.lr": LR[3], "bias": True}
    assert tiny["budget"] == "15 steps" and tiny["sampler"] == "tpe"
    # equal scores: the first is selected, as the study does; the failed trial counts but has no score
    assert (mlp["trials"], mlp["ok"]) == (4, 3)
    assert mlp["selected"] == {"width": 32}
    assert (mlp["iqr"], mlp["range"]) == (0.0, 0.0)
    assert mlp["order"] == [1, 2, 3, 4] and math.isnan(mlp["values"][2])
    row = tuning_section.table_row(tiny)
    assert row["selected"] == "bias=True training.lr=0.092"
    assert (row["best"], row["median"], row["range"]) == ("0.86", "0.815", "0.71")


def test_lower_is_better_selects_the_smallest_validation_score():
    frame = t8_like()
    [tiny] = [s for s in tuning_section.study_rows(frame, False) if s["label"].startswith("tiny")]
    assert tiny["best"] == 0.15 and tiny["selected"]["training.lr"] == LR[1]


def test_a_study_with_no_trial_ok_has_blanks_not_zeros():
    frame = pd.DataFrame([tune_row("s", "gru (tuned)", i, None, {"width": 8}) for i in range(3)])
    [study] = tuning_section.study_rows(frame, True)
    row = tuning_section.table_row(study)
    assert (row["trials"], row["ok"]) == ("3", "0")
    assert {row[k] for k in ("best", "median", "iqr", "range", "selected")} == {"—"}
    sentence, _ = tuning_section.budget_statement([study])
    assert "no configuration has been re-run" in sentence


def test_budget_sentence_when_every_architecture_got_the_same():
    sentence, warning = tuning_section.budget_statement(tuning_section.study_rows(t8_like(), True))
    assert warning is None
    assert sentence == (
        "Every architecture got 4 tuning trials of 15 steps each (sampler tpe), selected on validation; "
        "test scores are of the re-runs on 2 seeds."
    )


@pytest.mark.parametrize(
    "change, got",
    [
        (
            "drop",
            "mlp (tuned): 3 trials (of 4 planned) of 15 steps (sampler tpe); tiny-linear (tuned): 4 trials of 15 steps",
        ),
        (
            "budget",
            "mlp (tuned): 4 trials of 10 steps (sampler tpe); tiny-linear (tuned): 4 trials of 15 steps",
        ),
    ],
)
def test_unequal_budgets_are_a_warning_naming_who_got_what(change, got):
    frame = t8_like()
    mlp = frame["study"] == "s-mlp"
    if change == "drop":
        frame = frame.drop(index=frame.index[mlp][-1])
    else:
        frame.loc[mlp, "budget_steps"] = 10
    sentence, warning = tuning_section.budget_statement(tuning_section.study_rows(frame, True))
    assert warning.startswith("Unequal tuning budgets") and got in warning
    assert "Every architecture" not in sentence
    assert sentence.endswith("test scores are of the re-runs on 2 seeds.")


def test_budget_text_and_hparams_text():
    assert tuning_section.budget_text(300, None) == "300 steps"
    assert tuning_section.budget_text(None, 30.0) == "30 s"
    assert tuning_section.budget_text(1500, math.nan) == "1,500 steps"
    assert tuning_section.budget_text(300, 30) == "300 steps or 30 s"
    assert tuning_section.hparams_text('{"b": 1, "a": 0.000123456}') == "a=0.000123 b=1"
    assert tuning_section.hparams_text(None) == ""


# -- the scaling data -------------------------------------------------------------------------------


def test_family_is_the_label_without_its_size():
    assert scaling_section.family_label("mlp size=s", "s", "mlp", "main") == "mlp"
    assert (
        scaling_section.family_label("mlp size=s depth=2 (tuned)", "s", "mlp", "final")
        == "mlp depth=2 (tuned)"
    )
    assert scaling_section.family_label("custom-s", "s", "mlp", "final") == "mlp (tuned)"


def sweep(errors: dict[str, list[float]], *, seeds: int = 2, flops: bool = True) -> pd.DataFrame:
    """Sized main trials of one task: per family and size (xs, s, m, ...), the given error, each size
    with 10x the FLOPs and 4x the parameters of the one before."""
    rows = []
    for family, by_size in errors.items():
        for i, error in enumerate(by_size):
            size = synthetic.SIZES[i]
            for seed in range(seeds):
                rows.append(
                    {
                        "trial_id": f"{family}-{size}-{seed}",
                        "task": "t",
                        "architecture": family,
                        "arch_label": f"{family} size={size}",
                        "stage": "main",
                        "size": size,
                        "seed": seed,
                        "status": "ok",
                        "test_score": 1.0 - error,
                        "params": 1000 * 4**i,
                        "total_train_flops": 1e9 * 10**i if flops else None,
                        "metric": "accuracy",
                        "higher_is_better": True,
                    }
                )
    return pd.DataFrame(rows)


def test_size_points_fit_and_frontier_from_hand_made_trials():
    # mlp's error falls as FLOPs ** -0.25 exactly; cnn is worse when small and better when large
    mlp = [0.4 * 10 ** (-0.25 * i) for i in range(4)]
    frame = sweep({"mlp": mlp, "cnn": [0.5, 0.3, 0.1]})
    points = scaling_section.size_points(frame, "total_train_flops")
    assert len(points) == 7 and set(points["n"]) == {2}
    mlp_points = points[points["family"] == "mlp"].sort_values("x")
    assert list(mlp_points["size"]) == ["xs", "s", "m", "l"]
    assert mlp_points["mean"].to_numpy() == pytest.approx(1 - np.array(mlp))
    kind, _ = scaling_section.fit_target(frame["test_score"], True)
    fit, note = scaling_section.family_fit(mlp_points, kind, "")
    assert fit.exponent == pytest.approx(-0.25) and fit.n == 4
    assert fit.high - fit.low < 1e-6
    frontier = scaling_section.frontier_points(points, True)
    assert [(r["family"], r["size"]) for r in frontier.to_dict("records")] == [
        ("mlp", "xs"),
        ("mlp", "s"),
        ("cnn", "m"),
        ("mlp", "l"),
    ]


def test_no_fit_below_three_sizes_or_without_a_logarithm():
    frame = sweep({"cnn": [0.5, 0.3]})
    points = scaling_section.size_points(frame, "params")
    fit, note = scaling_section.family_fit(points, "error", "")
    assert fit is None and "3 needed" in note
    assert scaling_section.fit_target(pd.Series([0.5, 1.5]), True)[0] is None
    assert scaling_section.fit_target(pd.Series([0.5, 0.0]), False)[0] is None
    assert scaling_section.fit_target(pd.Series([0.5, 0.2]), False)[0] == "metric"
    perfect = scaling_section.size_points(sweep({"cnn": [0.5, 0.3, 0.0]}), "params")
    fit, note = scaling_section.family_fit(perfect, "error", "")
    assert fit is None and "reaches 0" in note


def test_trials_without_flops_are_left_off_that_axis_with_a_note():
    frame = pd.concat([sweep({"mlp": [0.4, 0.3, 0.2]}), sweep({"lstm": [0.5, 0.4, 0.3]}, flops=False)])
    assert set(scaling_section.size_points(frame, "total_train_flops")["family"]) == {"mlp"}
    assert set(scaling_section.size_points(frame, "params")["family"]) == {"mlp", "lstm"}
    assert scaling_section._missing_flops_note(frame).endswith("lstm (6 trials).")


def test_tuning_trials_never_reach_the_scaling_points():
    frame = sweep({"mlp": [0.4, 0.3, 0.2]})
    tune = frame.iloc[:1].assign(stage="tune", test_score=1.0, trial_id="tune-0")
    points = scaling_section.size_points(pd.concat([frame, tune]), "params")
    assert points["mean"].max() == pytest.approx(0.8)


# -- synthetic stores -------------------------------------------------------------------------------


def test_synthetic_store_holds_tuned_and_sized_rows_like_a_tuned_suite(tmp_path):
    db = synthetic.write_store(
        tmp_path / "s.db", tasks=2, architectures=3, seeds=2, sizes=synthetic.SIZES, tuning=3, tuned_tasks=1
    )
    results = prepare_trials(nnbench.load_results(db))
    tuned, plain = (results[results["task"] == name] for name in ("synthetic-00", "synthetic-01"))
    assert set(plain["stage"]) == {"main"}
    assert set(tuned["stage"]) == {"main", "tune", "final"}  # the reference is never tuned
    tune = tuned[tuned["stage"] == "tune"]
    assert set(tune["seed"]) == {0} and set(tune["budget_steps"]) == {synthetic.TUNE_STEPS}
    assert tune.groupby("study").size().eq(3).all()
    for study, rows in tune.groupby("study"):
        finals = tuned[tuned["tuned_from"] == study]
        ok = rows[rows["status"] == "ok"]
        best = ok.iloc[stats.best_index(list(ok["val_score"]))]
        assert all(h == best["hparams"] for h in finals["hparams"])
        assert set(finals["arch_label"]) == {rows["arch_label"].iloc[0]}
        assert rows["arch_label"].iloc[0].endswith(" (tuned)")
    assert set(plain.loc[plain["architecture"] != "gbdt", "size"]) == set(synthetic.SIZES)
    assert plain.loc[plain["architecture"] == "gbdt", "size"].isna().all()


# -- on the page ------------------------------------------------------------------------------------


def test_unequal_budgets_are_a_warning_on_the_page_beside_the_leaderboard(tmp_path):
    from nnbench.report import write_report

    frame = t8_like()
    frame = frame.drop(index=frame.index[frame["study"] == "s-mlp"][-1])
    text = write_report(frame, None, None, tmp_path / "r.html").read_text("utf-8")
    warnings = re.findall(r'<p class="warning" role="note">(.*?)</p>', text, re.S)
    assert len(warnings) == 2  # above the task's leaderboard and in the tuning section
    assert all("mlp (tuned): 3 trials (of 4 planned) of 15 steps" in " ".join(w.split()) for w in warnings)
    assert "Every architecture got" not in text


def test_a_task_with_only_tuning_trials_so_far_shows_only_under_tuning(tmp_path):
    from nnbench.report import write_report

    frame = t8_like()
    frame = frame[frame["stage"] == "tune"]
    text = write_report(frame, None, None, tmp_path / "r.html").read_text("utf-8")
    assert '<section id="tuning">' in text and 'id="task-1"' not in text
    assert "no configuration has been re-run on the test seeds yet" in text
    assert "0 trials (0 ok, 0 failed, 0 n/a)" in " ".join(text.split())


def test_studies_not_re_run_yet_are_named():
    frame = t8_like()
    frame = frame[~((frame["stage"] == "final") & (frame["tuned_from"] == "s-mlp"))]
    sentence, warning = tuning_section.budget_statement(tuning_section.study_rows(frame, True))
    assert warning is None
    assert sentence.endswith("test scores are of the re-runs on 2 seeds; not re-run yet: mlp (tuned).")


def test_a_leaderboard_row_says_its_outcome_and_the_seeds_to_add_as_the_verdict_table_does():
    from nnbench.report.task_section import against_leader

    row = {"outcome": "undecided", "n": 3, "difference": 0.0057, "diff_low": -0.3, "diff_high": 0.35}
    assert against_leader({**row, "seeds_needed": 87}).endswith("; ~84 more seeds each would decide")
    assert against_leader({**row, "seeds_needed": 4}).endswith("; ~1 more seed each would decide")
    assert "would decide" not in against_leader({**row, "seeds_needed": None})
    assert against_leader({"outcome": "leader", "n": 3}) == "leader"
    assert against_leader({**row, "outcome": "worse", "seeds_needed": None}).startswith("worse: 0.0057 [")


def test_the_title_line_counts_a_tuned_entry_once_though_its_n_a_rows_carry_the_plain_label():
    from nnbench.report import run_sections

    trials = pd.DataFrame(
        {
            "task": ["digits", "digits", "toy2d", "toy2d"],
            "arch_label": ["cnn (tuned)", "mlp (tuned)", "cnn", "diffusion (tuned)"],
            "status": ["ok", "failed", "skipped", "ok"],
        }
    )
    overview = run_sections.overview(trials)
    assert overview["n_architectures"] == 3  # cnn (tuned), mlp (tuned), diffusion (tuned)
    assert (overview["n_ok"], overview["n_failed"], overview["n_skipped"]) == (2, 1, 1)
    only_n_a = trials[trials["status"] == "skipped"]
    assert run_sections.overview(only_n_a)["n_architectures"] == 1
