#!/usr/bin/env bash
# Install the Debian packages shahn's tests and benchmarks need, when they are missing:
#   chromium (browser tests), wrk (HTTP benchmarks), socat (pseudo-terminal pairs for modem tests).
# Usage: scripts/ensure-debian-packages.sh [package ...]   (default: all three)
# Needs apt-get and root; without them it says what is missing and exits 0 (the callers decide).
set -euo pipefail

declare -A BINARY=([chromium]=/usr/bin/chromium [wrk]=wrk [socat]=socat)
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(chromium wrk socat)

missing=()
for pkg in "${wanted[@]}"; do
  bin=${BINARY[$pkg]:-$pkg}
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "$bin" ]; then missing+=("$pkg"); fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "ensure-debian-packages: missing ${missing[*]} (install them with apt-get as root)" >&2
  exit 0
fi
echo "ensure-debian-packages: installing ${missing[*]}" >&2
apt-get install -y --no-install-recommends "${missing[@]}" || { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
