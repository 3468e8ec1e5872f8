#!/usr/bin/env bash
# Print the PYTHONPATH that runs this checkout without installing it (every distribution root
# of the layout: the root, clients/python, runtime, services/<name>):
#   export PYTHONPATH="$(scripts/pythonpath.sh)"
set -euo pipefail
R="$(cd "$(dirname "$0")/.." && pwd)"
printf '%s' "$R:$R/clients/python:$R/runtime"
for d in "$R"/services/*/pyproject.toml; do printf ':%s' "$(dirname "$d")"; done
echo
