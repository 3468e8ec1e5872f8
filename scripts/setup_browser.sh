#!/usr/bin/env bash
# A real browser for the web console's browser test: Debian's chromium (Playwright from PyPI
# drives it with executable_path; no browser is ever downloaded). Needs root for apt-get;
# without it, or without apt, it says so and the browser test skips with that reason.
# Safe to run again: does nothing when chromium is there.
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: no chromium and no root apt-get here: the web console's browser test will skip (apt-get install -y chromium)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq >/dev/null && apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; then
  echo "installed $(chromium --version 2>/dev/null)" >&2
else
  echo "warning: apt-get install chromium failed: the web console's browser test will skip" >&2
fi
