"""Hooks that cannot drift: every hook is documented in docs/hooks.md, its examples are valid
implementations, and every hook has a test that calls it the way a run does (most of them here)."""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import textwrap
import types

import pluggy
import pytest

import nnbench
from nnbench import hookspecs

from .conftest import REPO, TEST_PLUGINS

HOOKS_DOC = REPO / "docs" / "hooks.md"
SECTION = re.compile(r"^## (\w+)\n(.*?)(?=^## |\Z)", re.S | re.M)
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)

# Each hook and the test that exercises it as nnbench calls it (a test function in tests/).
HOOK_TESTS = {
    "register_architectures": "test_registration_hooks_register_the_documented_examples",
    "register_tasks": "test_registration_hooks_register_the_documented_examples",
    "build_model": "test_run_calls_every_lifecycle_hook_with_its_arguments",
    "train_model": "test_run_calls_every_lifecycle_hook_with_its_arguments",
    "log_metrics": "test_run_calls_every_lifecycle_hook_with_its_arguments",
    "suite_started": "test_run_calls_every_lifecycle_hook_with_its_arguments",
    "trial_finished": "test_run_calls_every_lifecycle_hook_with_its_arguments",
    "suite_finished": "test_run_calls_every_lifecycle_hook_with_its_arguments",
    "environment_info": "test_run_calls_every_lifecycle_hook_with_its_arguments",
    "report_sections": "test_run_calls_every_lifecycle_hook_with_its_arguments",
}


def hook_specs() -> dict[str, types.FunctionType]:
    """Every hook specification in nnbench/hookspecs.py, by name."""
    return {
        name: function
        for name, function in vars(hookspecs).items()
        if inspect.isfunction(function) and hasattr(function, "nnbench_spec")
    }


def documented() -> dict[str, str]:
    """docs/hooks.md's hook sections (``## name``), by hook name."""
    return {name: body for name, body in SECTION.findall(HOOKS_DOC.read_text())}


def test_every_hook_is_documented_and_nothing_else_is():
    specs, sections = hook_specs(), documented()
    assert len(specs) >= 10
    assert sorted(set(specs) - set(sections)) == [], "hooks missing from docs/hooks.md"
    hook_like = {name for name in sections if "_" in name or name in specs}
    assert sorted(hook_like - set(specs)) == [], "docs/hooks.md documents hooks that do not exist"
    summary = HOOKS_DOC.read_text().split("## Where hooks run", 1)[1].split("\n## ", 1)[0]
    for name in specs:
        assert f"| `{name}` |" in summary, f"{name} is missing from the summary table"


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_documented_signature_and_firstresult_match_the_spec(name):
    spec = hook_specs()[name]
    body = documented()[name]
    arguments = ", ".join(inspect.signature(spec).parameters)
    assert body.lstrip().startswith(f"`{name}({arguments})`"), (
        f"docs/hooks.md shows another signature for {name}"
    )
    firstresult = spec.nnbench_spec.get("firstresult", False)
    assert re.search(rf"^\| firstresult \| {'yes' if firstresult else 'no'}\b", body, re.M), name
    summary_row = re.search(rf"^\| `{name}` \|.*\| (yes|no) \|$", HOOKS_DOC.read_text(), re.M)
    assert summary_row is not None and summary_row.group(1) == ("yes" if firstresult else "no")
    for field in ("called", "process", "arguments"):
        assert re.search(rf"^\| {field} \| \S", body, re.M), f"{name}: no '{field}' row"


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_each_documented_example_is_a_valid_implementation(name):
    """The example under each hook defines that hook, and pluggy accepts it against nnbench's specs."""
    blocks = PYTHON_BLOCK.findall(documented()[name])
    assert blocks, f"docs/hooks.md has no example for {name}"
    module = types.ModuleType(f"hooks_doc_example_{name}")
    exec(compile(blocks[0], f"docs/hooks.md:{name}", "exec"), module.__dict__)
    assert callable(getattr(module, name, None)), f"the {name} example does not define {name}()"
    manager = pluggy.PluginManager("nnbench")
    manager.add_hookspecs(hookspecs)
    manager.register(module)  # raises on argument names the spec does not have
    manager.check_pending()
    assert [impl.plugin_name for impl in getattr(manager.hook, name).get_hookimpls()]


def test_every_hook_has_a_test():
    defined = set()
    for path in (REPO / "tests").rglob("test_*.py"):
        tree = ast.parse(path.read_text())
        defined |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert sorted(set(hook_specs()) - set(HOOK_TESTS)) == [], "hooks without a test in HOOK_TESTS"
    missing = {hook: test for hook, test in HOOK_TESTS.items() if test not in defined}
    assert missing == {}, "HOOK_TESTS names tests that do not exist"


# -- the hooks, called as a run calls them ------------------------------------------------------------
def test_registration_hooks_register_the_documented_examples(tmp_path):
    """register_architectures and register_tasks: the docs' Linear and Line register, and Linear
    passes the conformance kit on Line."""
    from nnbench import registry
    from nnbench.testing import assert_architecture_conforms

    sections = documented()
    plugin = tmp_path / "doc_examples.py"
    plugin.write_text(
        PYTHON_BLOCK.findall(sections["register_architectures"])[0]
        + "\n\n"
        + PYTHON_BLOCK.findall(sections["register_tasks"])[0]
    )
    results = assert_architecture_conforms("linear", tasks=["line"], plugin_files=[plugin])
    assert {r.check for r in results} >= {"build", "output-shape", "trains", "same-seed-same-result"}
    reg = registry.get_registry()
    owner = f"file:{plugin.resolve()}"
    assert reg.owners[("architecture", "linear")] == owner
    assert reg.owners[("task", "line")] == owner
    assert reg.tasks["line"].name == "line" and reg.architectures["linear"].name == "linear"


RECORDER = '''
"""Records every hook call it gets, one JSON line each, to the file named by $HOOK_LOG."""

import json
import os

import torch

from nnbench import hookimpl


def log(hook, **fields):
    with open(os.environ["HOOK_LOG"], "a") as out:
        out.write(json.dumps({"hook": hook, "pid": os.getpid(), **fields}, default=str) + "\\n")


@hookimpl
def suite_started(suite, trials, ctx):
    log("suite_started", suite=suite.name, trials=[t.trial_id for t in trials], run_id=ctx.run_id,
        db_path=ctx.db_path, device=ctx.device)


@hookimpl
def trial_finished(record, ctx):
    log("trial_finished", trial_id=record["trial_id"], status=record["status"], run_id=ctx.run_id,
        curve=[[p["split"], p["metric"], p["step"], p["value"]] for p in ctx.curve])


@hookimpl
def suite_finished(suite, records, ctx):
    log("suite_finished", suite=suite.name, trials=[r["trial_id"] for r in records], run_id=ctx.run_id)


@hookimpl
def log_metrics(step, metrics, ctx):
    log("log_metrics", step=step, metrics=metrics, trial_id=ctx.trial.trial_id, has_loop=ctx.loop is not None)


@hookimpl
def environment_info():
    return {"recorder": "present"}


@hookimpl
def report_sections(results):
    log("report_sections", trials=len(results))
    return {"title": "Recorder <b>&</b>", "html": "<p id='recorder-section'>recorded</p>"}


@hookimpl(wrapper=True)
def build_model(architecture, task, config, ctx):
    model = yield
    model.recorder_wrapped = True
    log("build_model", architecture=architecture.name, task=task.name, config=config.model_dump(),
        trial_id=ctx.trial.trial_id, has_task=ctx.task is not None)
    return model


@hookimpl
def train_model(model, architecture, task, config, ctx):
    log("train_model", architecture=architecture.name, task=task.name, wrapped=model.recorder_wrapped,
        trial_id=ctx.trial.trial_id, has_data="train" in task.data)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in ctx.loop.steps(model, optimizer):
        x, y = ctx.loop.batch()
        loss = task.loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ctx.loop.record_loss(loss)
    return ctx.loop.result()
'''


def test_run_calls_every_lifecycle_hook_with_its_arguments(tmp_path, monkeypatch):
    """One inline run of two trials with a recording plugin: each hook is called when docs/hooks.md
    says, with the arguments it says; the wrapper sees the built model and the replacement trains it."""
    from nnbench import store
    from nnbench.report.from_store import build_report

    hook_log = tmp_path / "hooks.jsonl"
    monkeypatch.setenv("HOOK_LOG", str(hook_log))
    (tmp_path / "recorder.py").write_text(RECORDER)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        textwrap.dedent(
            f"""
            name: hooks
            device: cpu
            seeds: [0, 1]
            threads: 1
            budget: {{steps: 10}}
            training: {{batch_size: 32, eval_every: 5, warmup_steps: 1}}
            executor: {{kind: inline}}
            plugins: [{TEST_PLUGINS / "tiny.py"}, recorder.py]
            tasks: [digits]
            architectures: [tiny-linear]
            """
        )
    )
    db = tmp_path / "r.db"
    summary = nnbench.run_suite(suite, db=db, quiet=True)
    assert summary.exit_code == 0, [r.get("error") for r in summary.records]
    calls = [json.loads(line) for line in hook_log.read_text().splitlines()]
    by_hook: dict[str, list[dict]] = {}
    for call in calls:
        by_hook.setdefault(call["hook"], []).append(call)
    results = nnbench.load_results(db)
    trial_ids = set(results["trial_id"])
    assert len(trial_ids) == 2

    # suite_started: first, once, with the trials about to run and the run's context
    assert calls[0]["hook"] == "suite_started" and len(by_hook["suite_started"]) == 1
    started = by_hook["suite_started"][0]
    assert started["suite"] == "hooks" and set(started["trials"]) == trial_ids
    assert started["run_id"] == summary.run_id and started["device"] == "cpu"
    assert started["db_path"] == summary.db_path

    # build_model (a wrapper) and train_model (a replacement): once per trial, in the trial's process
    builds, trains = by_hook["build_model"], by_hook["train_model"]
    assert sorted(c["trial_id"] for c in builds) == sorted(trial_ids)
    assert all(c["architecture"] == "tiny-linear" and c["task"] == "digits" for c in builds)
    assert all(c["config"] == {"bias": True} and c["has_task"] for c in builds)
    assert sorted(c["trial_id"] for c in trains) == sorted(trial_ids)
    assert all(c["wrapped"] and c["has_data"] and c["pid"] == os.getpid() for c in trains)
    assert set(results["trainer"].fillna("replaced")) == {"replaced"}  # the default never ran
    assert set(results["steps"]) == {10} and set(results["status"]) == {"ok"}

    # log_metrics: at the evaluations only (steps 5 and 10), with the task's validation metrics
    logged = by_hook["log_metrics"]
    assert sorted((c["trial_id"], c["step"]) for c in logged) == sorted(
        (t, s) for t in trial_ids for s in (5, 10)
    )
    assert all("accuracy" in c["metrics"] and c["has_loop"] for c in logged)
    assert all(c["pid"] == os.getpid() for c in logged)  # inline executor: the trial's process is this one

    # trial_finished: after each trial, with its stored record; suite_finished: last, with all of them
    finished = by_hook["trial_finished"]
    curves = store.load_curves(db)
    for call in finished:  # ctx.curve: the trial's evaluation points, as the store has them
        rows = curves[curves.trial_id == call["trial_id"]]
        assert call["curve"] == rows[["split", "metric", "step", "value"]].values.tolist()
        assert ["val", "accuracy", 5] in [point[:3] for point in call["curve"]]
    assert sorted(c["trial_id"] for c in finished) == sorted(trial_ids)
    assert all(c["status"] == "ok" and c["run_id"] == summary.run_id for c in finished)
    assert calls[-1]["hook"] == "suite_finished" and len(by_hook["suite_finished"]) == 1
    assert set(calls[-1]["trials"]) == trial_ids and calls[-1]["run_id"] == summary.run_id
    for trial_id in trial_ids:  # each trial: built, trained, logged, then finished
        order = [c["hook"] for c in calls if c.get("trial_id") == trial_id]
        assert order == ["build_model", "train_model", "log_metrics", "log_metrics", "trial_finished"]

    # environment_info: merged into the run's recorded environment
    runs = store.load_runs(db)
    assert json.loads(runs["environment"].iloc[-1])["recorder"] == "present"

    # report_sections: in the report, its title escaped and its html as given
    page = build_report(db=db, output=tmp_path / "report.html").read_text()
    assert by_hook_after(hook_log, "report_sections")[0]["trials"] == 2
    assert "Recorder &lt;b&gt;&amp;&lt;/b&gt;" in page and "Recorder <b>&</b>" not in page
    assert "<p id='recorder-section'>recorded</p>" in page


def by_hook_after(hook_log, hook: str) -> list[dict]:
    """The calls of ``hook`` in the log as it is now."""
    return [c for c in map(json.loads, hook_log.read_text().splitlines()) if c["hook"] == hook]
