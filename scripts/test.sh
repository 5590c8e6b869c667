#!/usr/bin/env bash
# The test command the README gives: lint, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check .
python -m pytest -q "$@"
