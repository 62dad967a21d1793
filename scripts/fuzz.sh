#!/usr/bin/env bash
# Builds the fuzzers with ASan+UBSan and runs them for SECONDS (default 60) in all: the ELF and
# bytecode reader fuzzer for two thirds, seeded with the corpus and test objects from ./build,
# then the capture-file (pcap/pcapng) fuzzer for the rest, seeded with fuzz/seeds/pcap. Exits
# non-zero on any crash, leak or sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
# libFuzzer reads -max_total_time=0 as "no limit", so each fuzzer gets at least a second.
READER_SECONDS=$(( SECONDS_TO_RUN * 2 / 3 > 0 ? SECONDS_TO_RUN * 2 / 3 : 1 ))
PCAP_SECONDS=$(( SECONDS_TO_RUN - READER_SECONDS > 0 ? SECONDS_TO_RUN - READER_SECONDS : 1 ))
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 \
  -DTRISTATE_FUZZ=ON -DTRISTATE_SANITIZE=ON -DTRISTATE_TESTS=OFF >/dev/null
ninja -C build-fuzz reader_fuzz pcap_fuzz
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
find build/benchmarks/progs build/tests/data -maxdepth 1 -name '*.o' -exec cp {} "$seeds/" \; 2>/dev/null || true
echo "fuzz: $(ls "$seeds" | wc -l) seed objects, running reader_fuzz for ${READER_SECONDS}s"
# The pcap corpus lives below fuzz-corpus, which reader_fuzz also reads (libFuzzer recurses);
# bytes that are not ELF go to the bytecode reader there, which is harmless.
mkdir -p fuzz-corpus/pcap
# -rss_limit_mb guards against runaway allocation on absurd sizes; leaks are detected by default.
build-fuzz/fuzz/reader_fuzz -max_total_time="$READER_SECONDS" -rss_limit_mb=2048 \
  -print_final_stats=1 fuzz-corpus "$seeds"
echo "fuzz: $(ls fuzz/seeds/pcap | wc -l) seed captures, running pcap_fuzz for ${PCAP_SECONDS}s"
build-fuzz/fuzz/pcap_fuzz -max_total_time="$PCAP_SECONDS" -rss_limit_mb=2048 \
  -print_final_stats=1 fuzz-corpus/pcap fuzz/seeds/pcap
echo "fuzz: no crash in ${SECONDS_TO_RUN}s"
