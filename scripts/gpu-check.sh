#!/usr/bin/env bash
# The GPU check, one prepared script: on a machine with one CUDA GPU it runs the GPU tests, the harness
# overhead with CUDA-event timing against a synchronised wall clock, a cut of suites/gpu.yaml, the MFU
# of a large Transformer with bf16 and torch.compile, and NVML energy, in under 8 minutes; then it writes
# what it measured, with the date and the device, into docs/measurement.md (between its markers).
#
#   bash scripts/gpu-check.sh            # from the repository root, in the project's environment
#
# Without a CUDA device it says so in one line and exits 0 (CI runs it that way).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python}
if ! "$python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; then
    echo "gpu-check: no CUDA device here (torch.cuda.is_available() is False); nothing to check"
    exit 0
fi
exec "$python" benchmarks/gpu_check.py "$@"
