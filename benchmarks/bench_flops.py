"""FLOPs you can check: nnbench's count of one training step against an independent count, per built-in.

Run: ``python benchmarks/bench_flops.py`` (prints the table) or ``pytest benchmarks/bench_flops.py -s``
(prints it and fails when a ratio leaves 1 by more than 0.1% without an explanation).

nnbench counts a step with ``torch.utils.flop_counter.FlopCounterMode`` at the level of aten operators
(with its own formulas for fused attention kernels, and LSTM/GRU layers replaced by a formula). The
independent count here never looks at aten operators: module hooks read each layer's shapes and apply
the textbook count (2 FLOPs per multiply-add: a linear layer ``2 x rows x in x out``, a convolution
``2 x output elements x in-channels/groups x kernel``, attention ``Q K^T`` and ``P V``), and a tensor
hook on each layer's output adds the backward pass only when a gradient actually reaches it (the
weights' gradient when the weights need one, the input's when the input needs one). A recurrent layer
is counted by running an unrolled copy made of ``LSTMCell``/``GRUCell`` steps, which decompose into
products, with the same shapes. Both counts see the very same training step: the one nnbench counts
(the first warm-up step of a real trial), with the architecture's own loop (GAN, diffusion) included.

For the Transformer a third count is written out in closed form: 6 x weight-matrix entries x tokens
plus 12 x batch x tokens^2 x width per block for attention, adjusted for the tokenizer and the head.

Neither count includes elementwise work (activations, norms, softmax, optimizer updates) or
matrix-vector products (spectral normalisation's power iteration): FLOPs here are those of matrix
products and convolutions, the convention of FlopCounterMode, fvcore and MFU.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nnbench import measure, plugins
from nnbench.plan import expand
from nnbench.suite import load_suite
from nnbench.trial import execute_trial

# (architecture, task, architecture options, task options): every built-in on a representative task,
# and on a second one where the architecture takes another path (tokens, images, causal masks).
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("mlp", "digits", {}, {}),
    ("mlp", "running-parity", {}, {}),  # causal: masked weight matrices
    ("cnn", "digits-shifted", {}, {}),  # 2-D convolutions
    ("cnn", "mnist1d", {}, {}),  # dilated 1-D convolutions
    ("rnn", "mnist1d", {}, {}),  # LSTM over raw features (no input gradient)
    ("rnn", "running-parity", {"cell": "gru", "layers": 2}, {}),  # GRU over embeddings
    ("transformer", "mnist1d", {}, {}),  # 40 feature tokens + CLS
    ("transformer", "mqar", {}, {"n_train": 512}),  # 64 tokens, causal, per-position head
    ("transformer", "tabular-real", {}, {}),  # FT-Transformer: 30 feature tokens + CLS
    ("transformer", "digits", {}, {}),  # ViT: 4 patches + CLS
    ("gan", "toy2d", {}, {}),  # MLP generator and spectral-norm critic, own loop
    ("gan", "digits-gen", {}, {}),  # DCGAN-style nets
    ("diffusion", "toy2d", {}, {}),  # MLP denoiser with time embedding
    ("diffusion", "digits-gen", {}, {}),  # U-Net
    ("gbdt", "tabular-real", {}, {}),  # not a neural network
]
BATCH = 64
TOLERANCE = 1e-3  # a ratio further from 1 than this needs an explanation


# -- the independent count ----------------------------------------------------------------------------


def unrolled_recurrent_flops(module: nn.RNNBase, batch: int, steps: int, input_grad: bool) -> tuple[int, int]:
    """(forward, forward + backward) FLOPs of an unrolled copy of ``module`` made of cells, same shapes."""
    from torch.utils.flop_counter import FlopCounterMode

    cell_class = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell}.get(module.mode, nn.RNNCell)
    directions = 2 if module.bidirectional else 1
    hidden = module.hidden_size
    with torch.random.fork_rng(devices=[]):
        cells = [
            [
                cell_class(module.input_size if layer == 0 else hidden * directions, hidden)
                for _ in range(directions)
            ]
            for layer in range(module.num_layers)
        ]
        x = torch.randn(batch, steps, module.input_size, requires_grad=input_grad)
    with FlopCounterMode(display=False) as counter:
        layer_input = x
        for layer_cells in cells:
            outputs = []
            for direction, cell in enumerate(layer_cells):
                state = None
                per_step = []
                order = range(steps) if direction == 0 else reversed(range(steps))
                for t in order:
                    state = cell(layer_input[:, t], state)
                    per_step.append(state[0] if isinstance(state, tuple) else state)
                if direction:
                    per_step.reverse()
                outputs.append(torch.stack(per_step, dim=1))  # (B, T, hidden)
            layer_input = torch.cat(outputs, dim=2)  # (B, T, directions * hidden)
        forward = counter.get_total_flops()
        layer_input.sum().backward()
    return forward, counter.get_total_flops()


class LayerCounter:
    """Textbook FLOPs of the layers a model runs, from module hooks; backward only where a gradient arrives."""

    def __init__(self, model: nn.Module):
        self.flops = 0
        self.handles = []
        self.recurrent_calls: list[dict[str, Any]] = []
        for module in model.modules():
            hook = self._hook_for(module)
            if hook is not None:
                self.handles.append(module.register_forward_hook(hook))

    def close(self) -> None:
        """Remove every hook."""
        for handle in self.handles:
            handle.remove()

    def _on_backward(self, output: Any, flops: int) -> None:
        tensor = output[0] if isinstance(output, tuple) else output
        if isinstance(tensor, torch.Tensor) and tensor.requires_grad:

            def add(grad, flops=flops):
                self.flops += flops

            tensor.register_hook(add)

    @staticmethod
    def _weights_need_grad(module: nn.Module) -> bool:
        # Parameters, not module.weight: reading a spectral-normed weight would run its power iteration.
        return any(p.requires_grad for p in module.parameters(recurse=False)) or any(
            p.requires_grad for p in module.parameters()
        )

    def _hook_for(self, module: nn.Module):
        if isinstance(module, nn.Linear):
            return self._linear
        if isinstance(module, nn.modules.conv._ConvNd):
            return self._convolution
        if isinstance(module, nn.RNNBase):
            return self._recurrent
        if type(module).__name__ == "SelfAttention":  # the built-in Transformer's attention core
            return self._attention
        return None

    def _count(self, module, x: torch.Tensor, output, product: int) -> None:
        """One matrix product of ``product`` multiply-adds forward; its gradients when one arrives."""
        self.flops += 2 * product
        backward = 2 * product * (int(self._weights_need_grad(module)) + int(x.requires_grad))
        self._on_backward(output, backward)

    def _linear(self, module: nn.Linear, inputs, output) -> None:
        x = inputs[0]
        rows = x.numel() // module.in_features
        self._count(module, x, output, rows * module.in_features * module.out_features)

    def _convolution(self, module, inputs, output) -> None:
        x = inputs[0]
        kernel = 1
        for side in module.kernel_size:
            kernel *= side
        if module.transposed:  # every input element meets out-channels/groups x kernel weights
            product = x.numel() * module.out_channels // module.groups * kernel
        else:  # every output element sums in-channels/groups x kernel products
            product = output.numel() * module.in_channels // module.groups * kernel
        self._count(module, x, output, product)

    def _attention(self, module, inputs, output) -> None:
        batch, length, width = inputs[0].shape
        forward = 2 * 2 * batch * length * length * width  # Q K^T and P V over all heads
        self.flops += forward
        self._on_backward(output, 2 * forward)  # dP, dV, dQ, dK

    def _recurrent(self, module: nn.RNNBase, inputs, output) -> None:
        # The unrolled copy runs in finish(), after nnbench's counter has closed: run here, its
        # products would be counted by nnbench too.
        x = inputs[0]
        batch, steps = (x.shape[0], x.shape[1]) if module.batch_first else (x.shape[1], x.shape[0])
        call = {"module": module, "shape": (batch, steps, x.requires_grad), "backward": False}
        self.recurrent_calls.append(call)
        states, final = output
        for tensor in (states, *(final if isinstance(final, tuple) else (final,))):
            if tensor.requires_grad:  # a gradient may reach the layer through any of its outputs

                def mark(grad, call=call):
                    call["backward"] = True

                tensor.register_hook(mark)

    def finish(self) -> None:
        """Add the recurrent layers' counts (forward, and backward where a gradient arrived); remove hooks."""
        self.close()
        for call in self.recurrent_calls:
            forward, total = unrolled_recurrent_flops(call["module"], *call["shape"])
            self.flops += total if call["backward"] else forward
        self.recurrent_calls = []


# -- the closed form of the Transformer ----------------------------------------------------------------


def transformer_closed_form(model: nn.Module, task_spec, batch: int) -> int:
    """6 x weight-matrix entries x tokens + attention, for the built-in Transformer, written out."""
    width = model.head.in_features
    depth = len(model.blocks)
    mlp_hidden = model.blocks[0].mlp[0].out_features
    length = model.positions.shape[0] if model.positions is not None else task_spec.input_shape[0]
    tokens_per_sample = length + int(model.use_cls)
    tokens = batch * tokens_per_sample
    block = 3 * width * width + width * width + 2 * width * mlp_hidden  # qkv, projection, MLP
    flops = depth * (6 * block * tokens + 12 * batch * tokens_per_sample**2 * width)
    head_rows = tokens if model.per_position else batch  # every token, or the CLS/mean token
    flops += 6 * model.head.in_features * model.head.out_features * head_rows
    tokenizer = model.tokenizer
    if isinstance(tokenizer, nn.Linear):  # raw features need no input gradient: 4, not 6
        flops += 4 * tokenizer.in_features * tokenizer.out_features * batch * length
    elif isinstance(tokenizer, nn.Conv2d):  # patches: the input image needs no gradient either
        patch_area = tokenizer.kernel_size[0] * tokenizer.kernel_size[1]
        flops += 4 * tokenizer.in_channels * patch_area * width * batch * length
    return flops  # an embedding (lookup) and feature tokens (elementwise) cost no products


# -- one case -----------------------------------------------------------------------------------------


def _spec(folder: Path, architecture: str, task: str, arch_options: dict, task_options: dict):
    def entry(name: str, options: dict) -> str:
        inner = ", ".join(f"{key}: {value}" for key, value in {"name": name, **options}.items())
        return "{" + inner + "}"

    path = folder / f"{architecture}-{task}.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            name: flops
            seeds: [0]
            threads: 1
            budget: {{steps: 1}}
            training: {{batch_size: {BATCH}, eval_every: 0, warmup_steps: 1}}
            tasks: [{entry(task, task_options)}]
            architectures: [{entry(architecture, arch_options)}]
            """
        )
    )
    [planned] = expand(load_suite(path), "cpu").trials
    return planned.spec


def measure_case(folder: Path, architecture: str, task: str, arch_options: dict, task_options: dict) -> dict:
    """nnbench's FLOPs per step and the independent count of the same step (and the closed form)."""
    spec = _spec(folder, architecture, task, arch_options, task_options)
    original = measure.count_step_flops
    seen: dict[str, Any] = {}

    @contextlib.contextmanager
    def both(model):
        counter = LayerCounter(model)
        try:
            with original(model) as result:
                yield result
        finally:
            counter.finish()
        seen["independent"] = counter.flops
        seen["model"] = model

    measure.count_step_flops = both
    try:
        record, _ = execute_trial(spec)
    finally:
        measure.count_step_flops = original
    if record["status"] != "ok":
        raise RuntimeError(f"{architecture} on {task}: {record['status']}: {record.get('error')}")
    row = {
        "case": f"{architecture} on {task}",
        "nnbench": record["flops_per_step"],
        "method": record["flops_method"],
        "independent": seen.get("independent"),
        "closed_form": None,
        "note": "",
    }
    if architecture == "transformer":
        from nnbench import registry

        task_cls = registry.get_task(spec.task)
        row["closed_form"] = transformer_closed_form(
            seen["model"], task_cls(task_cls.Config(**spec.task_config)).spec(), BATCH
        )
    if row["nnbench"] is None:
        row["note"] = f"no FLOPs recorded ({record['flops_method']}): not a network trained in steps"
    elif architecture == "gan":
        # Spectral norm recomputes each critic weight at every critic call (3 a step: real, fake, and
        # the generator's turn): one power iteration (2 matrix-vector products) and sigma (1 more).
        critic_weights = sum(p.numel() for p in seen["model"].critic.parameters() if p.dim() > 1)
        power_iteration = 3 * 3 * 2 * critic_weights
        row["note"] = (
            f"both exclude spectral norm's matrix-vector products: about {power_iteration:,} FLOPs a step "
            f"(3 critic calls x 3 products x 2 x {critic_weights:,} weights), "
            f"{power_iteration / row['nnbench']:.2%} of the step"
        )
    return row


def ratio(a: int | None, b: int | None) -> float | None:
    """a / b, or None when either is missing."""
    return a / b if a is not None and b else None


def run() -> list[dict]:
    """Every case's row."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for architecture, task, arch_options, task_options in CASES:
            plugins.reset()
            rows.append(measure_case(Path(tmp), architecture, task, arch_options, task_options))
    return rows


def report(rows: list[dict]) -> str:
    """The table, one line per case."""
    lines = [
        f"{'case':34} {'nnbench FLOPs/step':>19} {'independent':>14} {'ratio':>7} {'closed form':>14} {'ratio':>7}",
    ]
    for row in rows:
        independent = ratio(row["nnbench"], row["independent"])
        closed = ratio(row["nnbench"], row["closed_form"])

        def fmt(value, width, spec):
            return f"{value:{width}{spec}}" if value is not None else f"{'-':>{width}}"

        lines.append(
            f"{row['case']:34} {fmt(row['nnbench'], 19, ',')} {fmt(row['independent'], 14, ',')} "
            f"{fmt(independent, 7, '.4f')} {fmt(row['closed_form'], 14, ',')} {fmt(closed, 7, '.4f')}"
        )
        if row["note"]:
            lines.append(f"{'':34}   note: {row['note']}")
    return "\n".join(lines)


def unexplained(rows: list[dict]) -> list[str]:
    """Cases whose ratio leaves 1 by more than TOLERANCE with no note saying why."""
    bad = []
    for row in rows:
        for other in ("independent", "closed_form"):
            value = ratio(row["nnbench"], row[other])
            if value is not None and abs(value - 1) > TOLERANCE and not row["note"]:
                bad.append(f"{row['case']}: nnbench / {other} = {value:.4f}")
    return bad


def test_flops_against_independent_counts():
    rows = run()
    print("\n" + report(rows))
    assert not unexplained(rows)
    assert all(row["independent"] for row in rows if row["nnbench"] is not None)


if __name__ == "__main__":
    torch.set_num_threads(1)
    table = run()
    print(report(table))
    problems = unexplained(table)
    for problem in problems:
        print(f"unexplained gap: {problem}")
    sys.exit(1 if problems else 0)
