"""The one training loop changes no supervised result: records equal those of the code before it.

The reference values below were recorded with the generic supervised trainer as it was before the
loop became one (commit 88edeec on main), on the same trials: fixed seed, a steps budget, one torch
thread, validation every 10 steps (so checkpoint selection is exercised). A refactor of the loop that
changes the batches, the random state, the order of the updates or the checkpoint chosen moves them.
"""

from __future__ import annotations

import textwrap

import pytest

SUITE = """
name: reference
seeds: [3]
threads: 1
budget: {steps: 30}
training: {batch_size: 32, eval_every: 10, warmup_steps: 2, lr: 3e-3}
executor: {kind: inline}
tasks:
  - digits
  - {name: running-parity, seq_len: 16, n_train: 256, n_val: 64, n_test: 64}
architectures: [mlp, cnn, rnn, transformer, ssm, linear-attention, hyena]
"""
# bf16 autocast on the CPU: the one loop runs the whole step under autocast, the old trainer only the
# forward pass; the records must agree all the same.
BF16 = {"training": {"precision": "bf16"}}

# (architecture, task, precision) -> (test_score, steps, final_loss), recorded before the change.
REFERENCE: dict[tuple[str, str, str], tuple[float, int, float]] = {
    ("cnn", "digits", "bf16"): (0.5583333373069763, 30, 1.6068426370620728),
    ("cnn", "digits", "fp32"): (0.5555555820465088, 30, 1.6107909679412842),
    ("cnn", "running-parity", "bf16"): (0.5947265625, 30, 0.6104831695556641),
    ("cnn", "running-parity", "fp32"): (0.5947265625, 30, 0.6104265451431274),
    ("hyena", "running-parity", "fp32"): (0.6376953125, 30, 0.592438280582428),
    ("linear-attention", "running-parity", "fp32"): (0.546875, 30, 0.6499225497245789),
    ("mlp", "digits", "fp32"): (0.7749999761581421, 30, 0.6046730875968933),
    ("mlp", "running-parity", "fp32"): (0.5380859375, 30, 0.6727353930473328),
    ("rnn", "digits", "fp32"): (0.46388888359069824, 30, 1.5614179372787476),
    ("rnn", "running-parity", "fp32"): (0.5478515625, 30, 0.6722431778907776),
    ("ssm", "running-parity", "fp32"): (0.5732421875, 30, 0.6321296095848083),
    ("transformer", "digits", "bf16"): (0.6944444179534912, 30, 1.1608823537826538),
    ("transformer", "digits", "fp32"): (0.6388888955116272, 30, 1.2331897020339966),
    ("transformer", "running-parity", "bf16"): (0.556640625, 30, 0.640902042388916),
    ("transformer", "running-parity", "fp32"): (0.556640625, 30, 0.640863299369812),
}


def reference_records(tmp_path) -> dict[tuple[str, str, str], dict]:
    """Run the reference trials (every supervised built-in its tasks take, and two in bf16)."""
    from nnbench.plan import expand
    from nnbench.suite import load_suite
    from nnbench.trial import execute_trial

    path = tmp_path / "reference.yaml"
    bf16 = SUITE.replace(
        "architectures: [mlp, cnn, rnn, transformer, ssm, linear-attention, hyena]",
        "architectures: [{name: cnn, training: {precision: bf16}}, {name: transformer, training: {precision: bf16}}]",
    ).replace("name: reference", "name: reference-bf16")
    records = {}
    for text in (SUITE, bf16):
        path.write_text(textwrap.dedent(text))
        for planned in expand(load_suite(path), "cpu").trials:
            if planned.not_applicable:
                continue
            spec = planned.spec
            record, _ = execute_trial(spec, planned.arch_label)
            records[(spec.architecture, spec.task, spec.training.precision)] = record
    return records


@pytest.mark.slow
def test_supervised_records_equal_those_before_the_one_loop(tmp_path):
    records = reference_records(tmp_path)
    assert set(records) == set(REFERENCE)
    for key, (test_score, steps, final_loss) in REFERENCE.items():
        record = records[key]
        assert record["status"] == "ok", (key, record.get("traceback"))
        assert record["steps"] == steps, key
        assert record["test_score"] == pytest.approx(test_score, rel=1e-6, abs=1e-9), key
        assert record["final_loss"] == pytest.approx(final_loss, rel=1e-6, abs=1e-9), key


if __name__ == "__main__":  # prints REFERENCE as it is for the code checked out
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for key, record in sorted(reference_records(pathlib.Path(folder)).items()):
            print(f"    {key!r}: ({record['test_score']!r}, {record['steps']!r}, {record['final_loss']!r}),")
