"""The conformance kit (nnbench.testing): every built-in passes it, and planted faults fail it by name."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from nnbench.errors import NnbenchError
from nnbench.testing import (
    ARCHITECTURE_WIDE,
    CHECKS,
    CheckResult,
    assert_architecture_conforms,
    check_architecture,
    tiny_task_config,
)

from .conftest import TEST_PLUGINS, run_cli, run_module

DIRECT_CHECKS = {"build", "output-shape", "finite-outputs", "trains", "same-seed-same-result"}
GENERATIVE_CHECKS = {
    "build",
    "sample-shape",
    "finite-outputs",
    "trains",
    "same-seed-same-result",
    "training-contract",
}
# the built-ins with training of their own (a step or the train() escape hatch): checked through trials
OWN_TRAINING = {"gan", "diffusion", "gbdt"}


def failed(results: list[CheckResult]) -> dict[tuple[str, str], str]:
    """(task, check) -> detail of every failed check."""
    return {(r.task, r.check): r.detail for r in results if not r.passed}


def checks_by_task(results: list[CheckResult]) -> dict[str, set[str]]:
    """task -> the names of the checks run on it."""
    table: dict[str, set[str]] = {}
    for r in results:
        table.setdefault(r.task, set()).add(r.check)
    return table


# -- every built-in conforms -------------------------------------------------------------------------
BUILTINS = {
    # architecture: tasks it must at least have been checked on
    "mlp": {"digits", "tabular-real", "running-parity", "mnist1d", "mqar"},
    "cnn": {"digits", "digits-shifted", "mnist1d"},
    "rnn": {"digits", "running-parity", "mqar"},
    "transformer": {"digits", "tabular-real", "running-parity", "mqar"},
    "ssm": {"running-parity", "mnist1d", "mnist1d-shuffled", "mqar"},
    "linear-attention": {"running-parity", "mnist1d", "mnist1d-shuffled", "mqar"},
    "hyena": {"running-parity", "mnist1d", "mnist1d-shuffled", "mqar"},
    "gan": {"toy2d", "digits-gen"},
    "diffusion": {"toy2d", "digits-gen"},
    "gbdt": {"tabular-real", "tabular"},
}
SLOW_BUILTINS = {"mlp", "cnn", "rnn", "transformer", "gan", "diffusion", "ssm", "linear-attention", "hyena"}
CAUSAL_TASKS = {"running-parity", "mqar"}  # the built-in tasks whose TaskSpec is causal


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_BUILTINS else name for name in BUILTINS],
)
def test_every_builtin_architecture_conforms(name):
    results = assert_architecture_conforms(name)
    by_task = checks_by_task(results)
    assert by_task[ARCHITECTURE_WIDE] == {"config-defaults", "config-forbids-unknown"}
    assert BUILTINS[name] <= set(by_task), f"{name} was not checked on {BUILTINS[name] - set(by_task)}"
    generative = name in ("gan", "diffusion")
    for task, checks in by_task.items():
        if task != ARCHITECTURE_WIDE:
            expected = GENERATIVE_CHECKS if generative else DIRECT_CHECKS
            expected = expected | ({"training-contract"} if name in OWN_TRAINING else set())
            assert checks == expected | ({"causal"} if task in CAUSAL_TASKS else set()), (task, checks)
    assert {r.architecture for r in results} == {name}
    assert "listops" not in by_task  # long tasks only when named
    assert all(r.check in CHECKS for r in results)


def test_one_task_only_and_the_results_say_what_was_measured():
    results = check_architecture("mlp", tasks=["digits"])
    assert [(r.task, r.check) for r in results] == [
        ("-", "config-defaults"),
        ("-", "config-forbids-unknown"),
        ("digits", "build"),
        ("digits", "output-shape"),
        ("digits", "finite-outputs"),
        ("digits", "trains"),
        ("digits", "same-seed-same-result"),
    ]
    assert all(r.passed for r in results)
    detail = {r.check: r.detail for r in results}
    assert "(32, 1, 8, 8) -> (32, 10)" in detail["output-shape"]
    assert "Adam steps" in detail["trains"] and "->" in detail["trains"]
    assert json.loads(json.dumps([r.to_dict() for r in results]))[0]["architecture"] == "mlp"


def test_the_check_leaves_the_callers_random_state_and_threads_alone():
    import torch

    torch.manual_seed(123)
    threads = torch.get_num_threads()
    state = torch.get_rng_state()
    check_architecture("gbdt", tasks=["tabular-real"])
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads


def test_tiny_task_configs_lower_size_options_only():
    from nnbench import registry

    assert tiny_task_config(registry.get_task("toy2d")) == {"n_train": 256, "n_val": 128, "n_test": 128}
    assert tiny_task_config(registry.get_task("tabular")) == {"n_samples": 400}
    assert tiny_task_config(registry.get_task("digits")) == {}


# -- planted faults fail the check that catches them ----------------------------------------------------
BROKEN = '''
"""Architectures that each break one rule of the contract."""

import itertools

import pydantic
import torch
from torch import nn

import nnbench
from nnbench import hookimpl


def linear(task, extra_outputs=0):
    features = 1
    for size in task.input_shape:
        features *= size
    return nn.Sequential(nn.Flatten(), nn.Linear(features, task.output_shape[0] + extra_outputs))


class Flat(nnbench.Architecture):
    """A linear classifier: correct, the base of the broken ones."""

    name = "flat"
    modalities = {"tabular", "image"}
    kinds = {"classification"}

    class Config(nnbench.Config):
        bias: bool = True

    def build(self, task, config):
        return linear(task)


class WrongShape(Flat):
    name = "wrong-shape"

    def build(self, task, config):
        return linear(task, extra_outputs=1)  # one class too many


class NaNOut(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) * float("nan")


class NonFinite(Flat):
    name = "non-finite"

    def build(self, task, config):
        return NaNOut(linear(task))


class LaxConfig(Flat):
    name = "lax-config"

    class Config(pydantic.BaseModel):  # not nnbench.Config: unknown keys pass silently
        bias: bool = True


class NoDefaults(Flat):
    name = "no-defaults"

    class Config(nnbench.Config):
        width: int  # no default: a suite must always give it


class Constant(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(classes))
        self.classes = classes

    def forward(self, x):
        return torch.zeros(len(x), self.classes) + 0.0 * self.unused.sum()


class CannotLearn(Flat):
    name = "cannot-learn"

    def build(self, task, config):
        return Constant(task.output_shape[0])


_builds = itertools.count()


class Unseeded(Flat):
    name = "unseeded"

    def build(self, task, config):
        model = linear(task)
        generator = torch.Generator().manual_seed(next(_builds))  # global state, not the seed
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=generator))
        return model


class BadSampler(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(dim))

    def sample(self, n):
        points = self.mean + torch.randn(n, self.mean.shape[0])
        return torch.cat([points, torch.zeros(n, 1)], dim=1)  # one coordinate too many


class WrongSamples(nnbench.Architecture):
    name = "wrong-samples"
    modalities = {"points"}
    kinds = {"generation"}

    def build(self, task, config):
        return BadSampler(task.output_shape[0])

    def train(self, model, task, config, ctx):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in ctx.loop.steps(model, optimizer):
            x, _ = ctx.loop.batch()
            loss = (x - model.mean).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            ctx.loop.record_loss(loss)
        return ctx.loop.result()


class Diverges(WrongSamples):
    name = "diverges"

    def build(self, task, config):
        return BadSampler(task.output_shape[0] - 1)  # samples have the right shape...

    def train(self, model, task, config, ctx):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in ctx.loop.steps(model, optimizer):
            ctx.loop.batch()
            loss = model.mean.sum() * float("inf")  # ...but training blows up
            ctx.loop.record_loss(loss)
        return ctx.loop.result()


class RaisingIncompatibility(Flat):
    name = "raising-incompatibility"

    def incompatibility(self, task):
        raise KeyError(task.name)


class GenNoDefaults(WrongSamples):
    name = "gen-no-defaults"

    class Config(nnbench.Config):
        lr: float  # no default: the short trial cannot even be planned


class GoodSampler(BadSampler):
    def sample(self, n):
        return self.mean + torch.randn(n, self.mean.shape[0])


class SkipsAutocast(WrongSamples):
    """A train() escape hatch that drives ctx.loop but never enters its autocast."""

    name = "skips-autocast"

    def build(self, task, config):
        return GoodSampler(task.output_shape[0])


class HandMadeOptimizer(WrongSamples):
    """Its own step with an optimizer made by hand: the suite's optimizer and lr never reach it."""

    name = "hand-made-optimizer"

    def build(self, task, config):
        return GoodSampler(task.output_shape[0])

    train = nnbench.Architecture.train

    def optimizers(self, model, config, make):
        return [torch.optim.SGD(model.parameters(), lr=0.1)]

    def step(self, model, batch, optimizers):
        x, _ = batch
        loss = (x - model.mean).pow(2).mean()
        optimizers[0].zero_grad()
        loss.backward()
        optimizers[0].step()
        return loss


@hookimpl
def register_architectures(register):
    for cls in (RaisingIncompatibility, GenNoDefaults, Flat, WrongShape, NonFinite, LaxConfig, NoDefaults, CannotLearn, Unseeded, WrongSamples, Diverges, HandMadeOptimizer, SkipsAutocast):
        register(cls())
'''


@pytest.fixture
def broken(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text(BROKEN)
    return path


def test_the_correct_planted_architecture_passes(broken):
    assert_architecture_conforms("flat", tasks=["digits"], plugin_files=[broken])


@pytest.mark.parametrize(
    "name, task, check, words",
    [
        ("wrong-shape", "digits", "output-shape", "expected (32, 10), got (32, 11)"),
        ("non-finite", "digits", "finite-outputs", "320 of 320 values are not finite"),
        ("lax-config", "-", "config-forbids-unknown", "Config(bogus=1) was accepted"),
        ("no-defaults", "-", "config-defaults", "no default for width"),
        ("cannot-learn", "digits", "trains", "loss 2.303 -> 2.303"),
        ("unseeded", "digits", "same-seed-same-result", "different outputs"),
        ("wrong-samples", "toy2d", "sample-shape", "expected (8, 2), got (8, 3)"),
        ("diverges", "toy2d", "trains", "the trial ended diverged"),
        ("raising-incompatibility", "digits", "incompatibility", "raised KeyError: 'digits'"),
        ("gen-no-defaults", "toy2d", "build", "cannot plan a trial"),
        ("hand-made-optimizer", "toy2d", "training-contract", "returned a SGD not made with make()"),
        ("skips-autocast", "toy2d", "training-contract", "never entered ctx.loop.autocast()"),
    ],
)
def test_a_planted_fault_fails_its_check(broken, name, task, check, words):
    results = check_architecture(name, tasks=[task] if task != "-" else ["digits"], plugin_files=[broken])
    failures = failed(results)
    assert (task, check) in failures, results
    assert words in failures[(task, check)]
    with pytest.raises(AssertionError, match=rf"{task} / {check}: "):
        assert_architecture_conforms(name, tasks=[task] if task != "-" else ["digits"], plugin_files=[broken])


def test_only_the_planted_fault_fails(broken):
    # lax-config breaks one rule and keeps the others: the rest of its checks pass
    assert set(failed(check_architecture("lax-config", tasks=["digits"], plugin_files=[broken]))) == {
        ("-", "config-forbids-unknown")
    }


def test_an_instance_is_checked_and_registered_only_for_the_check():
    """An unregistered instance (here one that owns its loop, so it runs real trials) is registered for
    the check only."""
    import importlib.util

    from nnbench import registry

    spec = importlib.util.spec_from_file_location("tiny_for_kit", TEST_PLUGINS / "tiny.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = assert_architecture_conforms(module.Gauss(), tasks=["toy2d"])
    assert checks_by_task(results)["toy2d"] == GENERATIVE_CHECKS
    assert "gauss" not in registry.get_registry().architectures


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name_or_instance": "mpl"}, "did you mean 'mlp'"),
        ({"name_or_instance": "mlp", "tasks": ["digitz"]}, "unknown task 'digitz'"),
        ({"name_or_instance": "gbdt", "tasks": ["digits"]}, "cannot take task 'digits'"),
        ({"name_or_instance": "mlp", "tasks": ["mnist"]}, "needs data_dir"),
        ({"name_or_instance": "mlp", "plugin_files": ["missing.py"]}, "missing.py: no such file"),
        ({"name_or_instance": 42}, "expected an architecture name"),
    ],
)
def test_bad_input_is_an_nnbench_error(kwargs, message):
    with pytest.raises(NnbenchError, match=message):
        check_architecture(**kwargs)


def test_an_architecture_no_task_fits_fails_the_tasks_check():
    from nnbench import Architecture

    class Points(Architecture):
        name = "points-classifier"
        modalities = {"points"}
        kinds = {"classification"}

    failures = failed(check_architecture(Points()))
    assert set(failures) == {("-", "tasks")}
    assert "no registered smoke or quick task" in failures[("-", "tasks")]


# -- the command -----------------------------------------------------------------------------------


def test_check_command_prints_a_table_and_exits_by_the_verdict(group, broken):
    runner = CliRunner()
    result = runner.invoke(group, ["check", "flat", "--plugin", str(broken), "--task", "digits"])
    assert result.exit_code == 0, result.output
    assert "output-shape" in result.output and "all 7 checks passed" in result.output
    result = runner.invoke(group, ["check", "wrong-shape", "--plugin", str(broken), "--task", "digits"])
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output and "checks failed" in result.output
    result = runner.invoke(
        group, ["check", "lax-config", "--plugin", str(broken), "--task", "digits", "--json"]
    )
    assert result.exit_code == 1
    rows = json.loads(result.output)
    assert [r["check"] for r in rows if not r["passed"]] == ["config-forbids-unknown"]
    assert set(rows[0]) == {"architecture", "task", "check", "passed", "detail"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["check", "mpl"], "did you mean 'mlp'"),
        (["check", "mlp", "--task", "nope"], "unknown task 'nope'"),
        (["check", "mlp", "--plugin", "missing.py"], "no such file"),
    ],
)
def test_check_command_bad_input_is_one_line(group, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(group, args)
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1 and "Traceback" not in result.output


def test_check_command_through_the_nnbench_command():
    from nnbench.cli import cli

    assert "check" in cli.commands  # registered: a missing command is a failure, not a skip
    result = run_cli("check", "mlp", "--task", "tabular-real", "--json", env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert all(row["passed"] for row in json.loads(result.stdout))


# -- import cost and the pytest plugin ------------------------------------------------------------------
def test_importing_the_kit_does_not_import_torch_or_pytest():
    code = "import sys, nnbench.testing; print(sorted(m for m in ('torch', 'pytest') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_pytest_plugin_gives_the_fixtures(tmp_path):
    (tmp_path / "test_uses_kit.py").write_text(
        textwrap.dedent(
            f"""
            def test_tiny_linear_conforms(nnbench_check):
                nnbench_check("tiny-linear", tasks=["digits"], plugin_files=[{str(TEST_PLUGINS / "tiny.py")!r}])

            def test_fresh_plugins(nnbench_plugins):
                assert nnbench_plugins.failures == []
            """
        )
    )
    # Asked where pytest will run: the entry points seen depend on the working directory's sys.path.
    probe = "import importlib.metadata as m; print(any(e.value == 'nnbench.testing' for e in m.entry_points(group='pytest11')))"
    registered = (
        subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True
        ).stdout.strip()
        == "True"
    )
    plugin_args = [] if registered else ["-p", "nnbench.testing"]
    result = run_module(
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *plugin_args,
        "test_uses_kit.py",
        env={"OMP_NUM_THREADS": "1"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_the_pytest_plugin_gives_a_plugin_authors_tests_the_fixtures(tmp_path):
    # Loaded by pytest through the pytest11 entry point (nnbench.pytest_plugin), as in a plugin's own repo.
    (tmp_path / "test_mine.py").write_text(
        textwrap.dedent(
            """
            def test_fresh_plugins(nnbench_plugins):
                assert nnbench_plugins.failures == []
                assert nnbench_plugins.load_plugin_file("missing.py") is None  # forgotten after the test

            def test_conforms(nnbench_check):
                results = nnbench_check("mlp", tasks=["tabular-real"])
                assert results and all(r.passed for r in results)
            """
        )
    )
    result = run_module("pytest", "-q", "-p", "no:cacheprovider", "test_mine.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


# -- causality: a model that looks ahead fails on causal tasks, and only there ----------------------------
LOOKAHEAD = '''
"""Per-position sequence models for the causality check: one reads the whole sequence, one does not."""

import torch
from torch import nn

import nnbench
from nnbench import hookimpl


class Pooled(nn.Module):
    """Embed each token, then output t is a linear map of the token at t and a mean of the sequence."""

    def __init__(self, task, causal):
        super().__init__()
        self.causal = causal
        self.embed = nn.Embedding(task.vocab_size, 16)
        self.head = nn.Linear(32, task.output_shape[1])

    def forward(self, x):
        h = self.embed(x)  # (B, T, 16)
        if self.causal:  # the mean of positions <= t
            context = h.cumsum(dim=1) / torch.arange(1, h.shape[1] + 1)[:, None]
        else:  # the mean of the whole sequence, at every t: looks ahead
            context = h.mean(dim=1, keepdim=True).expand_as(h)
        return self.head(torch.cat([h, context], dim=-1))  # (B, T, C)


class LooksAhead(nnbench.Architecture):
    name = "looks-ahead"
    modalities = {"sequence"}
    kinds = {"classification"}

    def incompatibility(self, task):
        if not task.vocab_size or len(task.output_shape) != 2:
            return "per-position token tasks only"
        return super().incompatibility(task)

    def build(self, task, config):
        return Pooled(task, causal=False)


class PrefixMean(LooksAhead):
    name = "prefix-mean"

    def build(self, task, config):
        return Pooled(task, causal=True)


class LooksAheadOwnLoop(LooksAhead):
    """The same model trained by a step of its own: the kit checks it through short trials."""

    name = "looks-ahead-own-loop"

    def optimizers(self, model, config, make):
        return [make(model.parameters(), lr_scale=10.0)]

    def step(self, model, batch, optimizers):
        x, y = batch
        (optimizer,) = optimizers
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, -2), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss


@hookimpl
def register_architectures(register):
    for cls in (LooksAhead, PrefixMean, LooksAheadOwnLoop):
        register(cls())
'''


@pytest.fixture
def lookahead(tmp_path):
    path = tmp_path / "lookahead.py"
    path.write_text(LOOKAHEAD)
    return path


def test_a_model_that_looks_ahead_fails_only_the_causal_check(lookahead):
    results = check_architecture("looks-ahead", plugin_files=[lookahead])
    assert {"running-parity", "mqar"} <= set(checks_by_task(results))
    failures = failed(results)
    assert set(failures) == {("running-parity", "causal"), ("mqar", "causal")}  # every other check passes
    for detail in failures.values():
        assert detail.startswith("looks ahead: outputs at positions <= 0 changed by")
        assert "\n" not in detail and "is causal" in detail


def test_the_same_model_reading_only_the_past_passes(lookahead):
    results = assert_architecture_conforms("prefix-mean", plugin_files=[lookahead])
    causal = [r for r in results if r.check == "causal"]
    assert {r.task for r in causal} == {"running-parity", "mqar"}
    assert all("later outputs moved by up to" in r.detail for r in causal)


def test_an_own_loop_model_that_looks_ahead_fails_through_its_trials(lookahead):
    results = check_architecture("looks-ahead-own-loop", tasks=["running-parity"], plugin_files=[lookahead])
    assert set(failed(results)) == {("running-parity", "causal")}


def test_nnbench_check_says_in_one_line_that_the_model_looks_ahead(lookahead, group):
    result = CliRunner().invoke(
        group, ["check", "looks-ahead", "--plugin", str(lookahead), "--task", "mqar", "--json"]
    )
    assert result.exit_code == 1, result.output
    [causal] = [r for r in json.loads(result.output) if r["check"] == "causal"]
    assert not causal["passed"] and causal["detail"].startswith("looks ahead")


def test_the_causal_check_tolerates_rounding_but_not_a_small_look_ahead():
    import torch

    from nnbench.testing import check_causal
    from nnbench.types import TaskSpec

    spec = TaskSpec("t", "sequence", "regression", (8, 1), (8, 1), causal=True)
    x = torch.randn(4, 8, 1)

    class Rounding(torch.nn.Module):  # output t = prefix sum, plus noise at the level of float rounding
        def forward(self, inputs):
            return inputs.cumsum(dim=1) + 1e-7 * inputs.sum(dim=1, keepdim=True)

    class Peeks(torch.nn.Module):  # output t also reads t + 1, a little
        def forward(self, inputs):
            return inputs + 1e-2 * torch.roll(inputs, -1, dims=1)

    assert check_causal(Rounding(), x, spec)[0]
    passed, detail = check_causal(Peeks(), x, spec)
    assert not passed and "positions <= 0" in detail
