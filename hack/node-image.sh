#!/usr/bin/env bash
# Build a podman node image once; later calls find it cached and return at once.
#   hack/node-image.sh [IMAGE]         debootstrap minbase + systemd + corosync (+ qdevice, qnetd) + python3 + sshd
#   hack/node-image.sh --bare [IMAGE]  what a user's bare node has: systemd, sshd, python3, no corosync
set -euo pipefail

bare=false
if [ "${1:-}" = --bare ]; then
    bare=true
    shift
fi
if $bare; then
    image="${1:-localhost/quorate-node-bare:bookworm}"
    packages=systemd,systemd-sysv,python3,openssh-server,iproute2,procps
else
    image="${1:-${QUORATE_NODE_IMAGE:-localhost/quorate-node:bookworm-2}}"
    # corosync-qdevice for the members, corosync-qnetd (with libnss3-tools) for a quorum device host.
    packages=systemd,systemd-sysv,corosync,corosync-qdevice,corosync-qnetd,python3,openssh-server,iproute2,procps,libcpg4
fi
mirror="${QUORATE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if podman image exists "$image"; then
    exit 0
fi

root=$(mktemp -d /var/tmp/quorate-node-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
start=$(date +%s)
echo "node-image: debootstrap bookworm into $root (about a minute, once)" >&2
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >/dev/null

if $bare; then
    # The nodes have no route out: their only package source is the one the corosync role is given
    # (quorate_corosync_apt_repository); a Debian mirror here would only make apt-get update fail.
    : > "$root/etc/apt/sources.list"
else
    # The roles decide when corosync starts and with which configuration: no default config,
    # not enabled at boot.
    rm -f "$root/etc/corosync/corosync.conf"
    for unit in corosync.service corosync-qdevice.service corosync-qnetd.service; do
        chroot "$root" systemctl disable "$unit" >/dev/null 2>&1 || true
    done
    # The roles make the quorum device's certificates (a CA per qnetd host): none from the image, which
    # every container would share.
    rm -rf "$root/etc/corosync/qnetd/nssdb" "$root/etc/corosync/qdevice/net/nssdb"
fi
# Units that make no sense in a container are masked.
for unit in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
    systemd-networkd-wait-online.service getty@tty1.service console-getty.service; do
    chroot "$root" systemctl mask "$unit" >/dev/null 2>&1 || true
done
chroot "$root" systemctl enable ssh.service >/dev/null 2>&1 || true
# Host keys are made per container at first boot (ssh-keygen -A runs in the unit's ExecStartPre).
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/root/.ssh"
chmod 0700 "$root/root/.ssh"
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' > "$root/etc/ssh/sshd_config.d/quorate.conf"
# sshd's unit in bookworm does not regenerate missing host keys: do it before sshd starts.
mkdir -p "$root/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
    > "$root/etc/systemd/system/ssh.service.d/hostkeys.conf"
apt_lists="$root/var/lib/apt/lists"
rm -rf "${apt_lists:?}"/* "${root:?}"/var/cache/apt/archives/*.deb

tar -C "$root" -c . | podman import --change 'CMD ["/sbin/init"]' - "$image" >/dev/null
echo "node-image: $image built in $(( $(date +%s) - start ))s" >&2
