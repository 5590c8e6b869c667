"""The subprocess side of the ``process`` executor: run one trial, write its result file, exit.

Protocol: a JSON job on stdin (``spec``, ``arch_label``, ``result_path``); progress lines on stdout
starting with :data:`PROGRESS_PREFIX`; the ``(record, curve)`` result as JSON in ``result_path``.
Anything else the trial prints is passed through untouched.
"""

from __future__ import annotations

import json
import sys

PROGRESS_PREFIX = "@@nnbench-progress "


def main() -> None:
    """Read the job, run it, write the result."""
    from nnbench.executors import spec_from_dict
    from nnbench.trial import execute_trial

    job = json.loads(sys.stdin.read())
    spec = spec_from_dict(job["spec"])

    def progress(step: int, train_s: float) -> None:
        print(f"{PROGRESS_PREFIX}{step} {train_s:.3f}", flush=True)

    record, curve = execute_trial(spec, job.get("arch_label", ""), progress=progress)
    with open(job["result_path"], "w") as handle:
        json.dump({"record": record, "curve": curve}, handle, default=str)


if __name__ == "__main__":
    main()
