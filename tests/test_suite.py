"""Suite files: validation errors name the file, line and key; the matrix expands as documented."""

from __future__ import annotations

import pytest

from nnbench.errors import MAX_ERRORS_SHOWN, ConfigError
from nnbench.plan import expand
from nnbench.suite import load_suite, parse_duration

from .conftest import REPO

GOOD = """
name: t
seeds: [0, 1]
budget: {steps: 5}
tasks: [tabular-real]
architectures: [mlp]
"""


def error_of(write_suite, text: str) -> str:
    path = write_suite(text)
    with pytest.raises(ConfigError) as info:
        suite = load_suite(path)
        expand(suite, "cpu")
    message = str(info.value)
    assert "\n" not in message, "an error is one line"
    assert message.startswith(str(path)), message
    return message


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (GOOD + "colour: red\n", 6, "colour: unknown key"),
        (GOOD.replace("steps: 5", "steps: five"), 3, "budget.steps"),
        (GOOD.replace("steps: 5", "steps: -3"), 3, "greater than 0"),
        (GOOD.replace("{steps: 5}", "{time: 30}"), 3, "with a unit"),
        (GOOD.replace("{steps: 5}", "{}"), 3, "give steps, time or both"),
        (GOOD.replace("[0, 1]", "[]"), 2, "seeds"),
        (GOOD.replace("[mlp]", "[mpl]"), 5, "did you mean 'mlp'"),
        (GOOD.replace("[tabular-real]", "[tabular-reel]"), 4, "did you mean 'tabular-real'"),
        (
            GOOD.replace("[mlp]", "[{name: mlp, widht: 3}]"),
            5,
            "architectures.0.widht: unknown key; did you mean 'width'? (architecture mlp)",
        ),
        (GOOD.replace("[mlp]", "[{name: mlp, width: wide}]"), 5, "architectures.0.width"),
        (GOOD + "training: {lr: .nan}\n", 6, "training.lr"),
        (GOOD + "training: {optimizer: lbfgs}\n", 6, "training.optimizer"),
        (GOOD.replace("[mlp]", "[{name: mlp, training: {lr: -1}}]"), 5, "architectures.0.training.lr"),
        (
            GOOD.replace("[mlp]", "[{name: mlp, training: 5}]"),
            5,
            "architectures.0.training: expected a mapping",
        ),
        (
            GOOD.replace("[mlp]", "[{name: mlp, search_space: 5}]"),
            5,
            "architectures.0.search_space: expected",
        ),
        (GOOD + "executor: {timeout: 10}\n", 6, "executor.timeout"),
        ("name: t\nbudget: {steps: 5\ntasks: [digits]\n", 3, "invalid YAML"),
    ],
)
def test_bad_suites_name_the_place(write_suite, text, line, expected):
    message = error_of(write_suite, text)
    assert f":{line}:" in message, message
    assert expected in message, message


def test_a_suite_that_is_not_a_mapping(write_suite):
    assert "a suite is a mapping" in error_of(write_suite, "- just\n- a list\n")


def test_missing_suite_file(tmp_path):
    with pytest.raises(ConfigError, match="no such suite file"):
        load_suite(tmp_path / "nope.yaml")


def test_grid_expands_lists_and_skips_incompatible_pairs(write_suite):
    path = write_suite(
        """
        name: grid
        seeds: [0, 1, 2]
        budget: {steps: 5, time: 1m}
        tasks: [tabular-real, toy2d]
        architectures: [{name: mlp, width: [8, 16], depth: [1, 2]}, cnn]
        """
    )
    matrix = expand(load_suite(path), "cpu")
    assert len(matrix.trials) == (4 + 1) * 2 * 3
    runnable = [t for t in matrix.trials if t.not_applicable is None]
    assert len(runnable) == 4 * 3  # mlp grid on tabular-real; cnn takes neither task; nothing generates toy2d
    assert {t.spec.arch_config["width"] for t in runnable} == {8, 16}
    assert all(t.spec.budget.seconds == 60.0 for t in matrix.trials)
    assert "mlp depth=1 width=8" in {t.arch_label for t in runnable} or "mlp width=8 depth=1" in {
        t.arch_label for t in runnable
    }


def test_trial_ids_do_not_depend_on_order_in_the_file(write_suite):
    first = write_suite(
        "name: a\nseeds: [0]\nbudget: {steps: 5}\ntasks: [digits]\n"
        "architectures: [{name: mlp, width: 32, depth: 1}]\ntraining: {lr: 0.01, batch_size: 32}\n",
        "a.yaml",
    )
    second = write_suite(
        "training: {batch_size: 32, lr: 1e-2}\narchitectures: [{depth: 1, name: mlp, width: 32}]\n"
        "tasks: [digits]\nbudget: {steps: 5}\nseeds: [0]\nname: b\n",
        "b.yaml",
    )
    ids_a = [t.spec.trial_id for t in expand(load_suite(first), "cpu").trials]
    ids_b = [t.spec.trial_id for t in expand(load_suite(second), "cpu").trials]
    assert ids_a == ids_b
    # ... and the defaults are part of the id: spelling out a default changes nothing.
    third = write_suite(
        "name: c\nseeds: [0]\nbudget: {steps: 5}\ntasks: [digits]\n"
        "architectures: [{name: mlp, width: 32, depth: 1, dropout: 0.0}]\ntraining: {lr: 0.01, batch_size: 32}\n",
        "c.yaml",
    )
    assert [t.spec.trial_id for t in expand(load_suite(third), "cpu").trials] == ids_a


def test_per_architecture_training_overrides(write_suite):
    path = write_suite(GOOD.replace("[mlp]", "[mlp, {name: mlp, width: 8, training: {lr: 0.1}}]"))
    trials = expand(load_suite(path), "cpu").trials
    lrs = sorted({t.spec.training.lr for t in trials})
    assert lrs == [0.001, 0.1]


def test_durations():
    assert parse_duration("30s") == 30
    assert parse_duration("1.5m") == 90
    assert parse_duration("2h") == 7200
    for bad in ("30", 30, "s", "-1s", "0s", True, "1d"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_defaults_are_validated_too(write_suite):
    suite = load_suite(write_suite(GOOD))
    assert suite.model.executor.timeout == 600.0  # "10m", parsed like a value from the file


@pytest.mark.parametrize("path", sorted((REPO / "suites").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_suite_is_valid(path, fetched_datasets):  # mnist.yaml, cifar10.yaml read the cache
    matrix = expand(load_suite(path), "cpu")
    assert matrix.trials or matrix.tuned
    assert not matrix.unavailable


# -- every error at once -------------------------------------------------------------------------
def errors_of(write_suite, text: str) -> list[str]:
    """Every error line a suite gets (schema errors, or else the errors of its entries)."""
    path = write_suite(text)
    with pytest.raises(ConfigError) as info:
        expand(load_suite(path), "cpu")
    lines = str(info.value).splitlines()
    assert lines[:MAX_ERRORS_SHOWN] == info.value.errors[:MAX_ERRORS_SHOWN]
    return [line.removeprefix(f"{path}:") for line in lines]


def test_a_misspelt_required_key_is_named_with_what_was_meant(write_suite):
    errors = errors_of(write_suite, "name: t\nbudget: {steps: 5}\ntaskz: [digits]\narchitectures: [mlp]\n")
    assert errors == ["1: tasks: required key is missing", "3: taskz: unknown key; did you mean 'tasks'?"]


def test_unknown_keys_suggest_the_key_meant_at_every_level(write_suite):
    errors = errors_of(
        write_suite,
        """
        name: t
        seed: [0, 1]
        budget: {steps: 5, tiem: 3s}
        training: {learning_rate: 0.1}
        executor: {kind: process, worker: 2}
        tune: {trials: 2, sampler: tpe, seeed: 3}
        tasks: [digits]
        architectures: [mlp]
        bogus: 1
        """,
    )
    assert errors == [
        "2: seed: unknown key; did you mean 'seeds'?",
        "3: budget.tiem: unknown key; did you mean 'time'?",
        "4: training.learning_rate: unknown key; did you mean 'lr'?",
        "5: executor.worker: unknown key; did you mean 'workers'?",
        "6: tune.seeed: unknown key; did you mean 'seed'?",
        "9: bogus: unknown key (expected one of: architectures, budget, cost, description, device, executor, "
        "inference_lengths, name, plugins, seeds, tasks, threads, track, training, tune)",
    ]


def test_every_entry_error_is_reported_on_its_own_line(write_suite):
    from nnbench.registry import get_registry

    registry = get_registry()
    assert "mlp" in registry.architectures and "cnn" in registry.architectures
    errors = errors_of(
        write_suite,
        """
        name: t
        budget: {steps: 5}
        tasks:
          - digits
          - {name: tabular-real, n_trian: 5}
          - {name: digits, tune: {trails: 3}}
        architectures:
          - resnet
          - {name: mlp, widht: 3}
          - {name: mlp, training: {learning_rate: 1}}
          - {name: cnn, size: hueg}
          - {name: mlp, depth: [1, 2], dropot: 0.1}
        """,
    )
    assert errors == [
        "5: tasks.1.n_trian: unknown key (expected one of: dataset, margin, name, tune) (task tabular-real)",
        "6: tasks.2.tune.trials: required key is missing",
        "6: tasks.2.tune.trails: unknown key; did you mean 'trials'?",
        f"8: architectures.0: unknown architecture 'resnet'; known: {', '.join(sorted(registry.architectures))}",
        "9: architectures.1.widht: unknown key; did you mean 'width'? (architecture mlp)",
        "10: architectures.2.training.learning_rate: unknown key; did you mean 'lr'?",
        "11: architectures.3.size: cnn has no size 'hueg' (its sizes: xs, s, m, l)",
        # once, though the grid makes two configurations of the entry
        "12: architectures.4.dropot: unknown key; did you mean 'dropout'? (architecture mlp)",
    ]


def test_a_missing_data_folder_names_the_suite_line_and_the_absolute_path(write_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a task's data_dir is relative to the working directory
    errors = errors_of(
        write_suite,
        """
        name: t
        budget: {steps: 5}
        tasks:
          - {name: mnist, data_dir: data/mnist}
          - {name: csv, path: tables/missing.csv, target: y}
        architectures: [mlp]
        """,
    )
    assert len(errors) == 2, errors
    assert errors[0].startswith(f"4: tasks.0.data_dir: {tmp_path / 'data' / 'mnist'}: no such folder"), errors
    assert errors[1].startswith(f"5: tasks.1.path: {tmp_path / 'tables' / 'missing.csv'}: no such file"), (
        errors
    )


def test_many_errors_are_capped(write_suite):
    keys = "".join(f"bogus{i}: 1\n" for i in range(MAX_ERRORS_SHOWN + 5))
    errors = errors_of(write_suite, GOOD + keys)
    assert len(errors) == MAX_ERRORS_SHOWN + 1
    assert errors[-1] == "... and 5 more errors"


def test_the_cli_prints_every_error_of_a_suite_and_exits_2(write_suite):
    from .conftest import run_cli

    path = write_suite(
        """
        name: t
        seed: [0]
        budget: {steps: 5}
        taskz: [digits]
        architectures: [mlp]
        """
    )
    result = run_cli("run", str(path), "--dry-run", "--db", str(path.parent / "r.db"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {path}:1: tasks: required key is missing",
        f"error: {path}:2: seed: unknown key; did you mean 'seeds'?",
        f"error: {path}:4: taskz: unknown key; did you mean 'tasks'?",
    ]
    assert "Traceback" not in result.stdout + result.stderr
