"""The Ray executor on a real local Ray cluster (127.0.0.1 only), compared with the inline executor."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from nnbench.runner import run_suite

from .conftest import REPO, TEST_PLUGINS, run_cli

# Keep Ray on loopback (see RayExecutor.run); read when Ray is imported, so set before it is.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Token authentication on, with a token made for this test session: newer Ray refuses to start in
# token mode without one, older Ray writes ~/.ray/auth_token itself; the environment serves both,
# and the cluster, the drivers and the CLI subprocesses all read it.
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'nnbench[ray]')")

COMPARED = ("status", "val_score", "test_score", "final_loss", "steps", "params", "flops_per_step")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A real Ray head node on loopback, started for these tests and stopped after."""
    ray_cli = str(Path(sys.executable).parent / "ray")
    port = _free_port()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    temp = tmp_path_factory.mktemp("ray")
    subprocess.run(
        [ray_cli, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        check=True, capture_output=True, env=env, timeout=180,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, env=env, timeout=120)


def _by_trial(records):
    return {r["trial_id"]: tuple(r.get(k) for k in COMPARED) for r in records}


@pytest.mark.slow
def test_smoke_suite_on_ray_equals_inline(ray_cluster, tmp_path):
    suite = tmp_path / "smoke.yaml"
    # A steps-only budget: a time budget ends trials wherever the machine's load puts them.
    text = (REPO / "suites" / "smoke.yaml").read_text().replace("seeds: [0, 1]", "seeds: [0]")
    suite.write_text(text.replace("budget: {steps: 60, time: 5s}", "budget: {steps: 60}"))
    inline = run_suite(suite, db=tmp_path / "inline.db", executor="inline", quiet=True)
    on_ray = run_suite(suite, db=tmp_path / "ray.db", executor="ray", address=ray_cluster, quiet=True)
    assert on_ray.exit_code == 0
    assert len(on_ray.records) == len(inline.records) >= 5
    assert _by_trial(on_ray.records) == _by_trial(inline.records)
    assert all(r["executor_node"] for r in on_ray.records)
    # The same warm-worker code as the process executor's, on the node: each trial forked by one.
    assert {r["trial_process"] for r in on_ray.records} == {"warm"}
    # Resume works on Ray too, and the CLI reaches the same cluster with --address.
    again = run_cli(
        "run", str(suite), "--db", str(tmp_path / "ray.db"), "--executor", "ray", "--address", ray_cluster
    )
    assert again.returncode == 0, again.stderr
    assert f"nothing to train: {len(inline.records)} trial(s) already in the store" in again.stdout


@pytest.mark.slow
def test_a_dead_ray_worker_marks_its_trial_crashed(ray_cluster, tmp_path, write_suite):
    path = write_suite(
        f"""
        name: ray-faults
        seeds: [0]
        threads: 1
        budget: {{steps: 10}}
        plugins: [{TEST_PLUGINS / "ray_faults.py"}, {TEST_PLUGINS / "faults.py"}]
        executor: {{kind: ray, address: "{ray_cluster}", timeout: 60s}}
        tasks: [tabular-real]
        architectures: [fault-kill-ray-worker, fault-abort, fault-none]
        """
    )
    summary = run_suite(path, db=tmp_path / "r.db", quiet=True)
    status = {r["architecture"]: r for r in summary.records}
    assert status["fault-none"]["status"] == "ok"
    assert status["fault-abort"]["status"] == "crashed"
    assert status["fault-kill-ray-worker"]["status"] == "crashed"
    assert "Ray task failed" in status["fault-kill-ray-worker"]["error"]


@pytest.mark.slow
def test_a_tuned_suite_runs_on_ray(ray_cluster, tmp_path, write_suite):
    # The cluster has 2 CPUs and trials take 1 thread: two tuning configurations are asked at a time.
    path = write_suite(
        f"""
        name: ray-tuned
        seeds: [0, 1]
        threads: 1
        budget: {{steps: 30}}
        training: {{batch_size: 32, eval_every: 10}}
        plugins: [{TEST_PLUGINS / "tunable.py"}]
        executor: {{kind: ray, address: "{ray_cluster}"}}
        tune: {{trials: 4, sampler: random, budget: {{steps: 10}}}}
        tasks: [tabular-real]
        architectures: [tiny-mlp]
        """
    )
    summary = run_suite(path, db=tmp_path / "t.db", quiet=True)
    assert summary.exit_code == 0, [r.get("error") for r in summary.failures]
    stages = sorted(r["stage"] for r in summary.records)
    assert stages == ["final", "final", "tune", "tune", "tune", "tune"]
    assert all(r["executor_node"] for r in summary.records)


@pytest.mark.slow
def test_same_named_plugin_files_are_shipped_apart(ray_cluster, tmp_path, write_suite):
    # a/models.py and b/models.py reach the node as two files and load as two modules: each
    # architecture runs its own file's code (the plugin checks its module is its own).
    same = [TEST_PLUGINS / "same_name" / folder / "models.py" for folder in ("a", "b")]
    path = write_suite(
        f"""
        name: ray-same-name
        seeds: [0]
        threads: 1
        budget: {{steps: 5}}
        training: {{batch_size: 32, eval_every: 0}}
        plugins: [{same[0]}, {same[1]}]
        executor: {{kind: ray, address: "{ray_cluster}", timeout: 120s}}
        tasks: [tabular-real]
        architectures: [same-name-a, same-name-b]
        """
    )
    summary = run_suite(path, db=tmp_path / "s.db", quiet=True)
    status = {r["architecture"]: (r["status"], r.get("error")) for r in summary.records}
    assert status == {"same-name-a": ("ok", None), "same-name-b": ("ok", None)}
    assert all(r["executor_node"] for r in summary.records)


@pytest.mark.slow
def test_adaptive_seeds_on_ray_end_where_the_inline_run_ends(ray_cluster, tmp_path, write_suite):
    # The scheduler feeds Ray's slots as they free; steps budgets and one thread make every trial
    # deterministic, so the looks ask for the same seeds and the store ends the same as inline.
    from .test_adaptive_real import SUITE, scores

    inline = run_suite(write_suite(SUITE), db=tmp_path / "inline.db", quiet=True)
    on_ray = run_suite(
        write_suite(
            SUITE.replace("executor: {kind: inline}", f'executor: {{kind: ray, address: "{ray_cluster}"}}')
        ),
        db=tmp_path / "ray.db",
        quiet=True,
    )
    assert on_ray.exit_code == inline.exit_code == 0
    assert scores(tmp_path / "ray.db") == scores(tmp_path / "inline.db")
    assert len(on_ray.records) > 9  # the twins got seeds beyond min: later looks ran on Ray too
    assert all(r["executor_node"] for r in on_ray.records)
    assert {r["seeds_max"] for r in on_ray.records} == {5}
