#!/usr/bin/env bash
# The main job on a bundled example: compile an XDP program with clang-19, then show its
# summary and disassembly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
set -x
build/tools/tristate compile benchmarks/progs/xdp_parse.c -o "$out/xdp_parse.o"
build/tools/tristate info "$out/xdp_parse.o"
build/tools/tristate disasm "$out/xdp_parse.o"
