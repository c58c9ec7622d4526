#!/usr/bin/env bash
# Install the Debian packages the tests and the local cluster need, only those missing.
# Runs as root on a fresh Debian 12 machine (CI) or a developer's; a no-op when all are there.
set -euo pipefail

# Everything not in a minimal Debian 12 (installed --no-install-recommends, so recommends count for
# nothing). netavark: podman's network backend that gives an internal network's bridge its address;
# it runs the iptables program (without it every container start fails). python3-venv: the venv.
# apt-utils: apt-ftparchive indexes the local apt repository of the bare_nodes scenario.
packages=(corosync iproute2 util-linux podman runc netavark aardvark-dns iptables debootstrap openssh-client
    shellcheck rsync python3 python3-venv apt-utils ca-certificates)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
    echo "install-host-deps: these packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
fi

# The host's own corosync must not start on install: the tests run their own nodes.
# policy-rc.d exit 101 tells invoke-rc.d "not allowed"; ours is removed afterwards.
created_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    created_policy=1
fi
cleanup() { if [[ $created_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

echo "install-host-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
