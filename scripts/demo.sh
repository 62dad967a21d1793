#!/usr/bin/env bash
# The main job on a bundled example: compile an XDP program with clang-19, show its summary and
# disassembly, ask the analyzer whether the kernel verifier would accept it, run it and a
# firewall (its maps seeded from JSON) in the interpreter on a TCP packet, then superoptimize the
# firewall (`tristate opt`: proved, analyzer- and kernel-checked) and run its functional tests on
# the optimized object in the interpreter and, when bpf() is available, in the kernel; finally
# run the optimized firewall in a datapath stage on generated packets (`tristate pipeline --jit`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
set -x
build/tools/tristate compile benchmarks/progs/xdp_parse.c -o "$out/xdp_parse.o"
build/tools/tristate info "$out/xdp_parse.o"
build/tools/tristate disasm "$out/xdp_parse.o"
build/tools/tristate check "$out/xdp_parse.o"
build/tools/tristate run "$out/xdp_parse.o" \
  --packet 000000000001000000000002080045000028000100004006f97c0a0000010a000002303900500000000000000000500220000000000000000000
build/tools/tristate compile benchmarks/progs/xdp_firewall.c -o "$out/xdp_firewall.o"
build/tools/tristate run "$out/xdp_firewall.o" --maps benchmarks/progs/xdp_firewall.maps.json \
  --packet 000000000001000000000002080045000028000100004006f97c0a0000010a000002303900500000000000000000500220000000000000000000
build/tools/tristate opt "$out/xdp_firewall.o" -o "$out/xdp_firewall.opt.o" --budget 20 --seed 1
if [[ $(id -u) -eq 0 ]]; then
  build/tools/tristate test "$out/xdp_firewall.opt.o" --cases benchmarks/progs/xdp_firewall.tests.json --kernel
else
  build/tools/tristate test "$out/xdp_firewall.opt.o" --cases benchmarks/progs/xdp_firewall.tests.json
fi
# Then run the optimized firewall in a datapath stage, compiled by the JIT, on 10,000 generated
# packets; the packets it passes are written to a capture.
build/tools/tristate pipeline --prog "$out/xdp_firewall.opt.o" --maps benchmarks/progs/xdp_firewall.maps.json \
  --jit --from gen:count=10000,seed=1 --to "pcap:$out/passed.pcap"
