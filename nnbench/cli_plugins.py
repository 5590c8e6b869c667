"""The commands for plugin authors: ``nnbench check`` and ``nnbench new-plugin``.

``nnbench.cli`` registers them with ``cli.add_command``. Only click is imported here at module level,
so ``nnbench --help`` stays fast; bad input raises :class:`nnbench.errors.NnbenchError`, which the
group prints as one line with exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nnbench.cli_options import debug_option


@click.command()
@click.argument("architecture")
@click.option(
    "--plugin",
    "plugin_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Load a plugin file first (repeatable).",
)
@click.option(
    "--task",
    "tasks",
    multiple=True,
    help="Check on this task only (repeatable). Default: every smoke and quick task it can take.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@debug_option
def check(architecture, plugin_files, tasks, as_json) -> None:
    """Check that an architecture keeps the plugin contract, on tiny versions of the tasks.

    Checks: its Config has defaults and rejects unknown keys; per task, build
    returns a module whose outputs (or samples) have the task's shape and are
    finite; a few steps lower the loss (or a short trial ends ok); the same seed
    gives the same result; on a causal task, outputs up to position t ignore the
    inputs after t. Seconds on a CPU.

    \b
    Example:
      nnbench check gmlp --plugin my_gmlp.py
      nnbench check mlp --task digits --json
    Exit status: 0 when every check passed, 1 when one failed, 2 for bad input.
    """
    from nnbench.testing import check_architecture, results_to_json

    results = check_architecture(architecture, tasks=tasks or None, plugin_files=plugin_files)
    failed = [r for r in results if not r.passed]
    if as_json:
        click.echo(results_to_json(results))
    else:
        from nnbench.tables import print_table

        print_table(
            f"nnbench check {architecture}",
            ("task", "check", "result", "detail"),
            [(r.task, r.check, "ok" if r.passed else "FAIL", r.detail) for r in results],
            styles={"result": {"ok": "green", "FAIL": "bold red"}},
        )
        verdict = (
            f"{len(failed)} of {len(results)} checks failed"
            if failed
            else f"all {len(results)} checks passed"
        )
        click.echo(f"{architecture}: {verdict}")
    if failed:
        sys.exit(1)


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder to write the package into (new or empty). Default: ./nnbench-NAME.",
)
@debug_option
def new_plugin(name, directory) -> None:
    """Write a pip-installable architecture plugin package that passes `nnbench check`.

    NAME is the architecture's name in suites. The package holds a pyproject.toml
    with the nnbench entry point, a small residual MLP to start from, a test that
    runs the conformance kit, and a README.

    \b
    Example:
      nnbench new-plugin gmlp --dir nnbench-gmlp
      cd nnbench-gmlp && pip install -e ".[test]" && pytest
    """
    from nnbench.scaffold import plugin_names, write_plugin_package

    target = directory if directory is not None else Path(plugin_names(name).project)
    written = write_plugin_package(name, target)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f'next: cd {target} && pip install -e ".[test]" && pytest && nnbench check {name}')


COMMANDS = (check, new_plugin)
