#!/usr/bin/env bash
# Builds Tristate, fuzzes the input readers for 60 seconds, then runs the whole test suite
# (ctest's summary is the last thing printed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bash scripts/fuzz.sh 60
# Tests that load programs into the kernel need bpffs; they say loudly when bpf() is unavailable.
if [[ $(id -u) -eq 0 ]] && ! mountpoint -q /sys/fs/bpf; then mount -t bpf bpf /sys/fs/bpf || true; fi
cd build && ctest --output-on-failure -j2
