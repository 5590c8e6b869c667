"""The family plugins (rnn, transformer, gan, diffusion, gbdt) on the built-in tasks and through the runner."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import nnbench_plugins.diffusion
import nnbench_plugins.gan
import nnbench_plugins.gbdt
import nnbench_plugins.nets.transformer
import nnbench_plugins.rnn
import nnbench_plugins.transformer
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

MODULES = {
    "rnn": nnbench_plugins.rnn,
    "transformer": nnbench_plugins.transformer,
    "gan": nnbench_plugins.gan,
    "diffusion": nnbench_plugins.diffusion,
    "gbdt": nnbench_plugins.gbdt,
}
ARCHITECTURES = {
    "rnn": nnbench_plugins.rnn.RNN(),
    "transformer": nnbench_plugins.transformer.Transformer(),
    "gan": nnbench_plugins.gan.GAN(),
    "diffusion": nnbench_plugins.diffusion.Diffusion(),
    "gbdt": nnbench_plugins.gbdt.GBDT(),
}
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
COMPATIBLE = {
    ("rnn", "digits"),
    ("rnn", "running-parity"),
    ("transformer", "digits"),
    ("transformer", "tabular-real"),
    ("transformer", "running-parity"),
    ("gan", "toy2d"),
    ("diffusion", "toy2d"),
    ("gbdt", "tabular-real"),
}


def build(arch_name, spec, **options):
    arch = ARCHITECTURES[arch_name]
    torch.manual_seed(0)
    return arch.build(spec, arch.Config(**options))


def image_spec(shape):
    return nnbench.TaskSpec(
        name="img", modality="image", kind="generation", input_shape=shape, output_shape=shape
    )


# -- registration and the contract -------------------------------------------------------------------


def test_every_pair_is_classified():
    for arch_name, arch in ARCHITECTURES.items():
        for task_name, task in TASKS.items():
            reason = arch.incompatibility(task.spec())
            if (arch_name, task_name) in COMPATIBLE:
                assert reason is None, (arch_name, task_name, reason)
            else:
                assert isinstance(reason, str) and arch_name in reason, (arch_name, task_name)


@pytest.mark.parametrize("name", list(MODULES))
def test_registered_through_the_entry_points(name):
    arch = nnbench.get_architecture(name)
    assert type(arch) is type(ARCHITECTURES[name])
    assert arch.reference is (name == "gbdt")
    registered = []
    MODULES[name].register_architectures(register=registered.append)
    assert [a.name for a in registered] == [name]
    assert issubclass(arch.Config, nnbench.Config)
    assert not missing_citations(name, MODULES[name].__doc__)  # cites its family's founding papers
    with pytest.raises(pydantic.ValidationError):
        arch.Config(no_such_option=1)


@pytest.mark.parametrize("name", list(MODULES))
def test_plugins_use_only_the_public_api(name):
    source = Path(MODULES[name].__file__).read_text()
    assert not re.search(r"^\s*(from|import) nnbench\.", source, flags=re.MULTILINE)
    assert "cuda" not in source and ".to(" not in source  # no device-specific code


# -- discriminative: rnn and transformer --------------------------------------------------------------

LEARNING = [
    ("rnn", "digits", {}),
    ("rnn", "digits", {"cell": "gru", "bidirectional": True, "pool": "mean"}),
    ("rnn", "running-parity", {}),
    ("rnn", "running-parity", {"cell": "gru", "layers": 2, "dropout": 0.1}),
    ("transformer", "digits", {}),
    ("transformer", "digits", {"patch": 2, "positions": "sinusoidal", "pool": "mean"}),
    ("transformer", "tabular-real", {}),
    ("transformer", "running-parity", {"positions": "sinusoidal"}),
]


@pytest.mark.parametrize("arch_name, task_name, options", LEARNING)
def test_forward_shape_and_a_fixed_batch_is_learned(arch_name, task_name, options):
    task = TASKS[task_name]
    spec = task.spec()
    model = build(arch_name, spec, **options)
    x, y = task.data["train"]
    x, y = x[:64], y[:64]
    out = model(x)
    assert out.shape == (64, *spec.output_shape) and out.dtype == torch.float32
    # Parity sits on a plateau at ln 2 before it drops: more steps, a smaller required drop.
    steps, ratio = (80, 0.95) if task_name == "running-parity" else (25, 0.8)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = task.loss(model(x), y).item()
    for _ in range(steps):
        loss = task.loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    last = task.loss(model(x), y).item()
    assert last < ratio * first, (first, last)


def outputs_after_changing_from(model, x, t):
    """Outputs for ``x`` and for ``x`` with every bit after position ``t`` flipped."""
    if isinstance(model, nnbench_plugins.nets.transformer.TransformerNet):
        # the head starts at zero (constant outputs): give the outputs something to show
        torch.nn.init.normal_(model.head.weight)
    changed = x.clone()
    changed[:, t + 1 :] = 1 - changed[:, t + 1 :]
    with torch.no_grad():
        return model(x), model(changed)


@pytest.mark.parametrize(
    "arch_name, options",
    [("rnn", {}), ("rnn", {"cell": "gru", "layers": 2}), ("transformer", {}), ("transformer", {"depth": 3})],
)
def test_causal_models_never_see_the_future(arch_name, options):
    spec = TASKS["running-parity"].spec()
    assert spec.causal
    model = build(arch_name, spec, **options).eval()
    x = TASKS["running-parity"].data["val"][0][:8]
    t = 6
    a, b = outputs_after_changing_from(model, x, t)
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1], rtol=0, atol=1e-6)
    assert (a[:, t + 1] - b[:, t + 1]).abs().max() > 1e-4


def test_bidirectional_rnn_is_refused_on_causal_tasks_and_looks_both_ways_otherwise():
    spec = TASKS["running-parity"].spec()
    with pytest.raises(ValueError, match="causal"):
        build("rnn", spec, bidirectional=True)
    open_spec = dataclasses.replace(spec, causal=False)
    model = build("rnn", open_spec, bidirectional=True).eval()
    a, b = outputs_after_changing_from(model, TASKS["running-parity"].data["val"][0][:8], t=6)
    assert (a[:, 6] - b[:, 6]).abs().max() > 1e-4


def test_non_causal_transformer_attends_both_ways():
    spec = dataclasses.replace(TASKS["running-parity"].spec(), causal=False)
    model = build("transformer", spec).eval()
    a, b = outputs_after_changing_from(model, TASKS["running-parity"].data["val"][0][:8], t=6)
    assert (a[:, 6] - b[:, 6]).abs().max() > 1e-4


def test_sequence_models_take_longer_sequences_where_they_can():
    spec = TASKS["running-parity"].spec()
    length = 4 * spec.input_shape[0]  # as in running-parity's test_4x split
    x = torch.randint(0, 2, (3, length))
    for arch_name, options in [("rnn", {}), ("transformer", {"positions": "sinusoidal"})]:
        assert build(arch_name, spec, **options)(x).shape == (3, length, 2)
    assert build("transformer", spec)(x[:, :5]).shape == (3, 5, 2)  # shorter is fine for learned positions
    with pytest.raises(ValueError, match="learned positions"):
        build("transformer", spec)(x)


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
        ("rnn", FEATURE_SEQUENCE, {}),
        ("rnn", FEATURE_SEQUENCE, {"bidirectional": True, "layers": 2}),
        ("rnn", SCALAR_SEQUENCE, {"cell": "gru"}),
        ("rnn", RGB_IMAGE, {"pool": "mean"}),
        ("transformer", FEATURE_SEQUENCE, {}),
        ("transformer", SCALAR_SEQUENCE, {"positions": "sinusoidal"}),
        ("transformer", RGB_IMAGE, {"patch": 4}),
        ("transformer", TABLE_REGRESSION, {"pool": "mean"}),
    ],
    ids=lambda v: v.name if isinstance(v, nnbench.TaskSpec) else str(v),
)
def test_other_shapes_map_to_the_output_shape(arch_name, spec, options):
    assert ARCHITECTURES[arch_name].incompatibility(spec) is None
    model = build(arch_name, spec, **options)
    x = torch.randn(5, *spec.input_shape)
    assert model(x).shape == (5, *spec.output_shape)


def test_transformer_patch_falls_back_to_a_size_that_divides_the_image():
    assert build("transformer", RGB_IMAGE, patch=4).patch_size == 4
    model = build("transformer", RGB_IMAGE, patch=3)  # 3 divides 24, not 20
    assert model.patch_size == 2
    assert model(torch.randn(2, 3, 24, 20)).shape == (2, 7)
    with pytest.raises(pydantic.ValidationError, match="divide"):
        ARCHITECTURES["transformer"].Config(d_model=30, heads=4)


def test_shapes_the_sequence_models_cannot_map_give_a_reason():
    misaligned = dataclasses.replace(SCALAR_SEQUENCE, output_shape=(10, 5))
    for name in ("rnn", "transformer"):
        assert "per-position" in ARCHITECTURES[name].incompatibility(misaligned)
    assert "(C, H, W)" in ARCHITECTURES["rnn"].incompatibility(
        dataclasses.replace(RGB_IMAGE, input_shape=(64,))
    )


# -- generative: gan and diffusion ---------------------------------------------------------------------

GENERATIVE = [
    ("gan", {}),
    ("gan", {"loss": "ns", "spectral_norm": False}),
    ("diffusion", {"sample_steps": 5}),
]


@pytest.mark.parametrize("arch_name, options", GENERATIVE)
def test_generators_sample_points(arch_name, options):
    model = build(arch_name, TASKS["toy2d"].spec(), **options)
    samples = model.sample(50)
    assert samples.shape == (50, 2) and torch.isfinite(samples).all()
    assert model(torch.zeros(7, 2)).shape == (7, 2)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 16, 16), (3, 32, 32), (1, 7, 9)], ids=str)
@pytest.mark.parametrize("arch_name, options", GENERATIVE, ids=str)
def test_generators_sample_images(arch_name, options, shape):
    spec = image_spec(shape)
    arch = ARCHITECTURES[arch_name]
    assert arch.incompatibility(spec) is None
    model = build(arch_name, spec, **{**options, **({"sample_steps": 2} if arch_name == "diffusion" else {})})
    samples = model.sample(3)
    assert samples.shape == (3, *shape) and torch.isfinite(samples).all()


def test_gan_critic_is_spectrally_normalised():
    model = build("gan", image_spec((1, 16, 16)))
    assert any("parametrizations" in name for name, _ in model.critic.named_parameters())
    assert not any("parametrizations" in name for name, _ in model.generator.named_parameters())


def test_diffusion_keeps_its_ema_in_buffers_and_samples_with_it():
    model = build("diffusion", TASKS["toy2d"].spec(), ema_decay=0.0, sample_steps=4)
    ema_keys = [key for key in model.state_dict() if key.startswith("ema.")]
    assert len(ema_keys) == len(list(model.net.parameters()))
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in model.net.parameters())
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(1.0)
    model.update_ema()  # decay 0: the EMA becomes the weights
    for ema, p in zip(model.ema.buffers(), model.net.parameters(), strict=True):
        assert torch.equal(ema, p)
    with torch.no_grad():
        for p in model.net.parameters():
            p.zero_()  # the raw weights now predict zero noise; sampling must still use the EMA
    x, t = torch.randn(4, 2), torch.zeros(4, dtype=torch.long)
    assert model.ema_net(x, t).abs().sum() > 0
    assert model.sample(4, steps=2).shape == (4, 2)


def test_diffusion_schedules_and_strided_sampling():
    for schedule in ("cosine", "linear"):
        model = build("diffusion", TASKS["toy2d"].spec(), schedule=schedule, timesteps=50, eta=0.0)
        abar = model.alphas_cumprod
        assert abar.shape == (50,) and (abar[1:] < abar[:-1]).all() and 0 < abar[-1] < 0.05
        for steps in (1, 7, 50, 500):
            assert torch.isfinite(model.sample(10, steps=steps)).all()


# -- gbdt ----------------------------------------------------------------------------------------------


def test_gbdt_regression_fits_one_booster_per_output_and_survives_its_state_dict():
    x = torch.randn(300, 11)
    y = torch.stack([x[:, 0] * 2, x[:, 1] - x[:, 2]], dim=1)  # (N, 2)
    task = SimpleNamespace(data={"train": (x, y)})
    evaluated = []
    ctx = SimpleNamespace(
        trial=SimpleNamespace(seed=0), loop=SimpleNamespace(evaluate=lambda m, s: evaluated.append(s))
    )
    arch = ARCHITECTURES["gbdt"]
    config = arch.Config(max_iter=30)
    model = arch.build(TABLE_REGRESSION, config)
    result = arch.train(model, task, config, ctx)
    assert evaluated == ["val"] and result.steps == 30 and result.samples == 300
    prediction = model(x[:20])
    assert prediction.shape == (20, 2) and (prediction - y[:20]).abs().mean() < 0.5
    fresh = arch.build(TABLE_REGRESSION, config)
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh(x[:20]), prediction)


# -- end to end through the runner ---------------------------------------------------------------------

IMAGE_TASK_PLUGIN = '''
"""A tiny image-generation task for the test: 8x8 digits, scored by the gap between mean images."""
import torch
import nnbench
from nnbench import hookimpl


class TinyDigitsGen(nnbench.Task):
    name = "tiny-digits-gen"

    def spec(self):
        return nnbench.TaskSpec(name=self.name, modality="image", kind="generation",
                                input_shape=(1, 8, 8), output_shape=(1, 8, 8))

    def metric(self):
        return nnbench.Metric("mean_gap", higher_is_better=False)

    def make_data(self, seed):
        from sklearn.datasets import load_digits
        images = torch.tensor(load_digits().images[:256], dtype=torch.float32).unsqueeze(1) / 16.0
        return {"train": (images[:192], None), "val": (images[192:224], None), "test": (images[224:], None)}

    def evaluate(self, model, split):
        real, _ = self.data[split]
        samples = model.sample(len(real))
        assert samples.shape == real.shape, samples.shape
        return {"mean_gap": (samples.mean(0) - real.mean(0)).abs().mean().item()}


@hookimpl
def register_tasks(register):
    register(TinyDigitsGen)
'''


def test_generative_and_reference_architectures_run_through_the_runner(tmp_path):
    (tmp_path / "image_task.py").write_text(IMAGE_TASK_PLUGIN)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        textwrap.dedent(
            """
            name: families
            seeds: [0]
            threads: 1
            budget: {steps: 40}
            training: {batch_size: 64, eval_every: 20, warmup_steps: 2}
            executor: {kind: inline}
            plugins: [image_task.py]
            tasks: [toy2d, tabular-real, tiny-digits-gen]
            architectures: [gan, {name: diffusion, sample_steps: 20}, gbdt]
            """
        )
    )
    db = tmp_path / "r.db"
    outcome = nnbench.run_suite(suite, db=db, quiet=True)
    results = nnbench.load_results(db).set_index(["architecture", "task"])
    ok = results[results.status == "ok"]
    assert set(ok.index) == {
        ("gan", "toy2d"),
        ("diffusion", "toy2d"),
        ("gan", "tiny-digits-gen"),
        ("diffusion", "tiny-digits-gen"),
        ("gbdt", "tabular-real"),
    }, results[["status", "error"]]
    assert outcome.counts == {"ok": 5}
    for arch in ("gan", "diffusion"):
        row = ok.loc[(arch, "toy2d")]
        assert row.metric == "mmd" and 0 <= row.test_score < 10 and row.steps == 40
        assert ok.loc[(arch, "tiny-digits-gen")].test_score < 1
        assert not row.reference
    gbdt = ok.loc[("gbdt", "tabular-real")]
    assert gbdt.test_score > 0.9 and bool(gbdt.reference)
    assert gbdt.steps == 200 and gbdt.val_score is not None
    assert "wall clock" in gbdt.timing_method


def test_a_trainer_without_steps_reaches_its_target_after_training_not_at_zero(tmp_path):
    suite = tmp_path / "gbdt.yaml"
    suite.write_text(
        "name: g\nseeds: [0]\nthreads: 1\nbudget: {steps: 10}\nexecutor: {kind: inline}\n"
        "tasks: [tabular-real]\narchitectures: [gbdt]\n"
    )
    [record] = nnbench.run_suite(suite, db=tmp_path / "g.db", quiet=True).records
    assert record["status"] == "ok" and record["train_s"] > 0
    assert record["timing_method"].startswith("wall clock of train()")
    if record["reached_target"]:
        assert record["time_to_target_s"] == record["train_s"]
    curve = nnbench.load_curves(tmp_path / "g.db")
    assert (curve[curve.split == "val"].train_s == record["train_s"]).all()
