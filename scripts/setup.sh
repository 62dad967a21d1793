#!/usr/bin/env bash
# Installs every Debian 12 package Tristate needs to build, test and run. Idempotent: packages
# already present are left alone, and apt is only asked when something is missing.
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build pkg-config
  # BPF toolchain: clang-19 builds BPF objects and the fuzzer; llvm-19 gives llvm-objdump/llvm-mc
  clang-19 llvm-19 llvm-19-dev lld-19 libclang-rt-19-dev
  # libraries
  libbpf-dev libelf-dev libxdp-dev zlib1g-dev libz3-dev
  libcli11-dev catch2 nlohmann-json3-dev libbenchmark-dev
  # kernel-side tools
  bpftool iproute2
  # benchmarks: the suite's plot (benchmarks/run)
  gnuplot-nox
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} packages present"
fi
