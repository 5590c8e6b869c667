"""The built-in architectures (plugins/ shipped as nnbench_plugins) on the built-in tasks."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import nnbench_plugins.cnn
import nnbench_plugins.mlp
import nnbench_plugins.nets.cnn
import nnbench_plugins.nets.mlp
import pydantic
import pytest
import torch

import nnbench
from nnbench.tasks.digits import Digits
from nnbench.tasks.running_parity import RunningParity
from nnbench.tasks.tabular_real import TabularReal
from nnbench.tasks.toy2d import Toy2D
from tests.citations import missing_citations

torch.set_num_threads(1)

ARCHITECTURES = {"mlp": nnbench_plugins.mlp.MLP(), "cnn": nnbench_plugins.cnn.CNN()}
PARITY = RunningParity.Config(seq_len=16, n_train=256, n_val=32, n_test=32)


def _ready(task):
    task.setup(seed=0, device="cpu")
    return task


TASKS = {
    "digits": _ready(Digits()),
    "tabular-real": _ready(TabularReal()),
    "running-parity": _ready(RunningParity(PARITY)),
    "toy2d": _ready(Toy2D()),
}
COMPATIBLE = [
    ("mlp", "digits"),
    ("mlp", "tabular-real"),
    ("mlp", "running-parity"),
    ("cnn", "digits"),
    ("cnn", "running-parity"),
]
INCOMPATIBLE = [("cnn", "tabular-real"), ("mlp", "toy2d"), ("cnn", "toy2d")]


def build(arch_name, spec, **options):
    arch = ARCHITECTURES[arch_name]
    torch.manual_seed(0)
    return arch.build(spec, arch.Config(**options))


def test_every_pair_is_classified():
    pairs = {(a, t) for a in ARCHITECTURES for t in TASKS}
    assert pairs == set(COMPATIBLE) | set(INCOMPATIBLE)


@pytest.mark.parametrize("module", [nnbench_plugins.mlp, nnbench_plugins.cnn], ids=lambda m: m.__name__)
def test_registration_hook_registers_one_instance(module):
    registered = []
    module.register_architectures(register=registered.append)
    assert len(registered) == 1
    arch = registered[0]
    assert isinstance(arch, nnbench.Architecture)
    assert arch.name == module.__name__.rsplit(".", 1)[1]
    assert issubclass(arch.Config, nnbench.Config)
    assert arch.__doc__  # and the module cites its family's founding papers:
    assert not missing_citations(arch.name, module.__doc__)
    with pytest.raises(pydantic.ValidationError):
        arch.Config(no_such_option=1)


@pytest.mark.parametrize(
    "module",
    [nnbench_plugins.mlp, nnbench_plugins.cnn, nnbench_plugins.nets.mlp, nnbench_plugins.nets.cnn],
    ids=lambda m: m.__name__,
)
def test_plugins_use_only_the_public_api(module):
    source = Path(module.__file__).read_text()
    assert not re.search(r"^\s*(from|import) nnbench\.", source, flags=re.MULTILINE)
    assert "cuda" not in source and ".to(" not in source  # no device-specific code


@pytest.mark.parametrize("arch_name, task_name", INCOMPATIBLE)
def test_incompatible_pairs_give_a_reason(arch_name, task_name):
    reason = ARCHITECTURES[arch_name].incompatibility(TASKS[task_name].spec())
    assert isinstance(reason, str) and arch_name in reason


@pytest.mark.parametrize("arch_name, task_name", COMPATIBLE)
def test_forward_shape_and_a_fixed_batch_is_learned(arch_name, task_name):
    task = TASKS[task_name]
    spec = task.spec()
    assert ARCHITECTURES[arch_name].incompatibility(spec) is None
    model = build(arch_name, spec)
    x, y = task.data["train"]
    x, y = x[:64], y[:64]
    out = model(x)
    assert out.shape == (64, *spec.output_shape)
    assert out.dtype == torch.float32
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = task.loss(model(x), y).item()
    for _ in range(30):
        loss = task.loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    last = task.loss(model(x), y).item()
    assert last < 0.8 * first, (first, last)
    model.eval()
    with torch.no_grad():
        scores = task.evaluate(model, "val")
    assert 0.0 <= scores["accuracy"] <= 1.0


@pytest.mark.parametrize("arch_name", ["mlp", "cnn"])
def test_builds_are_deterministic_and_on_the_cpu(arch_name):
    spec = TASKS["digits"].spec()
    a, b = build(arch_name, spec), build(arch_name, spec)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)
    assert all(p.device.type == "cpu" for p in a.parameters())


def changed_positions(model, x, position):
    """Which output positions change when the bit at ``position`` is flipped."""
    flipped = x.clone()
    flipped[:, position] = 1 - flipped[:, position]
    with torch.no_grad():
        diff = (model(x) - model(flipped)).abs().amax(dim=(0, 2))  # (T,)
    return diff > 1e-6


@pytest.mark.parametrize(
    "arch_name, options",
    [
        ("mlp", {}),
        ("mlp", {"depth": 0}),
        ("mlp", {"width": 8, "depth": 3}),  # fewer hidden units than positions
        ("cnn", {}),
        ("cnn", {"depth": 3, "dilation": 2, "kernel_size": 4}),
    ],
)
def test_causal_tasks_never_see_the_future(arch_name, options):
    spec = TASKS["running-parity"].spec()
    assert spec.causal
    x = TASKS["running-parity"].data["val"][0][:8]
    model = build(arch_name, spec, **options)
    changed = changed_positions(model, x, position=6)
    assert not changed[:6].any()
    assert changed[6]


@pytest.mark.parametrize("arch_name", ["mlp", "cnn"])
def test_non_causal_sequence_models_look_both_ways(arch_name):
    spec = dataclasses.replace(TASKS["running-parity"].spec(), causal=False)
    x = TASKS["running-parity"].data["val"][0][:8]
    changed = changed_positions(build(arch_name, spec), x, position=6)
    assert changed[5] and changed[6]


FEATURE_SEQUENCE = nnbench.TaskSpec(
    name="features", modality="sequence", kind="regression", input_shape=(20, 3), output_shape=(4,)
)
SCALAR_SEQUENCE = nnbench.TaskSpec(
    name="scalars",
    modality="sequence",
    kind="classification",
    input_shape=(20,),
    output_shape=(20, 5),
    num_classes=5,
)
RGB_IMAGE = nnbench.TaskSpec(
    name="rgb",
    modality="image",
    kind="classification",
    input_shape=(3, 24, 20),
    output_shape=(7,),
    num_classes=7,
)
TABLE_REGRESSION = nnbench.TaskSpec(
    name="table", modality="tabular", kind="regression", input_shape=(11,), output_shape=(2,)
)


@pytest.mark.parametrize(
    "arch_name, spec, options",
    [
        ("mlp", FEATURE_SEQUENCE, {}),
        ("mlp", SCALAR_SEQUENCE, {"dropout": 0.1}),
        ("mlp", RGB_IMAGE, {}),
        ("mlp", TABLE_REGRESSION, {"depth": 0}),
        ("cnn", FEATURE_SEQUENCE, {"dilation": 2, "depth": 3}),
        ("cnn", FEATURE_SEQUENCE, {"kernel_size": 4}),
        ("cnn", SCALAR_SEQUENCE, {"norm": False}),
        ("cnn", RGB_IMAGE, {}),
        ("cnn", RGB_IMAGE, {"depth": 4, "kernel_size": 5, "dropout": 0.1}),
        ("cnn", RGB_IMAGE, {"depth": 0}),
    ],
    ids=lambda v: v.name if isinstance(v, nnbench.TaskSpec) else str(v),
)
def test_other_shapes_map_to_the_output_shape(arch_name, spec, options):
    assert ARCHITECTURES[arch_name].incompatibility(spec) is None
    model = build(arch_name, spec, **options)
    x = torch.randn(5, *spec.input_shape)
    assert model(x).shape == (5, *spec.output_shape)


def test_cnn_rejects_shapes_it_cannot_map():
    cnn = ARCHITECTURES["cnn"]
    flat_image = dataclasses.replace(RGB_IMAGE, input_shape=(64,))
    assert "(C, H, W)" in cnn.incompatibility(flat_image)
    misaligned = dataclasses.replace(SCALAR_SEQUENCE, output_shape=(10, 5))
    assert "per-position" in cnn.incompatibility(misaligned)
    assert "causal" in ARCHITECTURES["mlp"].incompatibility(dataclasses.replace(misaligned, causal=True))


def test_a_citation_needs_author_year_and_title():
    assert missing_citations("mlp", "(a) (b) (c): parentheses are not citations") == ["Rumelhart 1986"]
    assert missing_citations("mlp", "Rumelhart (1986) without the title") == ["Rumelhart 1986"]
    text = 'Rumelhart, Hinton & Williams (1986), "Learning representations by back-propagating errors"'
    assert missing_citations("mlp", text) == []
