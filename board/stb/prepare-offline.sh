#!/bin/sh
# SPDX-License-Identifier: MIT
# prepare-offline.sh KIT_DIR   (every board; after the offline kit's own
# preparation, and again whenever the kernel tarball it names changes)
#
# Offline builds (docs/offline-build.md) take the kernel from a tarball of the
# build machine (Debian's linux-source-6.1: KIT_DIR/offline.config sets
# BR2_LINUX_KERNEL_CUSTOM_TARBALL_LOCATION="file:///usr/src/...").  The
# defconfigs make Buildroot check every download against a hash
# (BR2_DOWNLOAD_FORCE_CHECK_HASHES), and that tarball changes with each Debian
# update of the package, so its hash belongs to the machine that has it, not to
# this repository.  This script writes, into KIT_DIR:
#   - stb-patches/linux/linux.hash: the tarball's sha256;
#   - stb-offline.config: the defconfig fragment to merge after offline.config
#     (EXTRA_CONFIG): this tree's patch folder plus KIT_DIR/stb-patches as
#     BR2_GLOBAL_PATCH_DIR (Buildroot reads the hash files of every global
#     patch folder).
# Idempotent; needs no root.
set -eu

die() { echo "prepare-offline.sh: $*" >&2; exit 1; }

KIT=$(realpath "${1:?usage: prepare-offline.sh KIT_DIR}")
[ -f "$KIT/offline.config" ] || die "$KIT: no offline.config (prepare the offline kit first)"
location=$(sed -n 's/^BR2_LINUX_KERNEL_CUSTOM_TARBALL_LOCATION="\(.*\)"$/\1/p' "$KIT/offline.config")
case $location in
    file://*) tarball=${location#file://} ;;
    "") die "$KIT/offline.config sets no BR2_LINUX_KERNEL_CUSTOM_TARBALL_LOCATION" ;;
    *) die "the kernel tarball is not a local file ($location): nothing to do" ;;
esac
[ -f "$tarball" ] || die "no $tarball (the kernel tarball of $KIT/offline.config)"

mkdir -p "$KIT/stb-patches/linux"
sha=$(sha256sum "$tarball" | cut -d' ' -f1)
cat > "$KIT/stb-patches/linux/linux.hash.tmp" <<HASH
# Written by board/stb/prepare-offline.sh from $tarball
# (run it again after that file changes, e.g. a Debian update of its package)
sha256  $sha  $(basename "$tarball")
HASH
mv "$KIT/stb-patches/linux/linux.hash.tmp" "$KIT/stb-patches/linux/linux.hash"

cat > "$KIT/stb-offline.config" <<CONFIG
# Written by board/stb/prepare-offline.sh: merge after $KIT/offline.config
# (EXTRA_CONFIG), for every board: the hash of the local kernel tarball.
BR2_GLOBAL_PATCH_DIR="\$(BR2_EXTERNAL_KBUS_PATH)/../board/stb/patches $KIT/stb-patches"
CONFIG
echo "prepare-offline.sh: $(basename "$tarball") sha256 $sha"
echo "  in $KIT/stb-patches/linux/linux.hash; merge $KIT/stb-offline.config after offline.config"
