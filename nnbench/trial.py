"""One trial from start to finish: data, build, warm-up, timed training, evaluation, every measured field.

Every executor calls :func:`execute_trial`; it returns the trial's record and curve whatever happens
inside (an exception becomes status ``error`` with its traceback, a non-finite loss ``diverged``,
torch's out-of-memory error ``oom``).
"""

from __future__ import annotations

import math
import os
import random
import time
import traceback
from typing import Any

from nnbench.types import RunContext, TrialSpec


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _set_threads(spec: TrialSpec) -> None:
    # Set from the suite, not from whichever executor runs the trial, so results do not depend on it.
    import torch

    if spec.threads:
        torch.set_num_threads(spec.threads)


def _apply_backend_flags(spec: TrialSpec) -> None:
    # Precision flags are process-wide in torch; each trial sets all of them, so no trial inherits
    # another's (the inline executor runs several trials in one process).
    import torch

    if spec.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = spec.training.precision == "tf32"
        torch.backends.cudnn.allow_tf32 = spec.training.precision == "tf32"
        torch.backends.cudnn.benchmark = spec.training.cudnn_benchmark


INFERENCE_MIN_CALLS = 3
INFERENCE_MIN_SECONDS = 0.2


def inference_throughput(
    model, task, loop, batch_size: int, min_seconds: float = INFERENCE_MIN_SECONDS
) -> dict[str, Any]:
    """Samples per second of the model's forward pass (or ``sample`` for generators) on an eval batch.

    Two warm-up calls, then calls until both :data:`INFERENCE_MIN_CALLS` calls and ``min_seconds``
    have passed by the host clock (a slow model takes longer; there is no cap on the calls). On CUDA
    the clock is read after a synchronisation, so the calls still queued then are in the time.
    Returns ``inference_samples_per_s``, ``inference_calls`` and ``inference_s``.
    """
    import torch

    from nnbench import measure

    x = task.data["val"][0][:batch_size]
    generate = task.spec().kind == "generation"
    n = x.shape[0]
    model.eval()
    with torch.no_grad(), loop.autocast():

        def call():
            return model.sample(n) if generate else model(x)

        for _ in range(2):  # warm-up
            call()
        measure.sync(loop.device)
        calls, started = 0, time.perf_counter()
        while calls < INFERENCE_MIN_CALLS or time.perf_counter() - started < min_seconds:
            call()
            calls += 1
        measure.sync(loop.device)  # on CUDA queued calls finish here: elapsed covers them all
        elapsed = time.perf_counter() - started
    return {
        "inference_samples_per_s": n * calls / elapsed if elapsed > 0 else None,
        "inference_calls": calls,
        "inference_s": elapsed,
    }


def _energy_fields(loop, used_loop: bool, samples: int, trial: dict[str, Any]) -> dict[str, Any]:
    """Energy of the timed window (``energy_j``, per training sample) and of the whole trial."""
    window = loop.window_energy.stop()
    if not used_loop:
        window = {
            "energy_j": None,
            "energy_method": "unavailable",
            "energy_domains": None,
            "energy_note": "no timed window: train() did not use ctx.loop.steps()",
        }
    energy = window["energy_j"]
    return {
        **window,
        "energy_per_sample_j": energy / samples if energy is not None and samples else None,
        "trial_energy_j": trial["energy_j"],
        "trial_energy_domains": trial["energy_domains"],
    }


def base_record(spec: TrialSpec, arch_label: str = "") -> dict[str, Any]:
    """The identity fields of a trial's record."""
    return {
        "trial_id": spec.trial_id,
        "architecture": spec.architecture,
        "arch_label": arch_label or spec.architecture,
        "arch_config": spec.arch_config,
        "task": spec.task,
        "task_config": spec.task_config,
        "task_version": spec.task_version,
        "seed": spec.seed,
        "device": spec.device,
        "batch_size": spec.training.batch_size,
        "optimizer": spec.training.optimizer,
        "lr": spec.training.lr,
        "weight_decay": spec.training.weight_decay,
        "stage": spec.stage,
        "size": spec.size,
        "study": spec.study,
        "tune_index": spec.tune_index,
        "hparams": spec.hparams,
        "tuned_from": spec.tuned_from,
        "tune_trials": spec.tune_trials,
        "tune_sampler": spec.tune_sampler,
        "budget_steps": spec.budget.steps,
        "budget_s": spec.budget.seconds,
        "threads": spec.threads,
        "error": None,
    }


def failure_record(spec: TrialSpec, status: str, error: str, arch_label: str = "") -> dict[str, Any]:
    """The record of a trial that produced no measurement (skipped, timeout, crashed, ...)."""
    record = base_record(spec, arch_label)
    record.update(status=status, error=error, finished_at=time.time())
    return record


OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory")


def _is_oom(exc: BaseException) -> bool:
    """torch's out-of-memory error on CUDA, or an allocation failure on the CPU."""
    import torch

    oom_types = (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))
    return isinstance(exc, oom_types) or any(m in str(exc).lower() for m in OOM_MESSAGES)


def _compile_note(spec: TrialSpec, compiled: bool | None, trainer: str | None) -> str:
    if compiled:
        return "first compiled warm-up step (compile and its first run), outside train_s"
    if not spec.training.compile:
        return "torch.compile off"
    if compiled is False:
        return (
            "compile asked for, but step() never called the model it was given (only its parts): not compiled"
        )
    if trainer == "architecture":
        return "compile asked for, but the architecture runs its own train(): not compiled"
    return "compile asked for, but a train_model hook replaced the core's loop: not compiled"


def execute_trial(
    spec: TrialSpec, arch_label: str = "", progress=None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run one trial; return ``(record, curve)``. Never raises for a failure inside the trial."""
    import torch

    from nnbench import context_probe, measure, plugins, registry
    from nnbench.training import TrainingLoop

    started = time.perf_counter()
    record = base_record(spec, arch_label)
    curve: list[dict[str, Any]] = []
    loop = None
    memory = measure.TrialMemory(spec.device)
    try:
        for plugin_file in spec.plugin_files:
            plugins.load_plugin_file(plugin_file)
        architecture = registry.get_architecture(spec.architecture)
        task_cls = registry.get_task(spec.task)
        _set_threads(spec)
        _apply_backend_flags(spec)
        _seed_everything(spec.seed)

        # -- setup (own timer): data on the device, model built and moved there ------------------
        measure.load_lazy_modules()  # once per process, outside the timers and below the memory baseline
        trial_energy = measure.EnergyMeter(spec.device)  # the whole trial, setup to inference
        trial_energy.start()
        setup_started = time.perf_counter()
        task = task_cls(task_cls.Config(**spec.task_config))
        task.setup(spec.seed, spec.device)
        task_spec = task.spec()
        config = architecture.Config(**spec.arch_config)
        ctx = RunContext(trial=spec, device=spec.device, task=task)
        hook = plugins.pm.hook
        memory.start()  # the baseline: torch, the task's data and whatever the process held before
        model = hook.build_model(architecture=architecture, task=task_spec, config=config, ctx=ctx)
        if model is None:
            raise RuntimeError(f"build_model returned None for {spec.architecture}")
        model = model.to(spec.device)
        if spec.training.channels_last and task_spec.modality == "image":
            model = model.to(memory_format=torch.channels_last)
            for split, (x, y) in task.data.items():
                if x.dim() == 4:
                    task.data[split] = (x.contiguous(memory_format=torch.channels_last), y)
        metric = task.metric()
        loop = TrainingLoop(task, ctx, log_metrics=hook.log_metrics)
        loop.window_energy = measure.EnergyMeter(spec.device)  # runs while the training clock does
        if progress is not None:
            loop.progress = progress
        ctx.loop = loop
        measure.sync(spec.device)
        setup_s = time.perf_counter() - setup_started

        # -- warm-up and timed training (inside the loop) ----------------------------------------
        train_started = time.perf_counter()
        result = hook.train_model(model=model, architecture=architecture, task=task, config=config, ctx=ctx)
        measure.sync(spec.device)
        train_call_s = time.perf_counter() - train_started
        training_memory = memory.window()  # build, warm-up, timed training and its validations
        eval_s = loop.eval_s  # validation evaluations during training; the test's is final_eval_s

        # -- evaluation of the selected checkpoint (untimed) ---------------------------------------
        eval_started = time.perf_counter()
        used_loop = loop.step > 0 or loop.train_s > 0
        selected_step = loop.step
        if loop.best_state is not None and loop.best_step != loop.step:
            model.load_state_dict(loop.best_state)
            selected_step = loop.best_step
        test_metrics = loop.evaluate(model, "test") if not result.diverged else {}
        extra_metrics = {}
        if not result.diverged:
            for split in task.extra_splits:
                extra_metrics[split] = loop.evaluate(model, split)
        final_eval_s = time.perf_counter() - eval_started
        inference = (
            {"inference_samples_per_s": None, "inference_calls": None, "inference_s": None}
            if result.diverged
            else inference_throughput(model, task, loop, spec.training.batch_size)
        )
        eval_memory = memory.window()  # the test evaluation and the inference-throughput calls
        trial_energy_fields = trial_energy.stop()

        val_points = [p["value"] for p in loop.curve if p["split"] == "val" and p["metric"] == metric.name]
        params = sum(p.numel() for p in model.parameters())
        train_s = loop.train_s if used_loop else max(train_call_s - eval_s, 0.0)
        if not used_loop:
            # A trainer without steps (gbdt) evaluates after fitting: those points come at the end of
            # its training time, not at 0 s, and so does reaching the target.
            for point in loop.curve:
                point["train_s"] = train_s
            if loop.time_to_target_s is not None:
                loop.time_to_target_s = train_s
                loop.steps_to_target = result.steps
                loop.samples_to_target = result.samples
        timing = measure.step_time_stats(loop.timer.step_seconds() if used_loop else [])
        flops = loop.flops.get("flops")
        total_flops = flops * result.steps if flops is not None else None
        achieved = total_flops / train_s / 1e12 if total_flops is not None and train_s > 0 else None
        name = measure.device_name(spec.device)
        precision = measure.precision_name(spec.device, spec.training.precision)
        trainer = ctx.extra.get("trainer")
        compiled = bool(loop.compiled)  # the core compiled the model and step() called it
        samples = loop.samples if used_loop else result.samples
        sequence_length = task_spec.input_shape[0] if task_spec.modality == "sequence" else None

        record.update(
            status="diverged" if result.diverged else "ok",
            error="non-finite training loss" if result.diverged else None,
            device_name=name,
            precision=precision,
            compile=compiled,
            channels_last=spec.training.channels_last and task_spec.modality == "image",
            cudnn_benchmark=spec.training.cudnn_benchmark if spec.device == "cuda" else None,
            trainer=trainer,
            metric=metric.name,
            higher_is_better=metric.higher_is_better,
            target=metric.target,
            # what verdicts read from the store: the equivalence margin and the normalisation anchors
            margin=metric.margin.value if metric.margin is not None else None,
            margin_relative=metric.margin.relative if metric.margin is not None else None,
            anchors=list(metric.anchors) if metric.anchors is not None else None,
            val_score=loop.best_val,
            val_final=val_points[-1] if val_points else None,
            test_score=test_metrics.get(metric.name),
            test_metrics=test_metrics,
            extra_metrics=extra_metrics or None,
            reference=bool(getattr(architecture, "reference", False)),
            selected_step=selected_step,
            reached_target=metric.reached(loop.best_val) if metric.target is not None else None,
            time_to_target_s=loop.time_to_target_s,
            steps_to_target=loop.steps_to_target,
            samples_to_target=loop.samples_to_target,
            steps=result.steps,
            samples=samples,
            final_loss=result.final_loss,
            setup_s=setup_s,
            warmup_s=loop.warmup_s,
            compile_s=loop.warmup_step_s[0] if compiled and loop.warmup_step_s else None,
            compile_note=_compile_note(spec, loop.compiled, trainer),
            train_s=train_s,
            eval_s=eval_s,
            final_eval_s=final_eval_s,
            timing_method=("cuda events" if spec.device == "cuda" else "perf_counter")
            if used_loop
            else "wall clock of train(): the loop did not use ctx.loop.steps()",
            **timing,
            samples_per_s=samples / train_s if train_s > 0 else None,
            **inference,
            tokens_per_s=samples * sequence_length / train_s if sequence_length and train_s > 0 else None,
            params=params,
            flops_per_step=flops,
            flops_method=loop.flops.get("flops_method"),
            total_train_flops=total_flops,
            achieved_tflops=achieved,
            mfu=measure.mfu(achieved, name, precision),
            mfu_note=None
            if measure.mfu(achieved, name, precision) is not None
            else f"no dense-peak figure for {name} at {precision} in nnbench's table",
            time_floor_s=measure.time_floor(total_flops, name, precision),
            **memory.fields(training_memory, eval_memory),
            **_energy_fields(loop, used_loop, samples, trial_energy_fields),
            **measure.cost_fields(train_s, spec.device, spec.price_per_hour_usd),
            torch_version=torch.__version__,
            torch_threads=torch.get_num_threads(),
            pid=os.getpid(),
        )
        cost_rate = record["cost_usd"] / train_s if record["cost_usd"] is not None and train_s > 0 else None
        record["cost_to_target_usd"] = (
            loop.time_to_target_s * cost_rate
            if loop.time_to_target_s is not None and cost_rate is not None
            else None
        )
        # Width, state size and (when the suite asks) inference against context length: after the
        # trial's own memory fields are read, so the probes' long sequences cannot raise its peak.
        record.update(
            context_probe.sequence_fields(architecture, config, task_spec, model, spec, loop.autocast)
        )
        if record["val_score"] is not None and not math.isfinite(record["val_score"]):
            record["val_score"] = None
    except Exception as exc:
        record.update(status="oom" if _is_oom(exc) else "error", error=f"{type(exc).__name__}: {exc}")
        record["traceback"] = traceback.format_exc()
    finally:
        memory.close()
    if loop is not None:
        curve = loop.curve
    record["wall_s"] = time.perf_counter() - started
    record["finished_at"] = time.time()
    return record, curve
