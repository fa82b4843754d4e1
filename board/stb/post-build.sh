#!/bin/sh
# SPDX-License-Identifier: MIT
# post-build.sh TARGET_DIR BOARD  (Buildroot BR2_ROOTFS_POST_BUILD_SCRIPT)
#
# Runs after the packages and the overlay (overlay/) are in TARGET_DIR, before
# the root file system image is made. BOARD is BR2_ROOTFS_POST_SCRIPT_ARGS:
#   qemu        the QEMU image, which is also the test image: installs the
#               test helpers (rig-setup, /mnt/share for the 9p share)
#   beaglebone  the BeagleBone Black SD card image
# Everything here only adds what is missing: files of overlay/ win.
set -eu

TARGET=${1:?usage: post-build.sh TARGET_DIR BOARD}
BOARD=${2:?usage: post-build.sh TARGET_DIR BOARD}
BOARD_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BOARD_DIR/../.." && pwd)

# Default settings of the kbus start-up script (overlay/), unless the overlay
# brings its own.
if [ ! -e "$TARGET/etc/default/kbus" ]; then
    mkdir -p "$TARGET/etc/default"
    cat > "$TARGET/etc/default/kbus" <<'EOF'
# Settings of /etc/init.d/S50kbus (overlay/), which loads the KBUS module at boot.
KBUS_DEVICES=1
KBUS_MODE=0660
KBUS_GROUP=kbus
KBUS_OPTIONS=""
EOF
fi

# The STB services are Python 3 programs: an image without them (e.g. the
# MicroPython image) does not try to start them at boot.
if [ ! -e "$TARGET/usr/bin/stb-supervisor" ]; then
    rm -f "$TARGET/etc/init.d/S60stb-services"
fi

# A prompt that says where one is (the test harness also waits for it).
if [ ! -e "$TARGET/etc/profile.d/prompt.sh" ]; then
    mkdir -p "$TARGET/etc/profile.d"
    cat > "$TARGET/etc/profile.d/prompt.sh" <<'EOF'
# Interactive shells: user@host:dir# (written by board/stb/post-build.sh)
if [ -n "${PS1:-}" ]; then
    PS1='\u@\h:\w\$ '
fi
EOF
fi

case $BOARD in
    qemu)
        # Test helpers: tests/labgrid_strategy.py runs `rig-setup --share --load`
        # (mounts the repository shared by QEMU over virtio-9p at /mnt/share,
        # loads kbus if it is not loaded). The same script as in the test rig.
        install -D -m 0755 "$REPO/tests/rig/rootfs/usr/sbin/rig-setup" \
            "$TARGET/usr/sbin/rig-setup"
        mkdir -p "$TARGET/mnt/share"
        ;;
    beaglebone) ;;
    *)
        echo "post-build.sh: unknown board '$BOARD'" >&2
        exit 1
        ;;
esac
