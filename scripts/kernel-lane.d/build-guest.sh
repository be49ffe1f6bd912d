#!/bin/bash
# Guest recipe for the kernel lane: a Debian 12 (bookworm) image with kernel
# OpenZFS (zfs-dkms), LIO (targetcli-fb), the kernel NFS server and sshd,
# plus the kernel NFS client (nfs-common's mount.nfs) and qemu-utils (qemu-img,
# qemu-io) for the RemoteFS driver, which mounts an NFS share in the guest.
#
#   build-guest.sh OUTDIR
#
# Writes OUTDIR/{root.img,vmlinuz,initrd.img,id_ed25519,id_ed25519.pub,manifest.txt}.
# Everything comes from Debian's archive (SHOAL_LANE_MIRROR overrides the mirror).
# Runs as root on the host (debootstrap + chroot); the image is assembled with
# `mkfs.ext4 -d`, so no loop device is needed. The root password stays locked:
# the only way in is the ssh key generated here, which never leaves OUTDIR.
#
# The lane's cache key is a hash of this file (and the other files in
# scripts/kernel-lane.d/): change the recipe and the next `kernel-lane build`
# rebuilds.
set -euo pipefail

OUT=${1:?usage: build-guest.sh OUTDIR}
MIRROR=${SHOAL_LANE_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
ROOT_SIZE=${SHOAL_LANE_ROOT_SIZE:-6G}
WORK="$OUT.work"
R="$WORK/root"

log() { printf '[build-guest %(%H:%M:%S)T] %s\n' -1 "$*"; }

unmount_all() {
    for m in dev/pts dev proc sys run; do
        if mountpoint -q "$R/$m" 2>/dev/null; then umount -l "$R/$m" || true; fi
    done
}
trap unmount_all EXIT

rm -rf "$WORK"
mkdir -p "$WORK"

log "debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase --components=main,contrib \
    --include=ca-certificates,gnupg \
    "$SUITE" "$R" "$MIRROR"

cat > "$R/etc/apt/sources.list" <<SRC
deb $MIRROR $SUITE main contrib
deb $MIRROR $SUITE-updates main contrib
deb http://deb.debian.org/debian-security $SUITE-security main contrib
SRC

# No daemon starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
chmod +x "$R/usr/sbin/policy-rc.d"

mount -t proc proc "$R/proc"
mount -t sysfs sys "$R/sys"
mount --bind /dev "$R/dev"
mount -t devpts devpts "$R/dev/pts"
mount -t tmpfs tmpfs "$R/run"

in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"; }
apt_install() { in_root apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "$@"; }

in_root apt-get update -q
log "base system, kernel and headers"
apt_install systemd-sysv udev kmod iproute2 procps openssh-server dbus \
    linux-image-amd64 linux-headers-amd64 gcc make libc6-dev initramfs-tools \
    python3 less

KVER=$(ls "$R/lib/modules" | sort -V | tail -1)
log "guest kernel $KVER; building zfs-dkms (the long step)"
apt_install zfs-dkms zfsutils-linux
if ! ls "$R/lib/modules/$KVER"/updates/dkms/zfs.ko* >/dev/null 2>&1; then
    ZVER=$(ls "$R/usr/src" | sed -n 's/^zfs-//p' | sort -V | tail -1)
    log "dkms did not build for $KVER in postinst; building zfs/$ZVER now"
    in_root dkms install "zfs/$ZVER" -k "$KVER"
fi
ls "$R/lib/modules/$KVER"/updates/dkms/zfs.ko* >/dev/null

log "NFS server, LIO"
apt_install nfs-kernel-server targetcli-fb python3-rtslib-fb

# RemoteFS: the driver mounts its NAS share with the kernel NFS client
# (mount -t nfs, from nfs-common) and keeps raw/qcow2 files there (qemu-img);
# the lane checks their data with qemu-io in the guest.
log "NFS client, qemu-utils"
apt_install nfs-common qemu-utils

log "configuring the guest"
echo shoal-lane > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 shoal-lane\n' > "$R/etc/hosts"
printf '/dev/vda / ext4 defaults,noatime 0 1\n' > "$R/etc/fstab"

mkdir -p "$R/etc/systemd/network"
cat > "$R/etc/systemd/network/10-lane.network" <<NET
[Match]
Name=en* eth*
[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
DNS=10.0.2.3
NET
in_root systemctl enable systemd-networkd.service
in_root systemctl enable ssh.service dbus.service nfs-server.service
# Things a throwaway test guest does not need at boot.
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
         man-db.timer zfs-scrub-monthly@.timer; do
    in_root systemctl disable "$u" >/dev/null 2>&1 || true
done
in_root systemctl mask systemd-timesyncd.service >/dev/null 2>&1 || true

cat > "$R/etc/modules-load.d/shoal-lane.conf" <<MOD
zfs
target_core_mod
target_core_iblock
iscsi_target_mod
nfsd
MOD
# A small ARC: the guest has 4 GiB and the tests are not about cache hits.
echo 'options zfs zfs_arc_max=536870912' > "$R/etc/modprobe.d/zfs-lane.conf"
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' > "$R/etc/systemd/journald.conf.d/lane.conf"
# NFS: the host reaches the server through qemu's forward of port 2049 only,
# so serve NFSv4 (no mountd/rpcbind needed from outside); v3 stays on for
# anything run inside the guest.
cat > "$R/etc/nfs.conf.d/lane.conf" <<NFS
[nfsd]
threads=8
vers4=y
NFS
touch "$R/etc/exports"
mkdir -p "$R/etc/exports.d"

mkdir -p "$R/etc/ssh/sshd_config.d"
cat > "$R/etc/ssh/sshd_config.d/lane.conf" <<SSHD
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
MaxStartups 50:30:100
MaxSessions 50
SSHD
rm -f "$R"/etc/ssh/ssh_host_*
in_root ssh-keygen -A

rm -f "$OUT/id_ed25519" "$OUT/id_ed25519.pub"
mkdir -p "$OUT"
ssh-keygen -q -t ed25519 -N '' -C shoal-kernel-lane -f "$WORK/id_ed25519"
install -d -m 700 "$R/root/.ssh"
install -m 600 "$WORK/id_ed25519.pub" "$R/root/.ssh/authorized_keys"
in_root passwd -l root >/dev/null

# The initrd must mount an ext4 root on virtio-blk.
printf 'virtio_pci\nvirtio_blk\next4\n' >> "$R/etc/initramfs-tools/modules"
in_root update-initramfs -u -k "$KVER"

{
    echo "kernel $KVER"
    in_root dpkg-query -W -f '${Package} ${Version}\n' zfs-dkms zfsutils-linux \
        nfs-kernel-server nfs-common qemu-utils targetcli-fb python3-rtslib-fb openssh-server \
        linux-image-amd64
} > "$WORK/manifest.txt"

cp "$R/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
cp "$R/boot/initrd.img-$KVER" "$WORK/initrd.img"

in_root apt-get clean
rm -f "$R/usr/sbin/policy-rc.d"
rm -rf "$R"/var/lib/apt/lists/* "$R"/tmp/*
unmount_all

log "assembling $ROOT_SIZE root image"
truncate -s "$ROOT_SIZE" "$WORK/root.img"
mkfs.ext4 -q -F -L lane-root -d "$R" "$WORK/root.img"
rm -rf "$R"

mkdir -p "$OUT"
mv "$WORK/root.img" "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/id_ed25519" \
   "$WORK/id_ed25519.pub" "$WORK/manifest.txt" "$OUT/"
rmdir "$WORK"
log "done: $OUT"
