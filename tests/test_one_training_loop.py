"""The one way to train: the core's loop drives every architecture, with the suite's training settings.

GAN and diffusion train through ``optimizers``/``step`` like everyone else, so a suite's ``lr`` reaches
their optimizers: ``lr: 1e-9`` leaves their weights where they started, as it does an MLP's.
"""

from __future__ import annotations

import textwrap

import pytest
import torch

import nnbench
from nnbench import hookimpl
from nnbench.training import OptimizerMaker
from nnbench.types import TrainingSettings

SUITE = """
name: lr
seeds: [0]
threads: 1
budget: {steps: 40}
training: {batch_size: 64, eval_every: 0, warmup_steps: 1, lr: LR}
executor: {kind: inline}
tasks: [toy2d, digits]
architectures: [mlp, gan, diffusion]
"""


class _Movement:
    """A train_model wrapper that measures how far training moved each trial's parameters."""

    def __init__(self):
        self.moved: dict[tuple[str, str], float] = {}

    @hookimpl(wrapper=True)
    def train_model(self, model, architecture, task):
        before = [p.detach().clone() for p in model.parameters()]
        result = yield
        after = list(model.parameters())
        self.moved[(architecture.name, task.name)] = max(
            float((a.detach() - b).abs().max()) for a, b in zip(after, before)
        )
        return result


def _run(tmp_path, lr: str) -> tuple[dict, dict]:
    from nnbench import plugins
    from nnbench.plan import expand
    from nnbench.suite import load_suite
    from nnbench.trial import execute_trial

    path = tmp_path / f"lr-{lr}.yaml"
    path.write_text(textwrap.dedent(SUITE.replace("LR", lr)))
    movement = _Movement()
    plugins.register(movement, "test:movement")
    records = {}
    try:
        for planned in expand(load_suite(path), "cpu").trials:
            if not planned.not_applicable:
                record, _ = execute_trial(planned.spec, planned.arch_label)
                assert record["status"] == "ok", record.get("traceback")
                records[(planned.spec.architecture, planned.spec.task)] = record
    finally:
        plugins.unregister("test:movement")
    return records, movement.moved


@pytest.mark.slow
def test_a_tiny_suite_lr_cripples_gan_and_diffusion_as_it_cripples_mlp(tmp_path):
    crippled, still = _run(tmp_path, "1e-9")
    trained, moved = _run(tmp_path, "2e-3")
    assert set(still) == {("mlp", "digits"), ("gan", "toy2d"), ("diffusion", "toy2d")}
    for key in still:
        # Adam moves a weight by about lr per step: 40 steps of 1e-9 (times the GAN's 0.1) stay below 1e-7
        assert still[key] < 1e-7, (key, still[key])
        assert moved[key] > 1e-3, (key, moved[key])
    for name in ("gan", "diffusion"):  # and the score says so: MMD to the data, lower is better
        assert crippled[(name, "toy2d")]["val_score"] > 1.5 * trained[(name, "toy2d")]["val_score"], name
        assert trained[(name, "toy2d")]["trainer"] == "step"
    assert trained[("mlp", "digits")]["trainer"] == "generic"


def test_make_applies_the_suite_optimizer_rate_and_decay_with_a_per_group_multiple():
    gan = nnbench.get_architecture("gan")
    task = nnbench.get_task("toy2d")
    spec = task(task.Config()).spec()
    config = gan.Config(critic_lr_scale=0.4, beta1=0.0)
    model = gan.build(spec, config)
    settings = TrainingSettings(optimizer="adam", lr=1e-2, weight_decay=0.01)
    make = OptimizerMaker(settings)
    opt_g, opt_d = gan.optimizers(model, config, make)
    assert type(opt_g) is torch.optim.Adam and type(opt_d) is torch.optim.Adam
    assert opt_g.param_groups[0]["lr"] == pytest.approx(1e-2 * config.lr_scale)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.4)
    assert opt_d.param_groups[0]["weight_decay"] == 0.01 and opt_d.param_groups[0]["betas"] == (0.0, 0.9)
    assert make.made == [opt_g, opt_d]
    with pytest.raises(ValueError, match="lr_scale is a multiple of the suite's learning rate > 0"):
        make(model.parameters(), lr_scale=0)
