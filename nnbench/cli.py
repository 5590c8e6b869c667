"""The ``nnbench`` command: run suites, list what is installed, write reports.

Only click is imported at module level: ``nnbench --help`` never imports torch.
Errors are one line and a non-zero exit (2 for bad input); ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from nnbench.cli_options import DEBUG, db_option, debug_option, plugin_option
from nnbench.errors import DataError, NnbenchError


class Group(click.Group):
    """A click group that turns nnbench errors into ``error:`` lines (one per error) and a non-zero exit."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NnbenchError as exc:
            if DEBUG["on"]:
                raise
            for line in str(exc).splitlines() or [""]:  # a suite's errors: one line each
                click.echo(f"error: {line}", err=True)
            sys.exit(2)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            if DEBUG["on"]:
                raise
            click.echo(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
            sys.exit(1)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nnbench")
@debug_option
def cli() -> None:
    """Compare neural-network architectures honestly: same tasks, same budget, error bars.

    \b
    Example:
      nnbench run suites/smoke.yaml          # train every architecture on every task
      nnbench report -o report.html          # a self-contained HTML page of the results
      nnbench list architectures             # what is installed
    """


def _load_plugin_files(plugin_files) -> None:
    from nnbench import plugins

    for path in plugin_files:
        if not Path(path).is_file():
            raise NnbenchError(f"--plugin {path}: no such file")
        plugins.load_plugin_file(path)


def _warn_plugin_failures() -> None:
    from nnbench import plugins

    for failure in plugins.failures:
        click.echo(f"warning: plugin {failure.plugin} failed: {failure.error}", err=True)


# -- run ---------------------------------------------------------------------------------------
@cli.command()
@click.argument("suite", type=click.Path(path_type=Path))
@db_option
@plugin_option
@click.option(
    "--executor",
    type=click.Choice(["inline", "process", "ray"]),
    default=None,
    help="Override the suite's executor.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Trials at once (process executor)."
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default=None,
    help="Override the suite's device.",
)
@click.option("--address", default=None, help="Ray cluster address (HOST:PORT or auto) for --executor ray.")
@click.option(
    "--dry-run", is_flag=True, help="Print the expanded matrix and what the store holds; train nothing."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option(
    "--track",
    type=click.Choice(["mlflow", "tensorboard", "wandb"]),
    multiple=True,
    help='Also log to an experiment tracker (repeatable; needs pip install "nnbench[NAME]").',
)
@debug_option
def run(suite, db, plugin_files, executor, workers, device, address, dry_run, quiet, track) -> None:
    """Run a suite: train every architecture on every compatible task, resuming where it stopped.

    \b
    Example:
      nnbench run suites/smoke.yaml --db results.db
      nnbench run suites/smoke.yaml --track mlflow --track tensorboard
    Exit status: 0 when every trial is ok, diverged or n/a; 1 when a trial failed
    (error, timeout, oom, crashed) or a plugin it needs did not load; 2 for bad input; 130 on Ctrl-C.
    """
    from nnbench.run_messages import end_lines, start_line
    from nnbench.runner import run_suite

    summary = run_suite(
        suite,
        db=db,
        executor=executor,
        workers=workers,
        device=device,
        address=address,
        plugin_files=tuple(str(p) for p in plugin_files),
        dry_run=dry_run,
        quiet=quiet,
        on_plan=None if dry_run else lambda planned: click.echo(start_line(planned)),
        track=track,
    )
    _warn_plugin_failures()
    for entry in summary.unavailable:
        click.echo(f"skipped: {entry}", err=True)
    if dry_run:
        _print_plan(summary)
        return
    for line in end_lines(summary, db_given=db is not None):
        click.echo(line, err=line.startswith("interrupted"))
    sys.exit(summary.exit_code)


def _print_plan(summary) -> None:
    from nnbench.tables import print_table

    to_run = {p.spec.trial_id for p in summary.to_run}
    extra = {p.spec.trial_id for p in summary.extra}
    rows = []
    for planned in summary.planned:
        spec = planned.spec
        if planned.not_applicable:
            if planned.extra:
                continue  # n/a on every seed: its first seeds say so
            state = f"n/a: {planned.not_applicable}"
        elif spec.trial_id in extra:
            state = "if undecided"  # adaptive seeds: runs only while its task's verdict asks for it
        else:
            state = "to run" if spec.trial_id in to_run else "in store"
        rows.append((planned.arch_label, spec.task, spec.seed, spec.trial_id, state))
    for study in summary.studies:
        plan = study.plan
        seeds = ", ".join(str(s) for s in plan.seeds)
        state = (
            f"tune: {study.tuned} of {plan.tune.trials} in store, {study.to_tune} to run; then the re-runs"
        )
        rows.append(
            (plan.arch_label, plan.task, f"tune {plan.tune_seed}; final {seeds}", plan.study_id, state)
        )
    print_table(f"{len(summary.planned)} trials", ("architecture", "task", "seed", "trial id", "state"), rows)
    tuning = sum(s.to_tune for s in summary.studies)
    studies = (
        f", {len(summary.studies)} tuning studies ({tuning} tuning trials to run, then re-runs)"
        if summary.studies
        else ""
    )
    if summary.looks is not None:
        looks = summary.looks
        click.echo(
            f"adaptive seeds {looks.min_seeds} to {looks.max_seeds}: {summary.jobs} to run at least, "
            f"{summary.jobs_max} at most (every task undecided to {looks.max_seeds} seeds), "
            f"{summary.already_done} already in the store, {summary.not_applicable} n/a{studies}"
        )
        return
    click.echo(
        f"{len(summary.to_run)} to run, {summary.already_done} already in the store, {summary.not_applicable} n/a{studies}"
    )


# -- list and plugins ----------------------------------------------------------------------------
@cli.command("list")
@click.argument("what", type=click.Choice(["architectures", "tasks"]))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@plugin_option
@debug_option
def list_(what, as_json, plugin_files) -> None:
    """List the installed architectures or tasks."""
    from nnbench import registry, space

    _load_plugin_files(plugin_files)
    reg = registry.get_registry()
    rows = []
    if what == "architectures":
        for name, arch in sorted(reg.architectures.items()):
            rows.append(
                {
                    "name": name,
                    "modalities": sorted(arch.modalities),
                    "kinds": sorted(arch.kinds),
                    "plugin": reg.owners[("architecture", name)],
                    "description": (type(arch).__doc__ or "").strip().splitlines()[0:1],
                    "sizes": {size: dict(options) for size, options in arch.sizes.items()},
                    "search_space": {key: space.describe(p) for key, p in arch.search_space.items()},
                }
            )
    else:
        for name, task_cls in sorted(reg.tasks.items()):
            row = {"name": name, "version": task_cls.version, "tier": task_cls.tier}
            required = [k for k, f in task_cls.Config.model_fields.items() if f.is_required()]
            if required:  # a local dataset: its shapes depend on the files it is pointed at
                row.update(modality=None, kind=None, metric=None, higher_is_better=None, target=None)
                row["needs"] = required
            else:
                task = task_cls()
                try:
                    spec, metric = task.spec(), task.metric()
                except DataError:  # a public dataset not fetched yet: `nnbench data fetch NAME`
                    spec = metric = None
                    row.update(needs=["data_dir"], fetch=f"nnbench data fetch {name}")
                row.update(
                    modality=spec and spec.modality,
                    kind=spec and spec.kind,
                    metric=metric and metric.name,
                    higher_is_better=metric and metric.higher_is_better,
                    target=metric and metric.target,
                )
            row.update(plugin=reg.owners[("task", name)], description=task_cls.description)
            rows.append(row)
    for row in rows:
        if isinstance(row.get("description"), list):
            row["description"] = row["description"][0] if row["description"] else ""
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        from nnbench.tables import print_table

        columns = (
            ["name", "modalities", "kinds", "sizes", "plugin"]
            if what == "architectures"
            else ["name", "tier", "modality", "kind", "metric", "target"]
        )
        for row in rows:
            if row.get("needs"):
                row["modality"] = "needs " + ", ".join(f"{k}:" for k in row["needs"])
                if row.get("fetch"):
                    row["modality"] += f" or {row['fetch']}"
            if "sizes" in row:
                row["sizes"] = list(row["sizes"])
        print_table(what, columns, [[row[c] for c in columns] for row in rows])
    _warn_plugin_failures()


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@plugin_option
@debug_option
def plugins_(as_json, plugin_files) -> None:
    """List loaded plugins with their hooks, and plugins that failed with their errors."""
    from nnbench import plugins, registry

    _load_plugin_files(plugin_files)
    registry.get_registry()  # registration errors are plugin failures too
    rows = plugins.plugin_listing()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from nnbench.tables import print_table

    print_table(
        "plugins",
        ("name", "hooks", "status"),
        [(row["name"], row["hooks"], f"FAILED: {row['error']}" if row["error"] else "ok") for row in rows],
    )


# -- report --------------------------------------------------------------------------------------
@cli.command()
@db_option
@click.option(
    "--run", "run_id", default=None, help="Only this run's trials (default: every trial in the store)."
)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), default=Path("report.html"), show_default=True
)
@click.option("--title", default=None, help="Page title (default: the suite's name).")
@click.option(
    "--benchmarks",
    type=click.Path(path_type=Path),
    default=None,
    help="pytest-benchmark JSON (pytest --benchmark-json=FILE): adds a micro-benchmark section.",
)
@debug_option
def report(db, run_id, output, title, benchmarks) -> None:
    """Write a self-contained HTML report of the results store.

    \b
    Example:
      nnbench report --db nnbench.db -o report.html
    """
    from nnbench.report.from_store import build_report

    path = build_report(db=db, run_id=run_id, output=output, title=title, benchmarks=benchmarks)
    path = Path(path).resolve()
    click.echo(f"wrote {path}")
    click.echo(f"open it in a browser: {path.as_uri()}")


# compare, publish and export live in their own module (it imports only click at load time).
from nnbench.cli_report import compare, export, publish  # noqa: E402

cli.add_command(compare)
cli.add_command(publish)
cli.add_command(export)

# verdict (and its regression gate) lives in its own module too.
from nnbench.cli_verdict import verdict  # noqa: E402

cli.add_command(verdict)

# check and new-plugin, the commands for plugin authors, live in their own module too.
from nnbench.cli_plugins import check, new_plugin  # noqa: E402

cli.add_command(check)
cli.add_command(new_plugin)


# data (list, fetch): the public datasets, in their own module.
from nnbench.cli_data import data  # noqa: E402

cli.add_command(data)


def main() -> None:
    """Entry point of the console script."""
    cli(prog_name="nnbench")


if __name__ == "__main__":
    main()
