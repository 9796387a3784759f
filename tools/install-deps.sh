#!/bin/sh
# Installs what fcl needs to build, test and run, from Debian 12's packages.
# Runs apt-get as root directly, or through sudo for a normal user.
set -eu
PACKAGES="build-essential meson ninja-build pkg-config
  libopenblas-dev liblapacke-dev libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
  libuv1-dev libfyaml-dev zlib1g-dev dataset-fashion-mnist gnuplot-nox scdoc
  slurm-wlm munge iproute2 clang libclang-rt-14-dev procps"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "installing:$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
