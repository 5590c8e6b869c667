"""``nnbench new-plugin``: the package it writes installs, registers and passes its own test unmodified."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nnbench.scaffold import plugin_names, write_plugin_package

from .conftest import pip_install_target, run_cli, run_module


def new_plugin(*args: str, cwd=None):
    """``nnbench new-plugin ARGS`` as a user runs it; returns the exit code and the output."""
    result = run_cli("new-plugin", *args, cwd=cwd)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.slow
def test_new_plugin_package_installs_and_passes_its_own_test(tmp_path):
    package, site = tmp_path / "demo", tmp_path / "site"
    code, output = new_plugin("demo", "--dir", str(package))
    assert code == 0, output
    assert "pyproject.toml" in output and "next:" in output
    written = {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()}
    assert written == {"pyproject.toml", "README.md", "nnbench_demo/__init__.py", "tests/test_demo.py"}
    test_source = (package / "tests" / "test_demo.py").read_text()
    assert "from nnbench.testing import assert_architecture_conforms" in test_source

    pip_install_target(package, site)
    result = run_module(
        "pytest",
        str(package / "tests"),
        "-q",
        "-p",
        "no:cacheprovider",
        env={"PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout

    listed = run_cli("list", "architectures", "--json", env={"PYTHONPATH": str(site)})
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["demo"]["plugin"] == "demo (nnbench_demo)"


def test_pyproject_declares_the_entry_point_and_the_dependency(tmp_path):
    tomllib = pytest.importorskip("tomllib")
    write_plugin_package("my-arch.v2", tmp_path / "p")
    project = tomllib.loads((tmp_path / "p" / "pyproject.toml").read_text())
    assert project["project"]["name"] == "nnbench-my-arch.v2"
    assert project["project"]["dependencies"] == ["nnbench"]
    assert project["project"]["entry-points"]["nnbench"] == {"my-arch.v2": "nnbench_my_arch_v2"}
    assert project["tool"]["setuptools"]["packages"] == ["nnbench_my_arch_v2"]


def test_a_name_that_is_not_an_identifier_still_gives_a_working_module(tmp_path):
    """The module of ``my-arch.v2`` imports, registers ``my-arch.v2`` and its Config is strict."""
    from nnbench import plugins, registry

    write_plugin_package("my-arch.v2", tmp_path / "p")
    assert plugins.load_plugin_file(tmp_path / "p" / "nnbench_my_arch_v2" / "__init__.py")
    architecture = registry.get_architecture("my-arch.v2")
    assert type(architecture).__name__ == "MyArchV2"
    assert set(architecture.Config().model_dump()) == {"width", "depth", "dropout"}


@pytest.mark.parametrize(
    "name, module, class_name",
    [
        ("demo", "nnbench_demo", "Demo"),
        ("gated-mlp", "nnbench_gated_mlp", "GatedMlp"),
        ("3d.net", "nnbench_3d_net", "Arch3dNet"),
    ],
)
def test_plugin_names(name, module, class_name):
    names = plugin_names(name)
    assert (names.module, names.class_name, names.project) == (module, class_name, f"nnbench-{name}")
    assert names.module.isidentifier() and names.class_name.isidentifier()


def test_new_plugin_refuses_a_folder_that_is_not_empty(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    code, output = new_plugin("demo", "--dir", str(target))
    assert code == 2
    assert "folder is not empty" in output and output.count("\n") == 1 and "Traceback" not in output
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "mine"


def test_new_plugin_writes_into_an_empty_folder_and_defaults_to_nnbench_name(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    code, output = new_plugin("demo", "--dir", str(tmp_path / "empty"), cwd=tmp_path)
    assert code == 0, output
    assert (tmp_path / "empty" / "nnbench_demo" / "__init__.py").is_file()
    monkeypatch.chdir(tmp_path)
    code, output = new_plugin("other", cwd=tmp_path)
    assert code == 0, output
    assert (tmp_path / "nnbench-other" / "pyproject.toml").is_file()


@pytest.mark.parametrize("name", ["Demo", "my arch", "_x", ""])
def test_new_plugin_refuses_a_name_the_registry_would_refuse(tmp_path, name):
    code, output = new_plugin(name, "--dir", str(tmp_path / "x"))
    assert code == 2
    assert "plugin name" in output and output.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_the_generated_package_is_lint_and_format_clean(tmp_path):
    """Clean under ruff's defaults (not nnbench's settings): the author's project starts clean."""
    pytest.importorskip("ruff")
    write_plugin_package("gated-mlp.v2", tmp_path / "p")
    rules = ["--isolated", "--select", "E,F,W,I,B,UP,SIM"]
    for args in (["check", *rules], ["format", "--isolated", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "."], capture_output=True, text=True, cwd=tmp_path / "p"
        )
        assert result.returncode == 0, result.stdout + result.stderr
