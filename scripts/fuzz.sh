#!/usr/bin/env bash
# Builds the reader fuzzer with ASan+UBSan and runs it for SECONDS (default 60), seeded with
# the corpus and test objects from ./build. Exits non-zero on any crash, leak or sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 \
  -DTRISTATE_FUZZ=ON -DTRISTATE_SANITIZE=ON -DTRISTATE_TESTS=OFF >/dev/null
ninja -C build-fuzz reader_fuzz
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
find build/benchmarks/progs build/tests/data -maxdepth 1 -name '*.o' -exec cp {} "$seeds/" \; 2>/dev/null || true
echo "fuzz: $(ls "$seeds" | wc -l) seed objects, running for ${SECONDS_TO_RUN}s"
mkdir -p fuzz-corpus
# -rss_limit_mb guards against runaway allocation on absurd sizes; leaks are detected by default.
build-fuzz/fuzz/reader_fuzz -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 \
  -print_final_stats=1 fuzz-corpus "$seeds"
echo "fuzz: no crash in ${SECONDS_TO_RUN}s"
