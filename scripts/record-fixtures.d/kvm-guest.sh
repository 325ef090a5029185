#!/usr/bin/env bash
# Run one command as root inside a KVM guest that boots a stock Debian kernel (one with the
# tunnel modules this machine's own kernel lacks: gre, ip6gre, erspan, ipip, sit, ip6tnl,
# geneve, mpls, pppoe) on this machine's own root filesystem.
#
# The guest sees the host's / read-only over 9p (virtfs) with a tmpfs overlay on top (so servers
# can write PID files and logs), the unpacked kernel package's /lib/modules bound in, and this
# worktree as a writable 9p share at the same path, so what the command writes under it (fixtures/)
# lands on the host. No network device: the command builds its own namespaces.
# A recording tool, not run by CI.
#
# Usage: sudo scripts/record-fixtures.d/kvm-guest.sh [--] COMMAND [ARG...]
#   COMMAND runs with the current directory unchanged; its output goes to the serial console
#   (this terminal) and its exit status becomes this script's.
# Example: the live GRE test, which this machine's kernel skips (passed on 2026-12-07, 356 s under
# TCG; scripts/live-test.d/drive.py waits 15 s for plainsight's "listening on" line, too short under
# emulation, so the guest binds a copy with 120 s over it; the host's file is untouched):
#   kvm-guest.sh -- bash -c 'cd /work/wt-kvm && sed "s/time.monotonic() + 15$/time.monotonic() + 120/"
#     scripts/live-test.d/drive.py >/tmp/drive.py && mount --bind /tmp/drive.py scripts/live-test.d/drive.py
#     && .build/debug/plainsightPackageTests.xctest --testing-library swift-testing --filter gretapUnderlay'
# Environment: KVM_KERNEL_PKG (default: the package linux-image-amd64 depends on),
#   KVM_MEM (default 2048 MiB), KVM_CPUS (default 2), KVM_TIMEOUT (default 3600 s),
#   KVM_ACCEL (kvm or tcg; default kvm unless /dev/kvm is missing or PVM, see below).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$ROOT/.build-vm             # gitignored (.build*/)
log() { printf '[kvm-guest] %s\n' "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

[[ ${1:-} == -- ]] && shift
(($#)) || die "usage: $0 [--] COMMAND [ARG...]"
[[ $(id -u) -eq 0 ]] || die "must run as root (/dev/kvm, apt-get)"

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[[ -x /bin/busybox ]] && file -L /bin/busybox | grep -q 'statically linked' || need+=(busybox-static)
command -v depmod >/dev/null || need+=(kmod)
command -v file >/dev/null || need+=(file)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
fi

# ------------------------------------------------------------------ kernel package
PKG=${KVM_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')}
[[ -n $PKG ]] || die "cannot tell which kernel package linux-image-amd64 depends on"
KVER=${PKG#linux-image-}
KDIR=$WORK/$PKG
mkdir -p "$WORK"
if [[ ! -f $KDIR/boot/vmlinuz-$KVER ]]; then
  log "downloading and unpacking $PKG"
  rm -rf "$KDIR" "$WORK"/"$PKG"_*.deb
  (cd "$WORK" && apt-get download "$PKG" 2>/dev/null)
  dpkg-deb -x "$WORK"/"$PKG"_*.deb "$KDIR"
  depmod -b "$KDIR" "$KVER"
fi
MODDIR=$KDIR/lib/modules/$KVER

# ------------------------------------------------------------------ initramfs
# busybox and the modules needed to mount the root: virtio-pci, 9p, overlay (in dependency order).
INITRD=$WORK/initramfs-$KVER.cpio.gz
if [[ ! -f $INITRD || $0 -nt $INITRD ]]; then
  log "building $INITRD"
  IR=$(mktemp -d "$WORK/initramfs.XXXXXX")
  mkdir -p "$IR"/{bin,proc,sys,dev,lower,upper,newroot,mods}
  cp /bin/busybox "$IR/bin/busybox"
  : > "$IR/mods/order"
  for m in virtio_pci 9pnet_virtio 9p overlay; do
    modprobe -d "$KDIR" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
  done | awk '!seen[$0]++' | while read -r ko; do
    cp "$ko" "$IR/mods/"
    basename "$ko" >> "$IR/mods/order"
  done
  cat > "$IR/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
while read -r ko; do insmod "/mods/$ko" || echo "initramfs: insmod $ko failed"; done < /mods/order
arg() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
fail() { echo "initramfs: $*"; echo o > /proc/sysrq-trigger; sleep 10; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose hostroot /lower || fail "mount hostroot"
mount -t tmpfs -o size=1g tmpfs /upper && mkdir /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || fail "overlay"
SHARE=$(arg kvm_share); MODS=$(arg kvm_mods)
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 hostshare "/newroot$SHARE" || fail "mount hostshare"
mkdir -p /newroot/lib/modules && mount --bind "/lower$MODS" /newroot/lib/modules
for d in run tmp; do mount -t tmpfs tmpfs "/newroot/$d"; done
mount -t tmpfs tmpfs /newroot/dev/shm 2>/dev/null
exec switch_root /newroot /bin/bash "$SHARE/.build-vm/.guest-run.sh"
EOF
  chmod +x "$IR/init"
  set -o pipefail; (cd "$IR" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$INITRD"
  rm -rf "$IR"
fi

# ------------------------------------------------------------------ the command
# Runs as PID 1 after switch_root: the usual pseudo file systems, then COMMAND, then power off.
printf -v CMD '%q ' "$@"
cat > "$WORK/.guest-run.sh" <<EOF
set -u
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /run/netns /run/lock; mount -t devpts devpts /dev/pts
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
dmesg -n 1   # kernel messages (9p cookie notices) stay in dmesg, off the serial console
ip link set lo up
hostname kvm-guest
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/swift/usr/bin HOME=/root
cd $(printf %q "$PWD")
echo "[kvm-guest] kernel \$(uname -r): running $CMD"
$CMD
echo \$? > $(printf %q "$WORK/.guest-rc")
sync
# poweroff(2) from a binary that needs nothing more from the 9p root (bash would read on and panic)
exec /bin/busybox poweroff -f
EOF
rm -f "$WORK/.guest-rc"

# /dev/kvm may be PVM (kvm_pvm: KVM without hardware virtualisation, as under Firecracker): it runs
# only guest kernels built for PVM, and a stock kernel hangs silently before its first message.
# Then emulate (TCG): slower, but a stock kernel boots.
ACCEL=${KVM_ACCEL:-}
if [[ -z $ACCEL ]]; then
  if [[ -c /dev/kvm && ! -d /sys/module/kvm_pvm ]]; then ACCEL=kvm; else ACCEL=tcg; fi
fi
case $ACCEL in
  kvm) CPU=(-accel kvm -cpu host,-arch-capabilities) ;;   # some hosts refuse MSR 0x10a
  tcg) CPU=(-accel tcg,thread=multi -cpu max) ;;
  *) die "KVM_ACCEL must be kvm or tcg" ;;
esac
log "booting $KVER with $ACCEL (${KVM_MEM:-2048} MiB, ${KVM_CPUS:-2} CPUs)"
timeout "${KVM_TIMEOUT:-3600}" qemu-system-x86_64 \
  "${CPU[@]}" -m "${KVM_MEM:-2048}" -smp "${KVM_CPUS:-2}" \
  -nographic -no-reboot -nic none \
  -kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$INITRD" \
  -append "console=ttyS0 quiet panic=-1 kvm_share=$ROOT kvm_mods=$KDIR/lib/modules" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$ROOT,mount_tag=hostshare,security_model=none,multidevs=remap" \
  </dev/null || log "qemu exited with status $?"
[[ -f $WORK/.guest-rc ]] || die "the guest did not finish the command (no exit status written)"
rc=$(cat "$WORK/.guest-rc")
log "guest command exit status $rc"
exit "$rc"
