#!/bin/sh
# SPDX-License-Identifier: MIT
# post-image.sh BINARIES_DIR BOARD  (Buildroot BR2_ROOTFS_POST_IMAGE_SCRIPT)
#
# BOARD is BR2_ROOTFS_POST_SCRIPT_ARGS:
#   qemu        writes BINARIES_DIR/start-qemu.sh, which boots zImage with
#               rootfs.ext4 on virtio-blk in qemu-system-arm -M virt
#   beaglebone  writes BINARIES_DIR/sdcard.img (genimage: FAT boot partition
#               with MLO, u-boot.img, zImage, DTBs, extlinux.conf; ext4 root
#               partition) and its block map sdcard.img.bmap (bmaptool)
set -eu

IMAGES=${1:?usage: post-image.sh BINARIES_DIR BOARD}
BOARD=${2:?usage: post-image.sh BINARIES_DIR BOARD}
BOARD_DIR=$(cd "$(dirname "$0")" && pwd)

write_start_qemu() {
    cat > "$IMAGES/start-qemu.sh" <<'EOF'
#!/bin/sh
# start-qemu.sh [--snapshot] [--share DIR] [QEMU-ARGUMENT...]
# Boots the KBUS STB image (written by board/stb/post-image.sh) with its
# console on this terminal: log in as root (no password); `poweroff` or
# Ctrl-A X ends QEMU.
#   --snapshot   changes to the root file system are thrown away at exit
#   --share DIR  DIR is shared read-write over virtio-9p, mount tag "share":
#                in the guest, `rig-setup --share` mounts it at /mnt/share
# Extra arguments go to qemu-system-arm; STB_APPEND adds kernel arguments.
set -eu
IMAGES=$(cd "$(dirname "$0")" && pwd)
SNAPSHOT=
SHARE=
while [ $# -gt 0 ]; do
    case $1 in
        --snapshot) SNAPSHOT=,snapshot=on; shift ;;
        --share) SHARE=${2:?--share needs a folder}; shift 2 ;;
        *) break ;;
    esac
done
if [ -n "$SHARE" ]; then
    set -- -fsdev "local,id=share,path=$SHARE,security_model=none" \
        -device virtio-9p-device,fsdev=share,mount_tag=share "$@"
fi
exec qemu-system-arm -M virt -cpu cortex-a15 -smp 2 -m 256 -nographic \
    -kernel "$IMAGES/zImage" \
    -append "root=/dev/vda rw rootwait console=ttyAMA0 ${STB_APPEND:-}" \
    -drive "file=$IMAGES/rootfs.ext4,if=none,format=raw,id=hd0$SNAPSHOT" \
    -device virtio-blk-device,drive=hd0 \
    -netdev user,id=net0 -device virtio-net-device,netdev=net0 \
    "$@"
EOF
    chmod 0755 "$IMAGES/start-qemu.sh"
}

write_sdcard() {
    cfg=$1
    # genimage wants a root path even though the root file system is a
    # ready-made image (rootfs.ext4): give it an empty one.
    empty=$(mktemp -d)
    trap 'rm -rf "$empty"' EXIT
    rm -rf "${BUILD_DIR:?}/genimage.tmp"
    genimage --rootpath "$empty" --tmppath "$BUILD_DIR/genimage.tmp" \
        --inputpath "$IMAGES" --outputpath "$IMAGES" --config "$cfg"
    bmaptool create -o "$IMAGES/sdcard.img.bmap" "$IMAGES/sdcard.img"
    echo "post-image.sh: $IMAGES/sdcard.img and sdcard.img.bmap written"
}

case $BOARD in
    qemu)
        write_start_qemu
        ;;
    beaglebone)
        install -D -m 0644 "$BOARD_DIR/beaglebone/extlinux.conf" \
            "$IMAGES/extlinux/extlinux.conf"
        write_sdcard "$BOARD_DIR/beaglebone/genimage.cfg"
        ;;
    *)
        echo "post-image.sh: unknown board '$BOARD'" >&2
        exit 1
        ;;
esac
