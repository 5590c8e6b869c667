"""The sequence-mixer plugins (ssm, linear-attention, hyena): their recurrences against independent
references, the recurrent path against the parallel one, causality, state sizes, and training."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import nnbench_plugins.hyena
import nnbench_plugins.linear_attention
import nnbench_plugins.nets.hyena
import nnbench_plugins.nets.linear_attention
import nnbench_plugins.nets.mixer_stack
import nnbench_plugins.nets.ssm
import nnbench_plugins.sequence_shapes
import nnbench_plugins.ssm
import pydantic
import pytest
import torch

import nnbench
from nnbench.tasks.running_parity import RunningParity
from nnbench.testing import check_causal

torch.set_num_threads(1)

MODULES = {
    "ssm": nnbench_plugins.ssm,
    "linear-attention": nnbench_plugins.linear_attention,
    "hyena": nnbench_plugins.hyena,
}
ARCHITECTURES = {
    "ssm": nnbench_plugins.ssm.SSM(),
    "linear-attention": nnbench_plugins.linear_attention.LinearAttention(),
    "hyena": nnbench_plugins.hyena.Hyena(),
}
# Small models with chunks shorter than the sequences, so chunk boundaries are crossed.
TINY = {
    "ssm": {"d_model": 16, "d_state": 4, "chunk": 4},
    "linear-attention": {"d_model": 16, "feature_dim": 4, "heads": 2, "chunk": 4},
    "hyena": {"d_model": 16, "filter_width": 8, "filter_bands": 2},
}
TOKENS = nnbench.TaskSpec(
    name="tokens",
    modality="sequence",
    kind="classification",
    input_shape=(11,),
    output_shape=(11, 5),
    vocab_size=7,
    num_classes=5,
    causal=True,
)
FEATURES = nnbench.TaskSpec(
    name="features", modality="sequence", kind="regression", input_shape=(10, 3), output_shape=(2,)
)
SCALARS = nnbench.TaskSpec(
    name="scalars",
    modality="sequence",
    kind="classification",
    input_shape=(9,),
    output_shape=(4,),
    num_classes=4,
)


def build(name, spec, **options):
    arch = ARCHITECTURES[name]
    torch.manual_seed(0)
    return arch.build(spec, arch.Config(**{**TINY[name], **options})).eval()


def inputs(spec, batch=3, length=None):
    shape = (batch, length or spec.input_shape[0], *spec.input_shape[1:])
    generator = torch.Generator().manual_seed(1)
    if spec.vocab_size:
        return torch.randint(0, spec.vocab_size, shape, generator=generator)
    return torch.randn(shape, generator=generator)


# -- registration and the contract -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODULES))
def test_registered_through_the_entry_points_with_sizes_and_a_space(name):
    arch = nnbench.get_architecture(name)
    assert type(arch) is type(ARCHITECTURES[name])
    assert (
        list(arch.sizes) == ["xs", "s", "m", "l"]
        and arch.sizes["s"].items() <= arch.Config().model_dump().items()
    )
    assert "training.lr" in arch.search_space and arch.width_option == "d_model"
    doc = MODULES[name].__doc__ or ""
    assert re.search(r"\(20\d\d\)", doc)  # cites its paper with the year
    with pytest.raises(pydantic.ValidationError):
        arch.Config(no_such_option=1)


@pytest.mark.parametrize(
    "path",
    [
        *(m.__file__ for m in MODULES.values()),
        nnbench_plugins.nets.ssm.__file__,
        nnbench_plugins.nets.linear_attention.__file__,
        nnbench_plugins.nets.hyena.__file__,
        nnbench_plugins.nets.mixer_stack.__file__,
        nnbench_plugins.sequence_shapes.__file__,
    ],
)
def test_plugins_use_only_the_public_api(path):
    source = Path(path).read_text()
    assert not re.search(r"^\s*(from|import) nnbench\.", source, flags=re.MULTILINE)
    assert "cuda" not in source and ".to(" not in source  # no device-specific code
    assert len(source.splitlines()) <= 300  # one readable file each


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.parametrize("spec", [TOKENS, FEATURES, SCALARS], ids=lambda s: s.name)
def test_outputs_have_the_task_shape_at_the_task_length_and_others(name, spec):
    model = build(name, spec)
    for length in (spec.input_shape[0], 3, 4 * spec.input_shape[0]):
        x = inputs(spec, length=length)
        expected = (
            (3, length, *spec.output_shape[1:]) if len(spec.output_shape) == 2 else (3, *spec.output_shape)
        )
        assert model(x).shape == expected


def test_shapes_the_stack_cannot_map_give_a_reason():
    misaligned = dataclasses.replace(TOKENS, output_shape=(5, 5))
    image = dataclasses.replace(SCALARS, modality="image", input_shape=(1, 8, 8))
    for name, arch in ARCHITECTURES.items():
        assert "per-position" in arch.incompatibility(misaligned)
        assert name in arch.incompatibility(image)
    with pytest.raises(pydantic.ValidationError, match="order"):
        ARCHITECTURES["hyena"].Config(order=1)
    with pytest.raises(pydantic.ValidationError, match="divide"):
        ARCHITECTURES["linear-attention"].Config(d_model=30, heads=4)


# -- the recurrences against references written independently ----------------------------------------


def test_chunked_selective_scan_equals_the_sequential_recurrence():
    """``selective_scan_ref`` of Mamba: a loop over positions; any chunk size gives the same."""
    generator = torch.Generator().manual_seed(0)
    batch, length, channels, states = 2, 13, 3, 4
    x = torch.randn(batch, length, channels, generator=generator)
    dt = torch.rand(batch, length, channels, generator=generator)
    A = -torch.rand(channels, states, generator=generator) * 3
    B = torch.randn(batch, length, states, generator=generator)
    C = torch.randn(batch, length, states, generator=generator)
    h = torch.zeros(batch, channels, states)
    expected = []
    for t in range(length):
        h = torch.exp(dt[:, t, :, None] * A) * h + dt[:, t, :, None] * B[:, t, None, :] * x[:, t, :, None]
        expected.append((h * C[:, t, None, :]).sum(-1))
    expected = torch.stack(expected, dim=1)
    for chunk in (1, 4, 5, 16):
        got = nnbench_plugins.nets.ssm.selective_scan(x, dt, A, B, C, chunk=chunk)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_taylor_features_give_the_second_order_expansion_of_exp():
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(6, 8, generator=generator), torch.randn(6, 8, generator=generator)
    s = (q * k).sum(-1) / 8**0.5
    phi = nnbench_plugins.nets.linear_attention.taylor_features
    torch.testing.assert_close((phi(q) * phi(k)).sum(-1), 1 + s + s * s / 2)
    assert phi(q).shape == (6, 1 + 8 + 64)


def test_fft_convolution_is_the_causal_convolution():
    generator = torch.Generator().manual_seed(0)
    v, h = torch.randn(2, 3, 9, generator=generator), torch.randn(3, 9, generator=generator)
    expected = torch.zeros_like(v)
    for t in range(9):
        for s in range(t + 1):
            expected[..., t] += h[:, t - s] * v[..., s]
    torch.testing.assert_close(
        nnbench_plugins.nets.hyena.fft_causal_conv(v, h), expected, rtol=1e-4, atol=1e-5
    )


def test_the_implicit_filter_of_a_longer_sequence_extends_the_shorter_one():
    filter_ = nnbench_plugins.nets.hyena.ImplicitFilter(channels=4, l_max=16, bands=2, width=8)
    torch.testing.assert_close(filter_(40)[:, :16], filter_(16))


# -- one position at a time ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.parametrize("spec", [TOKENS, FEATURES, SCALARS], ids=lambda s: s.name)
def test_the_recurrent_path_gives_the_parallel_outputs(name, spec):
    model = build(name, spec, depth=2)
    x = inputs(spec)
    with torch.no_grad():
        parallel, recurrent = model(x), model.recurrent(x)
    torch.testing.assert_close(recurrent, parallel, rtol=1e-4, atol=1e-5)
    assert parallel.abs().max() > 1e-3  # not a trivial agreement of zeros


@pytest.mark.parametrize("name", list(MODULES))
def test_the_declared_state_is_what_the_recurrent_path_keeps(name):
    arch = ARCHITECTURES[name]
    config = arch.Config(**TINY[name], depth=2)
    model = arch.build(TOKENS, config)
    states = [block.mixer.initial_state(1) for block in model.blocks]
    tokens = model.tokens(inputs(TOKENS, batch=1))
    length = tokens.shape[1]
    with torch.no_grad():
        for t in range(length):
            h = tokens[:, t]
            for i, block in enumerate(model.blocks):
                h, states[i] = block.step(h, states[i])
    kept = sum(t.numel() for t in _tensors(states))
    assert kept == arch.state_size(TOKENS, config, length=length)


def _tensors(state):
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for part in state for t in _tensors(part)]


def test_state_is_fixed_for_recurrent_mixers_and_grows_for_hyena():
    def state(name, length):
        arch = ARCHITECTURES[name]
        return arch.state_size(TOKENS, arch.Config(), length=length)

    assert state("ssm", 64) == state("ssm", 4096) == 2 * (64 * 8 + 64 * 3)
    assert state("linear-attention", 64) == state("linear-attention", 4096)
    assert state("hyena", 4096) - state("hyena", 2048) == 2 * 64 * 2048  # depth x d_model x length


# -- causality and training ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODULES))
def test_outputs_never_see_the_future(name):
    model = build(name, TOKENS)
    passed, detail = check_causal(model, inputs(TOKENS, batch=4), TOKENS)
    assert passed and "later outputs moved" in detail, detail


PARITY = RunningParity(RunningParity.Config(seq_len=16, n_train=256, n_val=32, n_test=32))
PARITY.setup(seed=0, device="cpu")


@pytest.mark.parametrize("name", list(MODULES))
def test_a_fixed_batch_is_learned(name):
    spec = PARITY.spec()
    model = build(name, spec).train()
    x, y = PARITY.data["train"]
    x, y = x[:64], y[:64]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = PARITY.loss(model(x), y).item()
    for _ in range(60):
        loss = PARITY.loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert PARITY.loss(model(x), y).item() < 0.95 * first


@pytest.mark.slow
def test_every_sequence_task_trains_through_the_runner(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: mixers\nseeds: [0]\nthreads: 1\nbudget: {steps: 6}\n"
        "training: {batch_size: 32, eval_every: 3, warmup_steps: 1}\nexecutor: {kind: inline}\n"
        "tasks:\n"
        "  - {name: running-parity, seq_len: 16, n_train: 128, n_val: 64, n_test: 64}\n"
        "  - {name: mqar, seq_len: 32, vocab_size: 32, num_kv_pairs: 4, min_kv_pairs: 2, n_train: 128, n_val: 64, n_test: 64}\n"
        "  - mnist1d\n  - mnist1d-shuffled\n"
        "  - {name: listops, seq_len: 48, max_depth: 2, n_train: 128, n_val: 64, n_test: 64}\n"
        "architectures: [{name: ssm, size: xs}, {name: linear-attention, size: xs}, {name: hyena, size: xs}]\n"
    )
    outcome = nnbench.run_suite(suite, db=tmp_path / "r.db", quiet=True)
    records = outcome.records
    assert len(records) == 15 and {r["status"] for r in records} == {"ok"}, [r["error"] for r in records]
    for record in records:
        assert 0.0 <= record["test_score"] <= 1.0 and record["steps"] == 6
        assert record["model_width"] == 32 and record["state_bytes"] > 0
        if record["task"] == "running-parity":
            assert "accuracy" in record["extra_metrics"]["test_4x"]  # reads 4x longer strings
        if record["task"] == "mqar":
            assert {"accuracy_kv2", "accuracy_kv4"} <= set(record["test_metrics"])
