"""Shared fixtures: a fresh plugin manager per test, a store in a temporary folder, tiny suites."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_PLUGINS = Path(__file__).resolve().parent / "plugins"

# Trials in tests use one thread: two test processes may share the machine's two cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch):
    """Each test starts with no plugin loaded and no failure recorded, and no strict/trace mode."""
    from nnbench import plugins

    monkeypatch.delenv("NNBENCH_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("NNBENCH_TRACE_PLUGINS", raising=False)
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture
def group():
    """The ``nnbench`` click group, for invoking commands in-process with click's CliRunner."""
    from nnbench.cli import cli

    return cli


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    """A results store path in a temporary folder (also set as NNBENCH_DB)."""
    path = tmp_path / "results.db"
    monkeypatch.setenv("NNBENCH_DB", str(path))
    return path


@pytest.fixture
def write_suite(tmp_path):
    """Write a suite file from YAML text (dedented) and return its path."""

    def write(text: str, name: str = "suite.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300):
    """Run ``python -m nnbench ARGS`` in a subprocess, as a user would; return the CompletedProcess."""
    return run_module("nnbench", *args, env=env, cwd=cwd, timeout=timeout)


def run_module(
    module: str, *args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300
):
    """Run ``python -m MODULE ARGS`` in a subprocess with ``env`` added to this one's; return the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


def pip_install_target(package: Path, site: Path) -> None:
    """Install a package folder with pip into ``site`` (no dependencies): a real install, no venv touched."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(package),
        ],
        check=True,
        capture_output=True,
    )
