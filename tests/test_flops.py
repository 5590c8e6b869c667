"""FLOPs per step: attention counted on every kernel alike, against an analytic count of a small Transformer."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from nnbench import measure
from nnbench.plan import expand
from nnbench.suite import load_suite
from nnbench.trial import execute_trial

# A small causal Transformer on running-parity: tokens in, one logit pair per position out.
BATCH, LENGTH, WIDTH, DEPTH, HEADS, CLASSES = 16, 32, 32, 2, 2, 2


def transformer_trial(write_suite, dropout: float = 0.0):
    path = write_suite(
        f"name: f\nseeds: [0]\nthreads: 1\nbudget: {{steps: 2}}\n"
        f"training: {{batch_size: {BATCH}, eval_every: 0, warmup_steps: 1}}\n"
        f"tasks: [{{name: running-parity, seq_len: {LENGTH}, n_train: 64, n_val: 16, n_test: 16}}]\n"
        f"architectures: [{{name: transformer, d_model: {WIDTH}, depth: {DEPTH}, heads: {HEADS}, "
        f"dropout: {dropout}}}]\n"
    )
    [planned] = expand(load_suite(path), "cpu").trials
    record, _ = execute_trial(planned.spec, planned.arch_label)
    assert record["status"] == "ok", record.get("traceback")
    return record


def analytic_transformer_step_flops() -> int:
    """The FLOPs of one training step of the Transformer above, written out.

    Every weight matrix of a block is applied to all B x L tokens: qkv (d x 3d), the output
    projection (d x d) and the MLP (d x 4d, 4d x d), 12 d^2 weights a block. A matrix product costs
    2 FLOPs per multiply-add forward and twice that backward (the input's and the weight's
    gradients): 6 x weights x tokens. The head (d x classes) is applied to every token too. The token
    embedding is a lookup (no FLOPs), biases and layer norms are not matrix products.

    Attention per block: Q K^T and P V, each 2 x B x L x L x d forward (over all heads, head width
    d / heads), and four such products backward: 12 x B x L^2 x d. The causal mask is not subtracted
    (the math path computes the whole score matrix).
    """
    tokens = BATCH * LENGTH
    matrix_weights = DEPTH * 12 * WIDTH**2 + WIDTH * CLASSES
    attention = DEPTH * 12 * BATCH * LENGTH**2 * WIDTH
    return 6 * matrix_weights * tokens + attention


def test_transformer_flops_equal_the_analytic_count(write_suite):
    record = transformer_trial(write_suite)
    assert record["flops_per_step"] == analytic_transformer_step_flops()
    assert record["flops_method"] == "FlopCounterMode"


def test_attention_flops_do_not_depend_on_dropout(write_suite):
    # dropout 0 runs the CPU's fused kernel, dropout > 0 the math path: the same FLOPs.
    assert (
        transformer_trial(write_suite, 0.0)["flops_per_step"]
        == transformer_trial(write_suite, 0.1)["flops_per_step"]
    )


def attention_step_flops(backend: SDPBackend, dropout: float, causal: bool) -> int:
    q, k, v = (torch.randn(3, 4, 24, 8, requires_grad=True) for _ in range(3))
    with sdpa_kernel(backend), measure.count_flops() as counted:
        torch.nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=dropout, is_causal=causal
        ).sum().backward()
    return counted["flops"]


@pytest.mark.parametrize("causal", [False, True])
def test_every_cpu_backend_and_dropout_counts_alike(causal):
    # forward 2 x 3 x 4 x 24 x 24 x (8 + 8), backward twice that
    expected = 3 * 2 * 3 * 4 * 24 * 24 * 16
    assert attention_step_flops(SDPBackend.MATH, 0.0, causal) == expected
    assert attention_step_flops(SDPBackend.MATH, 0.5, causal) == expected
    assert attention_step_flops(SDPBackend.FLASH_ATTENTION, 0.0, causal) == expected


def test_without_the_formulas_the_cpu_kernel_counts_nothing():
    """The reason for the formulas: torch's registry does not know the CPU's fused kernel."""
    from torch.utils.flop_counter import FlopCounterMode

    q = torch.randn(2, 2, 16, 8)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION), FlopCounterMode(display=False) as counter:
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
    assert counter.get_total_flops() == 0


def test_every_fused_kernel_is_counted_as_the_math_path():
    """Each formula reads (query, key, value) from the arguments where the kernel's schema has them.

    CUDA's kernels cannot run here, so their formulas are called as FlopCounterMode calls them, on
    meta tensors, after checking the schema's argument names: a reordered schema fails this test.
    """
    from torch.utils.flop_counter import FlopCounterMode

    formulas = measure.attention_flop_formulas()
    aten = torch.ops.aten
    assert aten._scaled_dot_product_flash_attention_for_cpu in formulas  # the kernel the CPU runs
    assert aten._scaled_dot_product_efficient_attention_backward in formulas
    registry = FlopCounterMode(display=False, custom_mapping=formulas).flop_registry
    query = torch.empty(2, 8, 10, 16, device="meta")  # 8 query heads
    key = torch.empty(2, 2, 12, 16, device="meta")  # grouped: 2 key/value heads, 12 positions
    value = torch.empty(2, 2, 12, 32, device="meta")
    forward = 2 * 2 * 8 * 10 * 12 * (16 + 32)
    for packet in formulas:
        names = [argument.name for argument in packet.default._schema.arguments]
        if packet._qualified_op_name.endswith("_backward"):
            assert names[0].startswith("grad_out") and names[1:4] == ["query", "key", "value"], names
            grad_out = torch.empty(2, 8, 10, 32, device="meta")
            assert registry[packet](grad_out, query, key, value, out_val=None) == 2 * forward, packet
        else:
            assert names[:3] == ["query", "key", "value"], names
            assert registry[packet](query, key, value, out_val=None) == forward, packet


def test_grouped_query_attention_counts_as_the_math_path():
    q = torch.randn(2, 8, 10, 16, requires_grad=True)
    k = torch.randn(2, 2, 12, 16, requires_grad=True)
    v = torch.randn(2, 2, 12, 16, requires_grad=True)
    counts = []
    for backend in (SDPBackend.MATH, SDPBackend.FLASH_ATTENTION):
        with sdpa_kernel(backend), measure.count_flops() as counted:
            torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True).sum().backward()
        counts.append(counted["flops"])
    assert counts == [3 * 2 * 2 * 8 * 10 * 12 * 32] * 2
