"""Experiment trackers: each one's real library reads back what a run logged, and a tracker that fails
warns once and loses nothing.

The tracker packages are optional extras. Here a missing one skips its test, except where
``NNBENCH_REQUIRE_TRACKERS`` is set (``.ci/run`` sets it): CI installs the extras, so there a missing
package fails the test instead of hiding it.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import struct
import sys
import textwrap
from pathlib import Path

import pytest

import nnbench
from nnbench import store, trackers
from nnbench.errors import ConfigError, NnbenchError

from .conftest import TEST_PLUGINS, run_cli


def need(module: str):
    """Import a tracker package; skip without it, unless CI says it must be there."""
    if os.environ.get("NNBENCH_REQUIRE_TRACKERS"):
        return importlib.import_module(module)  # CI installs the extras: missing is a failure
    return pytest.importorskip(module)


def write_suite(folder: Path, extra: str = "", executor: str = "inline") -> Path:
    """Two trials of the tiny linear model on digits, evaluated at steps 5 and 10."""
    path = folder / "suite.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            name: trk
            device: cpu
            seeds: [0, 1]
            threads: 1
            budget: {{steps: 10}}
            training: {{batch_size: 32, lr: 0.05, eval_every: 5, warmup_steps: 1}}
            executor: {{kind: {executor}}}
            plugins: [{TEST_PLUGINS / "tiny.py"}]
            tasks: [digits]
            architectures: [tiny-linear]
            """
        )
        + extra
    )
    return path


def stored(db: Path) -> tuple[dict[str, dict], dict[str, list[tuple[int, float]]]]:
    """The store's trials by id, and each trial's validation accuracy curve as (step, value)."""
    rows = {row["trial_id"]: row for row in nnbench.load_results(db).to_dict("records")}
    curves = nnbench.load_curves(db)
    val = curves[(curves.split == "val") & (curves.metric == "accuracy")].sort_values("step")
    by_trial = {t: list(zip(g.step.astype(int), g.value)) for t, g in val.groupby("trial_id")}
    return rows, by_trial


def same_curve(logged, expected) -> bool:
    """The same steps, and values equal to float precision (a tracker may store float32)."""
    logged, expected = sorted(logged), sorted(expected)
    return [s for s, _ in logged] == [s for s, _ in expected] and [v for _, v in logged] == pytest.approx(
        [v for _, v in expected], rel=1e-6
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tracker_warnings(stderr: str, name: str) -> list[str]:
    return [line for line in stderr.splitlines() if f"tracker {name}" in line]


# -- MLflow --------------------------------------------------------------------------------------------
def test_mlflow_logs_a_parent_run_and_one_child_per_trial(tmp_path, monkeypatch):
    mlflow = need("mlflow")
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact folder, if it makes one, stays here
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    db = tmp_path / "r.db"
    summary = nnbench.run_suite(write_suite(tmp_path), db=db, quiet=True, track=["mlflow"])
    assert summary.exit_code == 0
    rows, curves = stored(db)

    # mlflow.search_runs reads MLFLOW_TRACKING_URI, as the tracker did (no set_tracking_uri: it would
    # stay set for the rest of this process, and export the variable to every later test)
    runs = mlflow.search_runs(experiment_names=["nnbench-trk"], output_format="pandas")
    assert len(runs) == 3
    [parent] = runs[runs["tags.mlflow.runName"] == summary.run_id].to_dict("records")
    children = runs[runs["tags.mlflow.parentRunId"] == parent["run_id"]].to_dict("records")
    assert parent["status"] == "FINISHED" and parent["params.suite"] == "trk"
    assert sorted(c["tags.nnbench.trial_id"] for c in children) == sorted(rows)

    client = mlflow.MlflowClient(uri)
    for child in children:
        row = rows[child["tags.nnbench.trial_id"]]
        assert child["status"] == "FINISHED" and child["tags.nnbench.status"] == "ok"
        # parameters: architecture and its options, task, seed, budget, every training setting
        assert child["params.architecture"] == "tiny-linear" and child["params.arch.bias"] == "True"
        assert child["params.task"] == "digits" and child["params.seed"] == str(row["seed"])
        assert child["params.budget_steps"] == "10"
        assert child["params.training.eval_every"] == "5" and child["params.training.lr"] == "0.05"
        assert child["params.training.precision"] == "fp32"
        # measurements, as the store has them
        assert child["metrics.test_score"] == pytest.approx(row["test_score"])
        for key in ("step_ms_median", "samples_per_s", "flops_per_step", "peak_mem_bytes", "cost_usd"):
            assert child[f"metrics.{key}"] == pytest.approx(row[key]), key
        # the validation curve, by step
        history = client.get_metric_history(child["run_id"], "val/accuracy")
        assert same_curve([(m.step, m.value) for m in history], curves[row["trial_id"]])
        assert [s for s, _ in curves[row["trial_id"]]] == [5, 10]


def test_mlflow_server_down_warns_once_and_every_result_is_stored(tmp_path):
    need("mlflow")
    db = tmp_path / "r.db"
    result = run_cli(
        "run",
        str(write_suite(tmp_path)),
        "--db",
        str(db),
        "--track",
        "mlflow",
        env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{closed_port()}"},
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    [warning] = tracker_warnings(result.stderr, "mlflow")
    assert "cannot reach http://127.0.0.1" in warning and "every result is in the store" in warning
    assert "Traceback" not in result.stderr
    rows, _ = stored(db)
    assert [row["status"] for row in rows.values()] == ["ok", "ok"]


def test_a_bad_tracking_uri_warns_once_and_every_result_is_stored(tmp_path, monkeypatch, capsys):
    need("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "badscheme://nowhere")
    db = tmp_path / "r.db"
    summary = nnbench.run_suite(write_suite(tmp_path), db=db, quiet=True, track=["mlflow"])
    assert summary.exit_code == 0 and summary.counts == {"ok": 2}
    [warning] = tracker_warnings(capsys.readouterr().err, "mlflow")
    assert "failed to start" in warning and "badscheme://nowhere" in warning
    assert len(nnbench.load_results(db)) == 2


def test_a_missing_tracker_package_warns_once_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now raises ImportError
    db = tmp_path / "r.db"
    summary = nnbench.run_suite(write_suite(tmp_path), db=db, quiet=True, track=["mlflow"])
    assert summary.exit_code == 0
    [warning] = tracker_warnings(capsys.readouterr().err, "mlflow")
    assert "the mlflow package is not installed" in warning and 'pip install "nnbench[mlflow]"' in warning
    assert len(nnbench.load_results(db)) == 2


def test_a_tracker_that_raises_mid_run_is_off_after_one_warning(tmp_path, monkeypatch, capsys):
    from nnbench.trackers import tensorboard_tracker

    calls = []

    def broken(self, record, curve, ctx):
        calls.append(record["trial_id"])
        raise OSError("disk full")

    monkeypatch.setattr(tensorboard_tracker.TensorBoardTracker, "start", lambda self, *args: None)
    monkeypatch.setattr(tensorboard_tracker.TensorBoardTracker, "trial", broken)
    db = tmp_path / "r.db"
    summary = nnbench.run_suite(write_suite(tmp_path), db=db, quiet=True, track=["tensorboard"])
    assert summary.exit_code == 0 and summary.counts == {"ok": 2}
    [warning] = tracker_warnings(capsys.readouterr().err, "tensorboard")
    assert "OSError: disk full" in warning
    assert len(calls) == 1  # off after the first failure: the second trial is not sent to it
    assert len(nnbench.load_results(db)) == 2


# -- TensorBoard ---------------------------------------------------------------------------------------
def test_tensorboard_event_files_per_trial_read_back_by_tensorboard(tmp_path):
    need("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = tmp_path / "tb"
    db = tmp_path / "r.db"
    # the process executor: trials run in subprocesses, the tracker in the runner's process only
    suite = write_suite(tmp_path, "track: [tensorboard]\n", executor="process")
    result = run_cli("run", str(suite), "--db", str(db), env={"NNBENCH_TENSORBOARD_DIR": str(logs)})
    assert result.returncode == 0, result.stderr
    assert tracker_warnings(result.stderr, "tensorboard") == []
    rows, curves = stored(db)
    [run_id] = {row["run_id"] for row in rows.values()}
    folders = sorted((logs / "trk" / run_id).iterdir())
    assert len(folders) == 2
    for folder in folders:
        trial_id = next(t for t in rows if folder.name.endswith(t[:8]))
        events = EventAccumulator(str(folder))
        events.Reload()
        val = [(e.step, e.value) for e in events.Scalars("val/accuracy")]
        assert same_curve(val, curves[trial_id])
        [test_score] = events.Scalars("nnbench/test_score")
        assert test_score.value == pytest.approx(rows[trial_id]["test_score"])
        assert test_score.step == 10
        [samples] = events.Scalars("nnbench/samples_per_s")
        assert samples.value == pytest.approx(rows[trial_id]["samples_per_s"], rel=1e-6)


# -- Weights & Biases ----------------------------------------------------------------------------------
def wandb_records(path: Path) -> list:
    """The protobuf records of a .wandb file, decoded with wandb's own message types.

    The file is a 7-byte header (``:W&B``, magic, version), then LevelDB's log format: 32 KiB blocks of
    chunks, each a 4-byte CRC, a 2-byte length, a 1-byte type (1 full, 2 first, 3 middle, 4 last).
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pending, offset, block = [], b"", 7, 32768
    while offset + 7 <= len(data):
        left = block - offset % block
        if left < 7:  # a block's tail too short for a chunk header is padding
            offset += left
            continue
        length, kind = struct.unpack("<HB", data[offset + 4 : offset + 7])
        chunk = data[offset + 7 : offset + 7 + length]
        offset += 7 + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def test_wandb_offline_runs_hold_each_trial(tmp_path, monkeypatch):
    need("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    db = tmp_path / "r.db"
    summary = nnbench.run_suite(write_suite(tmp_path), db=db, quiet=True, track=["wandb"])
    assert summary.exit_code == 0
    rows, curves = stored(db)
    files = sorted((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 2
    seen = set()
    for path in files:
        records = wandb_records(path)
        [run] = [r.run for r in records if r.WhichOneof("record_type") == "run"][:1]
        assert run.run_group == summary.run_id and run.project == "nnbench-trk" and run.job_type == "main"
        config = {
            item.key: json.loads(item.value_json)
            for r in records
            if r.WhichOneof("record_type") == "run"
            for item in r.run.config.update
        }
        trial_id = config["trial_id"]
        seen.add(trial_id)
        assert config["architecture"] == "tiny-linear" and config["seed"] == rows[trial_id]["seed"]
        assert config["training.eval_every"] == 5 and config["arch.bias"] is True
        history = []
        for r in records:
            if r.WhichOneof("record_type") == "history":
                items = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item}
                if "val/accuracy" in items:
                    history.append((items["_step"], items["val/accuracy"]))
        assert same_curve(history, curves[trial_id])
        summary_items = {}
        for r in records:
            if r.WhichOneof("record_type") == "summary":
                for item in r.summary.update:
                    summary_items[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        assert summary_items["test_score"] == pytest.approx(rows[trial_id]["test_score"])
        assert summary_items["status"] == "ok"
        [exit_record] = [r.exit for r in records if r.WhichOneof("record_type") == "exit"]
        assert exit_record.exit_code == 0
    assert seen == set(rows)


def test_wandb_online_without_credentials_warns_once_instead_of_prompting(tmp_path):
    need("wandb")
    env = {"HOME": str(tmp_path), "WANDB_MODE": "online", "WANDB_API_KEY": "", "WANDB_DIR": str(tmp_path)}
    db = tmp_path / "r.db"
    result = run_cli(
        "run", str(write_suite(tmp_path)), "--db", str(db), "--track", "wandb", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    [warning] = tracker_warnings(result.stderr, "wandb")
    assert "no W&B credentials" in warning and "WANDB_MODE=offline" in warning
    assert len(nnbench.load_results(db)) == 2


# -- choosing trackers -------------------------------------------------------------------------------
def test_track_in_a_suite_is_validated_with_a_did_you_mean(tmp_path):
    from nnbench.suite import load_suite

    suite = write_suite(tmp_path, "track: [tensorboard, mlfow]\n")
    with pytest.raises(
        ConfigError, match=r"suite.yaml:\d+: track.1: unknown tracker 'mlfow'; did you mean 'mlflow'"
    ):
        load_suite(suite)
    with pytest.raises(NnbenchError, match="did you mean 'wandb'"):
        nnbench.run_suite(write_suite(tmp_path), db=tmp_path / "r.db", track=["wand"])


def test_the_cli_offers_every_tracker_and_nothing_else(group):
    [option] = [p for p in group.commands["run"].params if p.name == "track"]
    assert tuple(option.type.choices) == trackers.NAMES and option.multiple


def test_trackers_are_detached_after_the_run(tmp_path, monkeypatch):
    from nnbench import plugins
    from nnbench.trackers import tensorboard_tracker

    monkeypatch.setattr(tensorboard_tracker.TensorBoardTracker, "start", lambda self, *args: None)
    monkeypatch.setattr(tensorboard_tracker.TensorBoardTracker, "trial", lambda self, *args: None)
    nnbench.run_suite(write_suite(tmp_path), db=tmp_path / "r.db", quiet=True, track=["tensorboard"])
    assert not [n for n, _ in plugins.pm.list_name_plugin() if n and n.startswith(trackers.PLUGIN_PREFIX)]
    assert len(store.load_runs(tmp_path / "r.db")) == 1


def test_every_nnbench_package_is_listed_for_the_wheel():
    """setuptools ships only the packages pyproject.toml lists: a new one (nnbench.trackers) must be there."""
    from .conftest import REPO

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(path.parent.relative_to(REPO).parts) for path in (REPO / "nnbench").rglob("__init__.py")
    }
    assert found <= listed
