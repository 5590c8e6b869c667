"""Synthetic results stores for testing and benchmarking reports: realistic rows, no training.

``write_store(path, tasks=3, architectures=4, seeds=3)`` writes a store through
:class:`nnbench.store.Store` exactly as the runner does: one run, one record per trial with every
measured field of MEASUREMENT.md, and learning curves (validation primary metric and loss, then the
test point). Scores, times and costs are drawn from a seeded generator, so the same arguments give
the same store. Some trials fail (error, timeout, diverged), some pairs are n/a (skipped), the
first architecture can be a non-neural reference, and ``hostile=True`` puts markup and
``</script>`` into names, configs, errors and the suite, for escaping tests.

Two options make the rows of the report's tuning and scaling sections, as a tuned or size-swept
suite stores them:

- ``sizes=("xs", "s", "m", "l")`` runs every neural architecture at each named size (label
  ``arch1 size=s``, column ``size``), its width, parameters and FLOPs growing with the size and its
  error falling as a power law of them; ``arch3`` has no FLOPs count (``total_train_flops`` null);
- ``tuning=N`` replaces the neural architectures' trials on the first ``tuned_tasks`` tasks (default
  all) with a tuning study of N trials (``stage`` "tune", one seed, half the budget, sampled
  ``hparams``) and the re-run of its best configuration on every seed (``stage`` "final", label
  ``... (tuned)``).

Several runs in one store, for the history pages of ``nnbench publish``: :func:`write_history` writes
``runs`` runs of the same suite, a day apart, each with its own git sha and noise (``noise_seed``),
and trial ids that hash the run id (``id_per_run``: the runner's do not, so in a real store a second
run of an unchanged suite resumes instead). ``changes`` makes an entry's quality drop or its times
grow in one run (:class:`Change`), so a test knows which run a change must be decided on.
"""

from __future__ import annotations

import hashlib
import json
import math
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

HOSTILE_TASK = "<b>parity</b></script><script>alert('task')</script>"
HOSTILE_ARCH = "<img src=x onerror=alert(1)>"
HOSTILE_CONFIG_NOTE = "</script><script>alert('config')</script>"
HOSTILE_ERROR = "RuntimeError: boom </script><script>alert('error')</script>"
HOSTILE_SUITE = "<i>smoke</i></title><script>alert('suite')</script>"

PRICE_PER_HOUR = 3.5
SIZES = ("xs", "s", "m", "l")  # the named sizes a sized store sweeps, smallest first
TUNE_STEPS = 300  # a tuning trial's budget: half a main trial's
TUNE_SAMPLER = "tpe"
DEVICE_NAMES = {"cuda": "NVIDIA H100 80GB HBM3", "cpu": "AMD EPYC"}
GIT_SHA = "0123456789abcdef0123456789abcdef01234567"
START = 1735689600.0  # 2025-01-01 00:00 UTC: the first run of a synthetic history
DAY = 86400.0


@dataclass(frozen=True)
class Change:
    """How one architecture entry differs in a run from the store's other runs.

    ``quality_drop`` moves its quality towards worse by that much (in score units: an accuracy falls,
    an error rises); ``slowdown`` multiplies its times (step time, training time, cost).
    """

    quality_drop: float = 0.0
    slowdown: float = 1.0


def _task_specs(tasks: int, hostile: bool) -> list[dict]:
    specs = []
    for i in range(tasks):
        higher = i % 3 != 2  # every third task is an error metric (lower is better)
        name = f"synthetic-{i:02d}"
        if hostile and i == 1:
            name = HOSTILE_TASK
        specs.append(
            {
                "name": name,
                "metric": "accuracy" if higher else "mse",
                "higher_is_better": higher,
                # every fourth task has no target
                "target": None if i % 4 == 3 else (0.85 if higher else 0.2),
                "config": {"n_train": 1000 + 100 * i},
            }
        )
    return specs


def _arch_specs(architectures: int, hostile: bool, reference: bool) -> list[dict]:
    specs = []
    for k in range(architectures):
        name, config = f"arch{k % 7}", {"width": 32 * (1 + k // 7)}
        if reference and k == 0:
            name, config = "gbdt", {"trees": 100}
        if hostile and k == architectures - 1:
            name, config = HOSTILE_ARCH, {"note": HOSTILE_CONFIG_NOTE}
        label = " ".join([name, *(f"{key}={value}" for key, value in sorted(config.items()))])
        specs.append({"name": name, "config": config, "label": label, "reference": reference and k == 0})
    return specs


def trials(
    *,
    tasks: int = 3,
    architectures: int = 4,
    seeds: int = 3,
    points: int = 5,
    hostile: bool = False,
    reference: bool = True,
    failures: bool = True,
    run_id: str = "synthetic-run",
    rng_seed: int = 0,
    device: str = "cuda",
    slowdown: float = 1.0,
    sizes: Sequence[str] = (),
    tuning: int = 0,
    tuned_tasks: int | None = None,
    noise_seed: int | None = None,
    changes: Mapping[str, Change] | None = None,
    id_per_run: bool = False,
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Yield ``(record, curve)`` per trial, as the runner hands them to ``Store.write_trial``.

    The trial id hashes the architecture, task, their configs, the seed and ``device``, as the
    runner's does; ``slowdown`` multiplies every time (for comparisons of a slower run). ``sizes``,
    ``tuning`` and ``tuned_tasks`` add sized and tuned rows (see the module's docstring); without
    them the rows are exactly those of earlier versions.

    ``noise_seed`` draws each trial's noise (its score, times, failures) from a generator of its own,
    while ``rng_seed`` still draws what each architecture is (its quality and speed): two runs with one
    ``rng_seed`` and two noise seeds are the same suite run twice. ``changes`` maps architecture
    labels (without `` (tuned)``) to a :class:`Change` applied in this run; ``id_per_run`` hashes
    ``run_id`` into every trial id, so runs of the same trials can share one store.
    """
    rng = np.random.default_rng(rng_seed)
    noise = rng if noise_seed is None else np.random.default_rng(noise_seed)
    changes = changes or {}
    salt = run_id if id_per_run else None
    task_specs = _task_specs(tasks, hostile)
    arch_specs = _arch_specs(architectures, hostile, reference)
    staged = bool(sizes) or tuning > 0  # only then do records carry stage and size, as new stores do
    for j, task in enumerate(task_specs):
        tuned = tuning > 0 and (tuned_tasks is None or j < tuned_tasks)
        for k, arch in enumerate(arch_specs):
            skipped = k > 0 and (j + k) % 7 == 6  # an incompatible pair: n/a
            quality = rng.uniform(0.6, 0.98)
            speed = math.exp(rng.normal(0.0, 0.8))
            for variant, v_quality, v_speed in _sized(rng, arch, sizes, quality, speed):
                change = changes.get(variant["label"], Change())
                v_quality -= change.quality_drop
                v_speed *= change.slowdown
                common = (run_id, task, variant, v_quality, v_speed * slowdown, points)
                if tuned and not arch["reference"] and not skipped:
                    yield from _study(
                        rng, *common, seeds, tuning, failures, hostile, device, noise=noise, salt=salt
                    )
                    continue
                extra = {"stage": "main", "size": variant.get("size")} if staged else None
                for seed in range(seeds):
                    yield _trial(
                        noise,
                        run_id,
                        task,
                        variant,
                        seed,
                        v_quality,
                        v_speed * slowdown,
                        points,
                        skipped,
                        failures,
                        hostile,
                        device,
                        extra=extra,
                        salt=salt,
                    )


def _sized(rng, arch: dict, sizes: Sequence[str], quality: float, speed: float):
    """``(arch, quality, speed)`` per named size of a neural architecture; just ``arch`` without sizes.

    The width quadruples from one size to the next, so parameters and FLOPs roughly do too, and the
    error (1 - quality) falls as a power law of the size with an exponent drawn per architecture.
    """
    if not sizes or arch["reference"]:
        yield arch, quality, speed
        return
    exponent = rng.uniform(0.15, 0.45)
    smallest_error = min(0.6, 2.0 * (1.0 - quality))
    others = [f"{key}={value}" for key, value in sorted(arch["config"].items()) if key != "width"]
    for i, size in enumerate(sizes):
        variant = {
            **arch,
            "config": {**arch["config"], "width": 32 * 4**i},
            "label": " ".join([arch["name"], f"size={size}", *others]),
            "size": size,
            "flops_unknown": arch["name"] == "arch3",  # like an LSTM under FlopCounterMode: not counted
        }
        yield variant, 1.0 - smallest_error * (4.0**i) ** -exponent, speed * 2.0**i


def _study(
    rng, run_id, task, arch, quality, speed, points, seeds, n, failures, hostile, device, *, noise, salt
):
    """A tuning study of ``n`` trials on seed 0 with half the budget, then its best configuration on
    every seed with the full budget, as ``nnbench.tuning`` stores them (each trial's noise from
    ``noise``, which is ``rng`` itself unless a run draws its noise apart)."""
    study_id = hashlib.sha256(json.dumps([arch["label"], task["name"], "study"]).encode()).hexdigest()[:16]
    tuned = {**arch, "label": f"{arch['label']} (tuned)"}
    size = arch.get("size")
    best_log_lr = rng.uniform(-3.0, -2.0)  # where this pair's validation score peaks
    common = {"tune_trials": n, "tune_sampler": TUNE_SAMPLER, "size": size}
    found: list[tuple[float, dict, float]] = []  # (val score, hparams, quality) of tuning trials ok
    for index in range(n):
        hparams = {
            "training.lr": float(10 ** rng.uniform(-4.0, -1.0)),
            "width": int(rng.choice([32, 64, 128])),
        }
        # off the best learning rate the score drops; the short budget costs a little everywhere
        shortfall = 0.06 * (math.log10(hparams["training.lr"]) - best_log_lr) ** 2 + 0.03
        extra = common | {"stage": "tune", "study": study_id, "tune_index": index, "hparams": hparams}
        record, curve = _trial(
            noise,
            run_id,
            task,
            tuned,
            0,
            quality - shortfall,
            speed / 2,
            points,
            False,
            failures,
            hostile,
            device,
            steps=TUNE_STEPS,
            extra=extra,
            salt=salt,
        )
        if record["status"] == "ok":
            found.append((record["val_score"], hparams, quality - shortfall))
        yield record, curve
    higher = task["higher_is_better"]
    if not found:
        return  # no configuration to re-run: the study selected nothing
    _, hparams, chosen = max(found, key=lambda f: f[0] if higher else -f[0])
    extra = common | {"stage": "final", "tuned_from": study_id, "hparams": hparams}
    for seed in range(seeds):
        yield _trial(
            noise,
            run_id,
            task,
            tuned,
            seed,
            chosen + 0.03,
            speed,
            points,
            False,
            failures,
            hostile,
            device,
            extra=extra,
            salt=salt,
        )


def _trial(
    rng,
    run_id,
    task,
    arch,
    seed,
    quality,
    speed,
    points,
    skipped,
    failures,
    hostile,
    device,
    *,
    steps: int = 600,
    extra: dict[str, Any] | None = None,
    salt: str | None = None,
):
    extra = extra or {}
    identity = [arch["name"], arch["config"], task["name"], task["config"], seed, device]
    if extra:  # a tuning trial differs from the final re-run and from its study's other trials
        identity.append({k: extra.get(k) for k in ("stage", "size", "tune_index", "hparams")})
    if salt is not None:  # one trial per run, so several runs of it can share a store
        identity.append({"run": salt})
    trial_id = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    record: dict[str, Any] = {
        "trial_id": trial_id,
        "run_id": run_id,
        "architecture": arch["name"],
        "arch_config": arch["config"],
        "arch_label": arch["label"],
        "task": task["name"],
        "task_config": task["config"],
        "task_version": 1,
        "seed": seed,
        "device": device,
        "device_name": DEVICE_NAMES.get(device, device),
        "finished_at": 1735689600.0 + seed,
        "batch_size": 128,
        "optimizer": "adamw",
        "lr": 1e-3,
        "budget_steps": steps,
        "budget_s": 30.0,
        "precision": "bf16-amp",
        "compile": False,
        "metric": task["metric"],
        "higher_is_better": task["higher_is_better"],
        "target": task["target"],
        # the equivalence margin and the normalisation anchors, as trial.py records them
        "margin": 0.01 if task["higher_is_better"] else 0.1,
        "margin_relative": not task["higher_is_better"],
        "anchors": [0.1, task["target"] or 1.0] if task["higher_is_better"] else [0.5, 0.0],
        "reference": arch["reference"],
        "status": "ok",
        "error": None,
        **extra,
    }
    if skipped:
        return record | {
            "status": "skipped",
            "error": f"n/a: {arch['name']} does not take {task['name']} inputs",
        }, []
    draw = rng.random()
    if failures and draw < 0.04:
        status = ("error", "timeout", "diverged", "oom")[int(rng.integers(0, 4))]
        error = HOSTILE_ERROR if hostile else f"{status}: synthetic failure"
        return record | {"status": status, "error": f"{error}\nTraceback (most recent call last):\n  ..."}, []
    score = float(np.clip(quality + rng.normal(0, 0.01), 0, 1))
    if not task["higher_is_better"]:
        score = 1.0 - score
    train_s = float(5.0 * speed * math.exp(rng.normal(0, 0.05)))
    step_ms = 1000 * train_s / steps
    target = task["target"]
    good = (lambda v: v >= target) if task["higher_is_better"] else (lambda v: v <= target)
    curve, reached_at = [], None
    for i in range(1, points + 1):
        frac = i / points
        start = 0.1 if task["higher_is_better"] else 1.0
        value = float(
            start + (score - start) * (1 - math.exp(-4 * frac)) / (1 - math.exp(-4)) + rng.normal(0, 0.005)
        )
        at = train_s * frac
        curve.append(
            {
                "step": steps * i // points,
                "train_s": at,
                "split": "val",
                "metric": task["metric"],
                "value": value,
            }
        )
        curve.append(
            {
                "step": steps * i // points,
                "train_s": at,
                "split": "val",
                "metric": "loss",
                "value": 2.0 * (1 - frac) + 0.1,
            }
        )
        if target is not None and reached_at is None and good(value):
            reached_at = (at, steps * i // points)
    curve.append(
        {"step": steps, "train_s": train_s, "split": "test", "metric": task["metric"], "value": score}
    )
    cost = train_s / 3600 * PRICE_PER_HOUR
    params = int(10_000 * (1 + arch["config"].get("width", 64) / 8))
    flops = None if arch.get("flops_unknown") else 6.0 * params * 128
    mfu_known = arch["name"] not in ("arch3",)  # some rows without a known peak: shown as a dash
    record |= {
        "val_score": score,
        "val_final": score,
        "test_score": score,
        "test_metrics": {task["metric"]: score, "loss": 0.3},
        "selected_step": steps,
        "reached_target": None if target is None else reached_at is not None,
        "time_to_target_s": reached_at[0] if reached_at else None,
        "steps_to_target": reached_at[1] if reached_at else None,
        "samples_to_target": reached_at[1] * 128 if reached_at else None,
        "steps": steps,
        "samples": steps * 128,
        "final_loss": 0.1,
        "setup_s": 0.5,
        "warmup_s": 0.05,
        "train_s": train_s,
        "eval_s": 0.1 * train_s,
        "wall_s": 1.3 * train_s + 0.6,
        "timing_method": "cuda_events",
        "step_ms_median": step_ms,
        "step_ms_p10": 0.95 * step_ms,
        "step_ms_p90": 1.08 * step_ms,
        "step_ms_iqr": 0.04 * step_ms,
        "timing_noisy": False,
        "samples_per_s": steps * 128 / train_s,
        "params": params,
        "flops_per_step": flops,
        "flops_method": "FlopCounterMode",
        "total_train_flops": None if flops is None else flops * steps,
        "achieved_tflops": None if flops is None else flops * steps / train_s / 1e12,
        "mfu": flops * steps / train_s / 989e12 if mfu_known and flops is not None else None,
        "peak_mem_bytes": 2**20 * (200 + params / 1000),
        "peak_mem_kind": "cuda_max_allocated",
        "energy_j": 350.0 * train_s,
        "energy_method": "nvml",
        "device_seconds": train_s,
        "cost_usd": cost,
        "price_per_hour_usd": PRICE_PER_HOUR,
        "cost_to_target_usd": reached_at[0] / 3600 * PRICE_PER_HOUR if reached_at else None,
    }
    return record, curve


def suite_text(
    tasks: int,
    architectures: int,
    seeds: int,
    hostile: bool,
    *,
    sizes: Sequence[str] = (),
    tuning: int = 0,
) -> str:
    """A suite file that could have produced the store (task order included)."""
    names = [json.dumps(spec["name"]) for spec in _task_specs(tasks, hostile)]
    lines = [
        f"name: {json.dumps(HOSTILE_SUITE if hostile else 'synthetic')}",
        "# written by nnbench.report.synthetic" + (f" {HOSTILE_SUITE}" if hostile else ""),
        f"seeds: {list(range(seeds))}",
        "budget: {steps: 600, time: 30s}",
        f"tasks: [{', '.join(names)}]",
        f"# {architectures} architectures" + (f", sizes {list(sizes)}" if sizes else ""),
    ]
    if tuning:
        lines.append(f"tune: {{trials: {tuning}, sampler: {TUNE_SAMPLER}, budget: {{steps: {TUNE_STEPS}}}}}")
    return "\n".join(lines) + "\n"


def write_store(
    path: str | pathlib.Path,
    *,
    tasks: int = 3,
    architectures: int = 4,
    seeds: int = 3,
    points: int = 5,
    hostile: bool = False,
    reference: bool = True,
    failures: bool = True,
    run_id: str = "synthetic-run",
    rng_seed: int = 0,
    device: str = "cuda",
    slowdown: float = 1.0,
    sizes: Sequence[str] = (),
    tuning: int = 0,
    tuned_tasks: int | None = None,
    noise_seed: int | None = None,
    changes: Mapping[str, Change] | None = None,
    id_per_run: bool = False,
    started_at: float | None = None,
    git_sha: str = GIT_SHA,
    nnbench_version: str = "0.1.0",
    torch_version: str = "2.13.0",
) -> pathlib.Path:
    """Write a synthetic store at ``path`` (one run) through the store's own API; return the path.

    Writing into an existing store adds a run (give it another ``run_id``, and ``id_per_run`` when
    it repeats trials already there). ``sizes``, ``tuning``, ``tuned_tasks``, ``noise_seed``,
    ``changes`` and ``id_per_run`` are :func:`trials`'; ``started_at`` (epoch seconds, default now),
    ``git_sha`` and the versions go into the run's record.
    """
    from nnbench.store import Store

    path = pathlib.Path(path)
    with Store(path) as store:
        store.start_run(
            run_id,
            HOSTILE_SUITE if hostile else "synthetic",
            None,
            suite_text(tasks, architectures, seeds, hostile, sizes=sizes, tuning=tuning),
            git_sha,
            {
                "python": "3.12.1",
                "nnbench_version": nnbench_version,
                "torch_version": torch_version,
                "device": device,
                "device_name": DEVICE_NAMES.get(device, device),
            },
            started_at=started_at,
        )
        for record, curve in trials(
            tasks=tasks,
            architectures=architectures,
            seeds=seeds,
            points=points,
            hostile=hostile,
            reference=reference,
            failures=failures,
            run_id=run_id,
            rng_seed=rng_seed,
            device=device,
            slowdown=slowdown,
            sizes=sizes,
            tuning=tuning,
            tuned_tasks=tuned_tasks,
            noise_seed=noise_seed,
            changes=changes,
            id_per_run=id_per_run,
        ):
            store.write_trial(record, curve)
        store.finish_run(run_id)
    return path


def history_run_id(index: int) -> str:
    """The run id of the ``index``-th run (from 0) of :func:`write_history`."""
    return f"2025-01-{index + 1:02d}-nightly"


def write_history(
    path: str | pathlib.Path,
    *,
    runs: int = 4,
    changes: Mapping[int, Mapping[str, Change]] | None = None,
    run_ids: Sequence[str] | None = None,
    devices: Mapping[int, str] | None = None,
    **options: Any,
) -> pathlib.Path:
    """Write ``runs`` runs of one synthetic suite into the store at ``path``; return the path.

    Run ``i`` (from 0) starts on day ``i`` after :data:`START`, with id ``run_ids[i]`` (default
    :func:`history_run_id`), its own git sha and noise, nnbench ``0.1.i``, torch 2.12.0 before the last
    run and 2.13.0 in it, on ``devices.get(i)`` (default ``options``' device or cuda), and
    ``changes.get(i)`` applied (:class:`Change` by architecture label). Every other option goes to
    :func:`write_store` for every run alike, so the architectures are the same in each run.
    """
    changes = changes or {}
    devices = devices or {}
    device = options.pop("device", "cuda")
    for i in range(runs):
        write_store(
            path,
            run_id=run_ids[i] if run_ids else history_run_id(i),
            noise_seed=1000 + i,
            changes=changes.get(i),
            id_per_run=True,
            started_at=START + i * DAY,
            git_sha=hashlib.sha1(f"commit {i}".encode()).hexdigest(),
            nnbench_version=f"0.1.{i}",
            torch_version="2.13.0" if i == runs - 1 else "2.12.0",
            device=devices.get(i, device),
            **options,
        )
    return pathlib.Path(path)
