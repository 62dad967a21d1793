#!/usr/bin/env bash
# Builds Tristate, fuzzes the input readers for 60 seconds, then runs the whole test suite
# (ctest's summary is the last thing printed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bash scripts/fuzz.sh 60
# Tests that load programs into the kernel need bpffs; they say loudly when bpf() is unavailable.
if [[ $(id -u) -eq 0 ]] && ! mountpoint -q /sys/fs/bpf; then mount -t bpf bpf /sys/fs/bpf || true; fi
# Tracepoint programs attach through tracefs, which a fresh machine may not have mounted.
if [[ $(id -u) -eq 0 ]] && [[ ! -e /sys/kernel/tracing/events ]]; then mount -t tracefs tracefs /sys/kernel/tracing || true; fi
cd build
# The full log keeps what passing tests print: the "compared N ..." lines of the tests that check
# against llvm-objdump and the running kernel, and any loud "UNAVAILABLE" warning. Show those,
# then ctest's own summary (rerunning failures verbosely) as the last lines.
if ctest -j2 -V > ctest.log 2>&1; then
  grep -E "compared [0-9]+|UNAVAILABLE" ctest.log | sed -E 's/^[0-9]+: //' | sort -u
  tail -n 4 ctest.log
else
  grep -E "compared [0-9]+|UNAVAILABLE" ctest.log | sed -E 's/^[0-9]+: //' | sort -u
  ctest --rerun-failed --output-on-failure
fi
