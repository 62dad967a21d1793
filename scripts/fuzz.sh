#!/usr/bin/env bash
# Builds the fuzzers with ASan+UBSan and runs them for SECONDS (default 60) in all, one after
# the other: the ELF and bytecode reader fuzzer for about 35%, seeded with the corpus and test
# objects from ./build; the capture-file (pcap/pcapng) fuzzer for 15%, seeded with
# fuzz/seeds/pcap; the interpreter fuzzer for 20%; the .srctgt reader and equivalence checker
# fuzzer for 15%, seeded with a few pairs of tests/data/equiv; the maps' JSON seeding fuzzer for
# the rest but 5%, which goes to the functional tests' packet-layer and typed-bytes fuzzer
# (seeded with the corpus's NAME.tests.json packets). Each fuzzer keeps its corpus in its own directory (fuzz-corpus, fuzz-corpus/pcap,
# fuzz-corpus-interp, fuzz-corpus-srctgt, fuzz-corpus-maps). Exits non-zero on any crash, leak
# or sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
# libFuzzer reads -max_total_time=0 as "no limit", so each fuzzer gets at least a second.
at_least_1() { echo $(( $1 > 0 ? $1 : 1 )); }
READER_SECONDS=$(at_least_1 $(( SECONDS_TO_RUN * 30 / 100 )))
PACKET_SECONDS=$(at_least_1 $(( SECONDS_TO_RUN * 5 / 100 )))
PCAP_SECONDS=$(at_least_1 $(( SECONDS_TO_RUN * 15 / 100 )))
INTERP_SECONDS=$(at_least_1 $(( SECONDS_TO_RUN * 20 / 100 )))
SRCTGT_SECONDS=$(at_least_1 $(( SECONDS_TO_RUN * 15 / 100 )))
MAPS_SECONDS=$(at_least_1 $(( SECONDS_TO_RUN - READER_SECONDS - PACKET_SECONDS - PCAP_SECONDS - INTERP_SECONDS - SRCTGT_SECONDS )))
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 \
  -DTRISTATE_FUZZ=ON -DTRISTATE_SANITIZE=ON -DTRISTATE_TESTS=OFF >/dev/null
ninja -C build-fuzz reader_fuzz pcap_fuzz interpreter_fuzz srctgt_fuzz maps_json_fuzz packet_spec_fuzz
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
find build/benchmarks/progs build/tests/data -maxdepth 1 -name '*.o' -exec cp {} "$seeds/" \; 2>/dev/null || true
# -rss_limit_mb guards against runaway allocation on absurd sizes; leaks are detected by default.
run_fuzzer() {  # NAME SECONDS CORPUS [SEEDS...]
  local name=$1 seconds=$2
  shift 2
  echo "fuzz: running $name for ${seconds}s"
  "build-fuzz/fuzz/$name" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 "$@"
}
echo "fuzz: $(ls "$seeds" | wc -l) seed objects"
# The pcap corpus lives below fuzz-corpus, which reader_fuzz also reads (libFuzzer recurses);
# bytes that are not ELF go to the bytecode reader there, which is harmless. The interpreter
# and maps corpora live outside it.
mkdir -p fuzz-corpus/pcap fuzz-corpus-interp fuzz-corpus-srctgt fuzz-corpus-maps
run_fuzzer reader_fuzz "$READER_SECONDS" fuzz-corpus "$seeds"
echo "fuzz: $(ls fuzz/seeds/pcap | wc -l) seed captures"
run_fuzzer pcap_fuzz "$PCAP_SECONDS" fuzz-corpus/pcap fuzz/seeds/pcap
# Interpreter seeds (see fuzz/interpreter_fuzz.cpp for the layout): an XDP program with the
# packet prologue reading the packet through r2, a tc program calling a modelled helper with
# maps, and a bare program summing its memory block.
mkdir -p "$seeds/interp" "$seeds/maps"
printf '\x1b\x03\x71\x20\x05\x00\x00\x00\x00\x00\x95\x00\x00\x00\x00\x00\x00\x00\xb7\x00\x00\x00\x00\x00\x00\x00%s' \
  "$(head -c 80 /dev/zero | tr '\0' 'A')" >"$seeds/interp/xdp"
printf '\x7a\x04\x18\x11\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x85\x00\x00\x00\x01\x00\x00\x00\x95\x00\x00\x00\x00\x00\x00\x00%s' \
  "$(head -c 80 /dev/zero | tr '\0' 'B')" >"$seeds/interp/tc"
printf '\x00\x02\x71\x10\x00\x00\x00\x00\x00\x00\x95\x00\x00\x00\x00\x00\x00\x00abcdefgh' >"$seeds/interp/mem"
run_fuzzer interpreter_fuzz "$INTERP_SECONDS" fuzz-corpus-interp "$seeds/interp"
# .srctgt seeds: a few pairs (each input costs Z3 queries, so the fuzzer runs tens per second and
# a large seed set would use up its time before mutation starts).
mkdir -p "$seeds/srctgt"
for pair in alu64_add_commutes map_array_update_vs_store ctx_xdp_data_end_minus_data helper_redirect_map_key \
            call_inlined packet_missing_bounds_check loop_sum_unrolled stack_; do
  for f in tests/data/equiv/"$pair"*.srctgt; do [[ -e $f ]] && cp "$f" "$seeds/srctgt/"; done
done
echo "fuzz: $(ls "$seeds/srctgt" | wc -l) seed pairs"
run_fuzzer srctgt_fuzz "$SRCTGT_SECONDS" fuzz-corpus-srctgt "$seeds/srctgt"
# Maps seeds: contents for most map types, in the format of compiler/maps.hpp.
cat >"$seeds/maps/all.json" <<'JSON'
{"A": {"entries": [{"key": 1, "value": "01020304"}, {"key": "03000000", "value": "ffffffff"}]},
 "PA": {"entries": [{"key": 0, "values": ["010203", "040506"]}]},
 "H": {"entries": [{"key": "0102", "value": "0304"}]},
 "PH": {"entries": [{"key": "07", "value": "00000001"}]},
 "L": {"entries": [{"key": "01", "value": "02"}, {"key": "02", "value": "03"}]},
 "LP": {"entries": [{"key": "01", "values": ["0102", "0304"]}]},
 "T": {"entries": [{"key": "100000000a00", "value": "2a"}, {"key": "080000000aff", "value": "2b"}]},
 "P": {"entries": [{"key": 0, "value": "a"}, {"key": 2, "value": 1}]},
 "D": {"entries": [{"key": 1, "value": "0200000000000000"}]},
 "DH": {"entries": [{"key": "05000000", "value": "03000000"}]},
 "C": {"entries": [{"key": 1, "value": "00010000"}]},
 "X": {"entries": [{"key": 1, "value": "09000000"}]},
 "R": {"records": ["", "0102", "0102030405060708090a"]},
 "G": {"entries": [{"key": 0, "value": "0102030405"}]}}
JSON
run_fuzzer maps_json_fuzz "$MAPS_SECONDS" fuzz-corpus-maps "$seeds/maps"
# Packet-layer seeds: every packet of the corpus's functional tests, one file each.
mkdir -p "$seeds/packets" fuzz-corpus-packets
n=0
for f in benchmarks/progs/*.tests.json; do
  while IFS= read -r line; do
    n=$((n + 1))
    printf '%s' "$line" >"$seeds/packets/$n.json"
  done < <(grep -o '"packet": \[[^]]*\]' "$f" | sed 's/^"packet": //' | head -20)
done
echo "fuzz: $n seed packets"
run_fuzzer packet_spec_fuzz "$PACKET_SECONDS" fuzz-corpus-packets "$seeds/packets"
echo "fuzz: no crash in ${SECONDS_TO_RUN}s"
