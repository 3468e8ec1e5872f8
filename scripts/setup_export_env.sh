#!/usr/bin/env bash
# Install the export tools (GGUF for llama.cpp/Ollama, AWQ for vLLM), built once per version and
# cached under ~/.cache/tuneforge/ (override with TUNEFORGE_CACHE), under a lock, so a second
# run or a second checkout costs seconds:
#
#   scripts/setup_export_env.sh [PYTHON]   # PYTHON: the tuneforge venv's interpreter (default: python)
#
# 1. llama-cpp-python: PyPI has only an sdist that compiles llama.cpp (~5-6 min on 2 cores); its
#    wheel is built once into wheels/llama-cpp-python-<v>/ and installed from there (the tests
#    load exported GGUF files with it; q4_k_m export uses its quantizer).
# 2. llama.cpp's own converters (convert_hf_to_gguf.py, convert_lora_to_gguf.py, conversion/,
#    gguf-py/) come from the same sdist, unpacked into llama.cpp-<v>/ (config export_llama_cpp_dir).
# 3. llm-compressor needs transformers 5.x while the training stack pins 4.57 (qwen-tts), so AWQ
#    runs in its own virtualenv venvs/llmcompressor-<v>/ (config export_awq_python).
# Keep the versions in step with services/trainer/tuneforge/services/trainer/export.py.
set -euo pipefail
PY="${1:-python}"
LLAMA_CPP_PYTHON=0.3.36
LLMCOMPRESSOR=0.14.0.1
CACHE="${TUNEFORGE_CACHE:-$HOME/.cache/tuneforge}"
BASE_PYTHON="${BASE_PYTHON:-python3}"
mkdir -p "$CACHE/sdist" "$CACHE/wheels" "$CACHE/venvs"
exec 9>"$CACHE/.export-setup.lock"
flock 9

SDIST="$CACHE/sdist/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz"
if [ ! -f "$SDIST" ]; then
  tmp="$(mktemp -d "$CACHE/sdist/.dl-XXXXXX")"
  "$PY" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_CPP_PYTHON" -d "$tmp"
  mv "$tmp"/llama_cpp_python-*.tar.gz "$SDIST"
  rm -rf "$tmp"
fi

WHEELS="$CACHE/wheels/llama-cpp-python-$LLAMA_CPP_PYTHON"
if ! ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $LLAMA_CPP_PYTHON (compiles llama.cpp; once per machine) ..."
  tmp="$(mktemp -d "$CACHE/wheels/.build-XXXXXX")"
  # mtmd (multimodal) is not needed to run or quantize text models: leaving it out saves build time.
  CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    "$PY" -m pip wheel -q --no-deps -w "$tmp" "$SDIST"
  rm -rf "$WHEELS" && mv "$tmp" "$WHEELS"
fi
"$PY" -m pip install -q "$WHEELS"/llama_cpp_python-*.whl

TOOLS="$CACHE/llama.cpp-$LLAMA_CPP_PYTHON"
if [ ! -f "$TOOLS/convert_hf_to_gguf.py" ]; then
  tmp="$(mktemp -d "$CACHE/.tools-XXXXXX")"
  inner="llama_cpp_python-$LLAMA_CPP_PYTHON/vendor/llama.cpp"
  tar -xzf "$SDIST" -C "$tmp" "$inner/convert_hf_to_gguf.py" "$inner/convert_lora_to_gguf.py" \
    "$inner/conversion" "$inner/gguf-py" "$inner/LICENSE"
  rm -rf "$TOOLS" && mv "$tmp/$inner" "$TOOLS" && rm -rf "$tmp"
fi

AWQ="$CACHE/venvs/llmcompressor-$LLMCOMPRESSOR"
if [ ! -f "$AWQ/.ready" ]; then
  rm -rf "$AWQ"
  "$BASE_PYTHON" -m venv "$AWQ"
  # torch pinned: an unpinned one resolves to a multi-GB CUDA build.
  "$AWQ/bin/python" -m pip install -q "llmcompressor==$LLMCOMPRESSOR" "torch==2.13.0" "transformers==5.17.0"
  touch "$AWQ/.ready"
fi

"$PY" -c "import llama_cpp; print('export tools ready: llama-cpp-python', llama_cpp.__version__, '| converters $TOOLS')"
"$AWQ/bin/python" -c "import llmcompressor, transformers; print('AWQ env ready: llmcompressor $LLMCOMPRESSOR, transformers', transformers.__version__)"
