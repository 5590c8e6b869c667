"""Write tests/data/trial_ids.json: the trial ids the planner gives every shipped suite.

tests/test_plan.py checks that planning the shipped suites still gives exactly these ids, so that a
change to the planner cannot silently re-run (or orphan) every trial of an existing store. Run this
only when ids are meant to change (a suite edited, a task's version bumped) and say why in the commit:

    python scripts/pin_trial_ids.py
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PINNED = REPO / "tests" / "data" / "trial_ids.json"
# Every shipped suite on the CPU; the GPU suite on CUDA too (the device is part of a trial's identity).
EXTRA_DEVICES = {"gpu.yaml": ("cuda",)}
# Suites of downloaded datasets cannot be planned without the fetched files (the planner checks them),
# and a test machine has none: their ids are not pinned.
NEEDS_FETCHED_DATA = {"mnist.yaml", "cifar10.yaml"}


def planned_ids(suite_path: Path, device: str) -> dict[str, list]:
    """``{"trials": [[label, id], ...], "studies": [[label, study id, tune ids, final ids], ...]}``, sorted."""
    from nnbench import plugins
    from nnbench.plan import expand
    from nnbench.suite import load_suite
    from nnbench.tuning import StudyPlan

    suite = load_suite(suite_path)
    plugins.load_plugin_files(suite.plugin_files)
    matrix = expand(suite, device, workers=1, threads=1)
    studies = [StudyPlan.of(tuned) for tuned in matrix.tuned]
    return {
        "trials": sorted([p.spec.label, p.spec.trial_id] for p in matrix.trials),
        "studies": sorted(
            [
                f"{s.arch_label} · {s.task}",
                s.study_id,
                [s.tune_trial_id(i) for i in range(s.tune.trials)],
                [s.final_trial_id(seed) for seed in s.seeds],
            ]
            for s in studies
        ),
    }


def pinned_keys() -> list[tuple[Path, str]]:
    """(suite file, device) of every pinned plan."""
    keys = []
    for path in sorted((REPO / "suites").glob("*.yaml")):
        if path.name in NEEDS_FETCHED_DATA:
            continue
        for device in ("cpu", *EXTRA_DEVICES.get(path.name, ())):
            keys.append((path, device))
    return keys


def render(data: dict[str, dict[str, list]]) -> str:
    """The JSON text, one trial or study a line (so a diff shows which ones changed)."""
    lines = ["{"]
    for i, (key, plans) in enumerate(data.items()):
        lines.append(f" {json.dumps(key)}: {{")
        for part in ("trials", "studies"):
            items = plans[part]
            comma = "," if part == "trials" else ""
            if not items:
                lines.append(f'  "{part}": []{comma}')
                continue
            lines.append(f'  "{part}": [')
            lines += [
                "   " + json.dumps(item, ensure_ascii=False) + ("," if j < len(items) - 1 else "")
                for j, item in enumerate(items)
            ]
            lines.append(f"  ]{comma}")
        lines.append(" }" + ("," if i < len(data) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Plan every shipped suite and write the pinned ids."""
    data = {f"{path.name}@{device}": planned_ids(path, device) for path, device in pinned_keys()}
    PINNED.write_text(render(data))
    print(
        f"wrote {PINNED} ({sum(len(v['trials']) for v in data.values())} trials, "
        f"{sum(len(v['studies']) for v in data.values())} studies)"
    )


if __name__ == "__main__":
    main()
