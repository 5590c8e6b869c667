"""Named sizes and search spaces of the built-in architectures.

Every built-in declares the sizes xs, s, m, l (smallest first, parameters strictly growing) and a
search space whose every point is a valid Config that builds.
"""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest
import torch

import nnbench
from nnbench import space
from nnbench.registry import get_registry
from nnbench.types import Architecture

from .test_family_architectures import TASKS, image_spec

SIZES = ["xs", "s", "m", "l"]
BUILTIN = {"cnn", "diffusion", "gan", "gbdt", "mlp", "rnn", "transformer", "ssm", "linear-attention", "hyena"}
# trained by the core's loop with the suite's optimizer and lr (GAN and diffusion with their own step);
# the others run their own train() (and read their own rate)
CORE_LOOP = {"cnn", "mlp", "rnn", "transformer", "ssm", "linear-attention", "hyena", "gan", "diffusion"}
DRAWS = 20
BATCH = 4


def _builtin_names() -> list[str]:
    architectures = get_registry().architectures
    return sorted(n for n, a in architectures.items() if type(a).__module__.startswith("nnbench_plugins."))


NAMES = _builtin_names()


def architecture(name: str) -> Architecture:
    return get_registry().architectures[name]


def specs(arch: Architecture) -> list[nnbench.TaskSpec]:
    """The specs of the shared test tasks the architecture takes, plus 8x8 images for generators."""
    found = [task.spec() for task in TASKS.values() if arch.incompatibility(task.spec()) is None]
    image = image_spec((1, 8, 8))
    if arch.incompatibility(image) is None:
        found.append(image)
    assert found, f"{arch.name} takes none of the test tasks"
    return found


def first_task(arch: Architecture):
    return next(task for task in TASKS.values() if arch.incompatibility(task.spec()) is None)


def build(arch: Architecture, spec: nnbench.TaskSpec, options: dict):
    torch.manual_seed(0)
    return arch.build(spec, arch.Config(**options))


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def draw(param, rng: random.Random):
    """One point of a parameter type, drawn with Python's random (as a sampler might)."""
    if isinstance(param, space.LogUniform):
        return math.exp(rng.uniform(math.log(param.low), math.log(param.high)))
    if isinstance(param, space.Uniform):
        return rng.uniform(param.low, param.high)
    if isinstance(param, space.IntRange):
        if param.log:
            return min(param.high, round(math.exp(rng.uniform(math.log(param.low), math.log(param.high)))))
        return rng.randint(param.low, param.high)
    if isinstance(param, space.Choice):
        return rng.choice(param.choices)
    raise AssertionError(f"not a parameter type: {param!r}")


def test_every_builtin_is_checked():
    assert set(NAMES) == BUILTIN


@pytest.mark.parametrize("name", NAMES)
def test_declares_the_four_sizes_smallest_first(name):
    arch = architecture(name)
    assert list(arch.sizes) == SIZES
    for size, overrides in arch.sizes.items():
        assert overrides and set(overrides) <= set(arch.Config.model_fields), (size, overrides)
        arch.Config(**overrides)
    # s is the default model: its overrides only restate defaults.
    assert arch.Config(**arch.sizes["s"]) == arch.Config()


@pytest.mark.parametrize("name", sorted(BUILTIN - {"gbdt"}))
def test_parameters_grow_strictly_with_the_size(name):
    arch = architecture(name)
    for spec in specs(arch):
        counts = [parameters(build(arch, spec, arch.sizes[size])) for size in SIZES]
        assert counts == sorted(set(counts)), (spec.name, dict(zip(SIZES, counts)))


def test_gbdt_sizes_grow_its_trees_and_it_has_no_torch_parameters():
    arch = architecture("gbdt")
    options = [arch.Config(**arch.sizes[size]) for size in SIZES]
    for small, large in zip(options[:-1], options[1:]):
        assert small.max_iter <= large.max_iter and small.max_leaf_nodes <= large.max_leaf_nodes
        assert (small.max_iter, small.max_leaf_nodes) != (large.max_iter, large.max_leaf_nodes)
    assert parameters(build(arch, TASKS["tabular-real"].spec(), arch.sizes["xs"])) == 0


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", SIZES)
def test_every_size_builds_and_maps_to_the_output_shape(name, size):
    arch = architecture(name)
    task = first_task(arch)
    spec = task.spec()
    options = arch.sizes[size]
    model = build(arch, spec, options)
    x, y = task.data["train"]
    if name == "gbdt":  # trees are fitted, not built: fit this size on 200 rows first
        table = SimpleNamespace(data={"train": (x[:200], y[:200])})
        ctx = SimpleNamespace(trial=SimpleNamespace(seed=0), loop=SimpleNamespace(evaluate=lambda m, s: None))
        arch.train(model, table, arch.Config(**options), ctx)
    x = x[:BATCH]
    model.eval()
    with torch.no_grad():
        out = model.sample(BATCH) if spec.kind == "generation" else model(x)
    assert out.shape == (BATCH, *spec.output_shape) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_search_space_points_are_valid_configs(name):
    arch = architecture(name)
    assert arch.search_space, f"{name} declares no search space"
    space.check_keys(arch.search_space, set(arch.Config.model_fields))
    assert all(space.is_param(p) for p in arch.search_space.values())
    spec = first_task(arch).spec()
    rng = random.Random(0)
    for _ in range(DRAWS):
        point = {key: draw(param, rng) for key, param in arch.search_space.items()}
        options = {k: v for k, v in point.items() if not k.startswith(space.TRAINING_PREFIX)}
        for size in [None, *SIZES]:  # alone, and over every size (a tuned suite may fix one)
            config = arch.Config(**{**(arch.sizes[size] if size else {}), **options})
            assert config is not None
        assert isinstance(build(arch, spec, options), torch.nn.Module), point


@pytest.mark.parametrize("name", NAMES)
def test_search_space_tunes_the_learning_rate_the_architecture_reads(name):
    arch = architecture(name)
    owns_loop = type(arch).train is not Architecture.train
    assert owns_loop == (name not in CORE_LOOP)
    rates = [
        key
        for key, param in arch.search_space.items()
        if isinstance(param, space.LogUniform) and key.split(".")[-1] in {"lr", "learning_rate"}
    ]
    if owns_loop:  # its train() ignores training.lr: it must tune its own Config fields
        assert "training.lr" not in arch.search_space
        assert rates and all(not key.startswith(space.TRAINING_PREFIX) for key in rates)
    else:
        assert rates == ["training.lr"]
        lr = arch.search_space["training.lr"]
        assert 1e-5 <= lr.low < 1e-3 < lr.high <= 3e-2
