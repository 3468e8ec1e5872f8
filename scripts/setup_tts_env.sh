#!/usr/bin/env bash
# Install the Qwen3-TTS stack into the current (or given) Python environment, CPU/CI-safe.
#
#   scripts/setup_tts_env.sh [PYTHON]      # default: python on PATH (activate the venv first)
#
# qwen-tts 0.1.1 declares gradio and torchaudio as dependencies. We install it with
# --no-deps and add only what the 12 Hz code path imports. torchaudio is left out on purpose:
# PyPI has no build that loads beside CPU torch 2.13 (see docs/tts.md); the workers import
# qwen_tts through tuneforge.services.tts.qwen_env, which copes with its absence.
# gradio (the upstream demo UI) is not needed.
set -euo pipefail
PY="${1:-python}"
"$PY" -m pip install --no-deps "qwen-tts==0.1.1"
"$PY" -m pip install "librosa>=0.10" "einops>=0.7" "sox>=1.5" "onnxruntime>=1.17"
"$PY" - <<'PYEOF'
from tuneforge.services.tts.qwen_env import import_qwen_tts
q = import_qwen_tts(print)
print("qwen_tts OK:", q.Qwen3TTSModel.__name__, q.Qwen3TTSTokenizer.__name__)
PYEOF
