"""Suite files: validation errors name the file, line and key; the matrix expands as documented."""

from __future__ import annotations

import pytest

from nnbench import config
from nnbench.errors import ConfigError

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
        suite = config.load_suite(path)
        config.expand(suite, "cpu")
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
            "architectures.0.widht: unknown key (architecture mlp)",
        ),
        (GOOD.replace("[mlp]", "[{name: mlp, width: wide}]"), 5, "architectures.0.width"),
        (GOOD + "training: {lr: .nan}\n", 6, "training.lr"),
        (GOOD + "training: {optimizer: lbfgs}\n", 6, "training.optimizer"),
        (GOOD.replace("[mlp]", "[{name: mlp, training: {lr: -1}}]"), 5, "architectures.0.training.lr"),
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
        config.load_suite(tmp_path / "nope.yaml")


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
    matrix = config.expand(config.load_suite(path), "cpu")
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
    ids_a = [t.spec.trial_id for t in config.expand(config.load_suite(first), "cpu").trials]
    ids_b = [t.spec.trial_id for t in config.expand(config.load_suite(second), "cpu").trials]
    assert ids_a == ids_b
    # ... and the defaults are part of the id: spelling out a default changes nothing.
    third = write_suite(
        "name: c\nseeds: [0]\nbudget: {steps: 5}\ntasks: [digits]\n"
        "architectures: [{name: mlp, width: 32, depth: 1, dropout: 0.0}]\ntraining: {lr: 0.01, batch_size: 32}\n",
        "c.yaml",
    )
    assert [t.spec.trial_id for t in config.expand(config.load_suite(third), "cpu").trials] == ids_a


def test_per_architecture_training_overrides(write_suite):
    path = write_suite(GOOD.replace("[mlp]", "[mlp, {name: mlp, width: 8, training: {lr: 0.1}}]"))
    trials = config.expand(config.load_suite(path), "cpu").trials
    lrs = sorted({t.spec.training.lr for t in trials})
    assert lrs == [0.001, 0.1]


def test_durations():
    assert config.parse_duration("30s") == 30
    assert config.parse_duration("1.5m") == 90
    assert config.parse_duration("2h") == 7200
    for bad in ("30", 30, "s", "-1s", "0s", True, "1d"):
        with pytest.raises(ValueError):
            config.parse_duration(bad)


def test_defaults_are_validated_too(write_suite):
    suite = config.load_suite(write_suite(GOOD))
    assert suite.model.executor.timeout == 600.0  # "10m", parsed like a value from the file


@pytest.mark.parametrize("path", sorted((REPO / "suites").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_suite_is_valid(path, fetched_datasets):  # mnist.yaml, cifar10.yaml read the cache
    matrix = config.expand(config.load_suite(path), "cpu")
    assert matrix.trials or matrix.studies
    assert not matrix.unavailable
