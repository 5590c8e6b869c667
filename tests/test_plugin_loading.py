"""The plugin system: entry points, loose files, isolation of broken plugins, strict and trace modes."""

from __future__ import annotations

import json
import textwrap

import pytest

import nnbench
from nnbench import plugins, registry
from nnbench.errors import NnbenchError, PluginError

from .conftest import REPO, TEST_PLUGINS, pip_install_target, run_cli


def test_builtins_come_from_entry_points_like_any_third_party():
    reg = registry.get_registry()
    assert {"mlp", "cnn"} <= set(reg.architectures)
    assert reg.owners[("architecture", "mlp")] == "mlp (nnbench_plugins.mlp)"
    assert {"digits", "tabular-real", "running-parity", "toy2d"} <= set(reg.tasks)
    assert not plugins.failures


def test_loose_plugin_file_registers_its_architectures():
    assert plugins.load_plugin_file(TEST_PLUGINS / "tiny.py")
    assert nnbench.get_architecture("tiny-linear").name == "tiny-linear"
    assert nnbench.get_architecture("gauss").kinds == {"generation"}


def test_a_plugin_that_fails_to_import_is_reported_not_fatal():
    assert plugins.load_plugin_file(TEST_PLUGINS / "broken_import.py") is None
    assert plugins.load_plugin_file(TEST_PLUGINS / "tiny.py")
    [failure] = plugins.failures
    assert "broken_import.py" in failure.plugin
    assert "this_module_does_not_exist" in failure.error
    assert "mlp" in registry.get_registry().architectures  # the rest still work


def test_a_misspelled_hook_is_named():
    assert plugins.load_plugin_file(TEST_PLUGINS / "misspelled_hook.py") is None
    [failure] = plugins.failures
    assert "register_architecture" in failure.error
    assert "no such hook" in failure.error


def test_a_name_collision_names_both_plugins():
    plugins.load_plugin_file(TEST_PLUGINS / "collides.py")
    registry.get_registry()
    [failure] = plugins.failures
    assert "'mlp' is registered by both" in failure.error
    assert "nnbench_plugins.mlp" in failure.error and "collides.py" in failure.error
    assert nnbench.get_architecture("mlp").__class__.__name__ == "MLP"  # the first one stays


def test_strict_mode_makes_failures_fatal(monkeypatch):
    monkeypatch.setenv("NNBENCH_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="broken_import.py"):
        plugins.load_plugin_file(TEST_PLUGINS / "broken_import.py")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("class A(nnbench.Architecture):\n    modalities = {'tabular'}\n", "has no name"),
        (
            "class A(nnbench.Architecture):\n    name = 'a'\n    modalities = {'tabular'}\n    Config = dict\n",
            "Config must be a pydantic model",
        ),
        (
            "class A(nnbench.Architecture):\n    name = 'a'\n    modalities = {'audio'}\n",
            "modalities must be",
        ),
        ("class A:\n    name = 'a'\n", "expected an nnbench.Architecture instance"),
        (
            "class A(nnbench.Architecture):\n    name = 'Bad Name'\n    modalities = {'tabular'}\n",
            "lower-case",
        ),
    ],
)
def test_bad_registrations_are_reported_by_plugin(tmp_path, body, expected):
    path = tmp_path / "bad_arch.py"
    path.write_text(
        "import nnbench\nfrom nnbench import hookimpl\n"
        + body
        + "\n@hookimpl\ndef register_architectures(register):\n    register(A())\n"
    )
    plugins.load_plugin_file(path)
    reg = registry.get_registry()
    [failure] = plugins.failures
    assert "bad_arch.py" in failure.plugin and expected in failure.error
    assert "mlp" in reg.architectures


def test_unknown_names_suggest_the_closest():
    with pytest.raises(NnbenchError, match="did you mean 'digits'"):
        nnbench.get_task("digts")
    with pytest.raises(NnbenchError, match="did you mean 'cnn'"):
        nnbench.get_architecture("cnnn")


def test_trace_prints_hook_calls(tmp_path):
    result = run_cli("list", "tasks", "--json", env={"NNBENCH_TRACE_PLUGINS": "1"})
    assert result.returncode == 0, result.stderr
    assert "[nnbench trace] register_tasks -> nnbench.tasks.digits" in result.stderr


def test_plugins_command_lists_failures(tmp_path):
    result = run_cli("plugins", "--json", "--plugin", str(TEST_PLUGINS / "broken_import.py"))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    names = {row["name"]: row for row in rows}
    assert "mlp (nnbench_plugins.mlp)" in names
    assert names["mlp (nnbench_plugins.mlp)"]["hooks"] == ["register_architectures"]
    [broken] = [row for row in rows if row["error"]]
    assert "No module named 'this_module_does_not_exist'" in broken["error"]


@pytest.mark.slow
def test_a_pip_installed_plugin_package_runs_in_a_suite(tmp_path):
    """A third-party package with an ``nnbench`` entry point, installed with pip, written only against the public API."""
    package = tmp_path / "nnbench-tinyext"
    (package / "nnbench_tinyext").mkdir(parents=True)
    (package / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "nnbench-tinyext"
            version = "0.0.1"

            [project.entry-points.nnbench]
            tinyext = "nnbench_tinyext"
            """
        )
    )
    source = (
        (TEST_PLUGINS / "tiny.py")
        .read_text()
        .replace('"tiny-linear"', '"tinyext-linear"')
        .replace('"gauss"', '"tinyext-gauss"')
    )
    (package / "nnbench_tinyext" / "__init__.py").write_text(source)
    site = tmp_path / "site"
    pip_install_target(package, site)
    env = {"PYTHONPATH": str(site)}
    listed = run_cli("list", "architectures", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert {"tinyext-linear", "tinyext-gauss"} <= {row["name"] for row in json.loads(listed.stdout)}
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: ext\nseeds: [0]\nbudget: {steps: 20}\ntraining: {eval_every: 10}\n"
        "tasks: [tabular-real, toy2d]\narchitectures: [tinyext-linear, tinyext-gauss]\n"
    )
    ran = run_cli("run", str(suite), "--db", str(tmp_path / "r.db"), env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    results = nnbench.load_results(tmp_path / "r.db")
    ok = results[results.status == "ok"]
    assert set(zip(ok.architecture, ok.task)) == {
        ("tinyext-linear", "tabular-real"),
        ("tinyext-gauss", "toy2d"),
    }


def test_repo_layout_ships_plugins_as_nnbench_plugins():
    import nnbench_plugins.mlp

    assert (REPO / "plugins" / "mlp.py").samefile(nnbench_plugins.mlp.__file__)


# -- two plugin files with the same name ---------------------------------------------------------
SAME_NAME = [TEST_PLUGINS / "same_name" / "a" / "models.py", TEST_PLUGINS / "same_name" / "b" / "models.py"]


def test_plugin_files_with_the_same_name_are_two_modules():
    import pickle

    for path in SAME_NAME:
        assert plugins.load_plugin_file(path)
    a, b = nnbench.get_architecture("same-name-a"), nnbench.get_architecture("same-name-b")
    assert type(a).__module__ != type(b).__module__
    assert plugins.file_module_name(SAME_NAME[0]) == type(a).__module__
    # Each class resolves through its own module name, as pickling (and Ray) needs.
    assert type(pickle.loads(pickle.dumps(a))) is type(a)
    assert type(pickle.loads(pickle.dumps(b))) is type(b)


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_same_named_plugin_files_each_run_their_own_trials(executor, write_suite, tmp_path):
    from nnbench.runner import run_suite

    path = write_suite(
        f"""
        name: same-name
        seeds: [0]
        threads: 1
        budget: {{steps: 5}}
        training: {{batch_size: 32, eval_every: 0}}
        plugins: [{SAME_NAME[0]}, {SAME_NAME[1]}]
        tasks: [tabular-real]
        architectures: [same-name-a, same-name-b]
        """
    )
    summary = run_suite(path, db=tmp_path / "r.db", executor=executor, quiet=True)
    status = {r["architecture"]: (r["status"], r.get("error")) for r in summary.records}
    assert status == {"same-name-a": ("ok", None), "same-name-b": ("ok", None)}


def test_shipped_plugin_files_keep_their_names_in_folders_of_their_own(tmp_path):
    from nnbench.executors import write_shipped_plugin

    first = write_shipped_plugin(tmp_path, "/x/a/models.py", "A = 1\n")
    second = write_shipped_plugin(tmp_path, "/x/b/models.py", "B = 2\n")
    assert first != second and first.name == second.name == "models.py"
    assert first.read_text() == "A = 1\n" and second.read_text() == "B = 2\n"
