#!/usr/bin/env bash
# Installs what varnorm's builds, tests and benchmarks need, from Debian 12 packages only.
# Idempotent: does nothing when everything is already there. Needs root (or sudo) to install.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libxsimd-dev libtbb-dev catch2 libbenchmark-dev libdnnl-dev python3-matplotlib
  g++-aarch64-linux-gnu qemu-user
  clang-14 libclang-rt-14-dev clang-format-14 valgrind
  python3-torch libtorch-dev python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
