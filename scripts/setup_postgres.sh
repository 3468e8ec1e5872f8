#!/usr/bin/env bash
# PostgreSQL for the store tests (tuneforge.testing.postgres starts a private cluster from
# these binaries once per test run): Debian's `postgresql`, as root. apt starts no cluster of
# its own here; the tests never use a system one. Without root or apt it says so and the
# PostgreSQL halves of the store tests skip with that reason. Safe to run again.
set -uo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: no PostgreSQL and no root apt-get here: the PostgreSQL store tests will skip (apt-get install -y postgresql)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null; then
  echo "installed PostgreSQL $(ls /usr/lib/postgresql)" >&2
else
  echo "warning: apt-get install postgresql failed: the PostgreSQL store tests will skip" >&2
fi
