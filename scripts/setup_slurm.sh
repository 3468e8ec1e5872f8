#!/usr/bin/env bash
# Slurm + munge from Debian (slurm-wlm, ~12 MB) for the slurm executor's tests: a two-node
# cluster on 127.0.0.1 that tuneforge/testing/slurm_cluster.py starts once per test session
# (docs/distributed.md). Needs root for apt-get; without it the Slurm tests skip, saying so.
# Installs only: no daemon is started or enabled here.
set -uo pipefail
if command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: no root apt-get here: the Slurm tests will skip (apt-get install -y slurm-wlm munge)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; then
  echo "slurm: $(slurmctld -V 2>/dev/null) and munge installed"
else
  echo "warning: apt-get install slurm-wlm munge failed: the Slurm tests will skip" >&2
fi
