#!/usr/bin/env bash
# Installs the Debian packages nnc needs to build, test and train, and only those that are
# missing: one `apt-get update`, one `apt-get install`. Quiet when everything is present.
# Run as root (or with sudo available). Idempotent.
set -euo pipefail

packages=(
  build-essential cmake ninja-build   # toolchain
  llvm-19-dev llvm-19-tools           # LLVM 19 (ORC JIT) and FileCheck for golden tests
  libfmt-dev catch2 libcli11-dev nlohmann-json3-dev zlib1g-dev
  dataset-fashion-mnist               # /usr/share/datasets/fashion-mnist/
  clang-19 libclang-rt-19-dev         # libFuzzer targets (tests/fuzz/run.sh)
  openmpi-bin libopenmpi-dev          # MPI, for data-parallel training (docs/DISTRIBUTED.md)
)
if [ "${1:-}" = "--bench" ]; then
  packages+=(python3-torch python3-numpy libopenblas0-pthread)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
