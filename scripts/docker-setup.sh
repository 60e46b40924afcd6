#!/usr/bin/env bash
# Idempotent: Debian's Docker engine and debootstrap, for the docker target on machines that have no engine
# (CI). Root installs them with apt-get; without root it only says what is missing. Fast when installed.
set -euo pipefail

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -eq 0 ]; then
  echo "docker-setup: dockerd and debootstrap present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "docker-setup: missing ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "docker-setup: installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
# Another apt-get may hold the lock on a shared machine: wait for it instead of failing.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "docker-setup: installed ${missing[*]}"
