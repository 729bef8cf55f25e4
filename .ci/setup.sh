#!/usr/bin/env bash
# Installs the Debian 12 packages usbench builds and tests with. Idempotent: packages already present
# are skipped, and apt is not touched at all when nothing is missing. Needs root (or sudo) only then.
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build ccache git pkg-config python3 clang-format
  libtorch-dev libopencv-dev libsqlite3-dev libssl-dev zlib1g-dev libcurl4-openssl-dev
  nlohmann-json3-dev libfmt-dev libcli11-dev catch2 libbenchmark-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "usbench setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
