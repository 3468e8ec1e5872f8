#!/usr/bin/env bash
# Set up a development environment in .venv: the server, the client SDK, the ML stack (CPU
# torch pinned: an unpinned torch pulls a multi-GB CUDA build), audio, the Qwen3-TTS stack,
# the web console, the export tools (llama.cpp converters + llama-cpp-python, llm-compressor's
# own venv; cached under ~/.cache/tuneforge/) and the test tools (with Debian's chromium for the
# console's browser test, when run as root). Safe to run again. Needs only Python >= 3.10 and pip.
#
#   scripts/setup.sh            # creates ./.venv
#   VENV=/opt/tf scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
# Every part of the layout, editable, in one pip command: the local parts satisfy each other's
# `tuneforge-*==0.1.0` requirements (the client SDK + CLI, the runtime, the four services, the root).
"$PY" -m pip install -q "torch==2.13.0" -e "./clients/python[cli]" -e "./runtime[audio]" \
  -e ./services/registry -e "./services/dataset[voice]" -e ./services/trainer -e ./services/tts \
  -e ".[web,dev,export]"
# Ray (the ray executor and its tests' local cluster), with the CPU torch above kept (issue 23).
"$PY" -m pip install -q "torch==2.13.0" -e ".[distributed]"
scripts/setup_browser.sh
scripts/setup_slurm.sh
scripts/setup_postgres.sh
scripts/setup_tts_env.sh "$PY" >/dev/null
scripts/setup_export_env.sh "$PY"
# The real vLLM (CPU build) in a virtualenv of its own, cached under ~/.cache/tuneforge: the
# registry's tests and bench/ check activation against it (skip: TUNEFORGE_SKIP_VLLM=1).
[ -n "${TUNEFORGE_SKIP_VLLM:-}" ] || PYTHON="$PYTHON" scripts/setup_vllm_env.sh
"$PY" -c "import torch, transformers, peft, trl, faster_whisper, tuneforge.client; print('tuneforge environment ready: torch', torch.__version__, '| transformers', transformers.__version__)"
