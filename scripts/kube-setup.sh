#!/usr/bin/env bash
# Idempotent: what the loopback Kubernetes cluster (python -m tooling kube-cluster) needs from Debian:
# containerd and runc (the container runtime), the CNI plugins (only `loopback` is used), conntrack and
# socat (the kubelet looks for them), gcc with a static libc (the pause image is compiled from Kubernetes'
# pause.c) and openssl (the cluster's certificates). Kubernetes itself is built from the Go module proxy
# (python -m tooling kube-build). Root installs what is missing with apt-get; without root it only says what
# is missing. Fast when installed.
set -euo pipefail

missing=()
command -v containerd >/dev/null 2>&1 || missing+=(containerd)
command -v runc >/dev/null 2>&1 || missing+=(runc)
[ -x /usr/lib/cni/loopback ] || missing+=(containernetworking-plugins)
command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
command -v socat >/dev/null 2>&1 || missing+=(socat)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || missing+=(libc6-dev)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${#missing[@]}" -eq 0 ]; then
  echo "kube-setup: containerd, runc, CNI plugins, conntrack, socat, gcc and openssl present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "kube-setup: missing ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "kube-setup: installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
# Another apt-get may hold the lock on a shared machine: wait for it instead of failing.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "kube-setup: installed ${missing[*]}"
