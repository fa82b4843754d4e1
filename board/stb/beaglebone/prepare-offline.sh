#!/bin/sh
# SPDX-License-Identifier: MIT
# prepare-offline.sh OUT_DIR   (as root, after the offline kit's preparation)
#
# Completes the offline kit's OUT_DIR (docs/offline-build.md) for
# stb_beaglebone_defconfig, on a machine whose only network is a Debian
# mirror (deb + deb-src) and PyPI:
#   - installs Debian's genimage, bmap-tools, mtools, dosfstools,
#     device-tree-compiler, libssl-dev and libgnutls28-dev, which replace the
#     board's Buildroot host tools (board/stb/beaglebone/offline-local.mk);
#   - puts U-Boot 2025.01 into OUT_DIR/mirror: Debian's u-boot source package
#     has the upstream tarball as its orig (checked against
#     board/stb/patches/uboot/uboot.hash);
#   - writes OUT_DIR/stb-beaglebone.config, the defconfig fragment to merge
#     after OUT_DIR/offline.config: it adds offline-local.mk to the kit's
#     package override file.
# Idempotent; builds nothing.
set -eu

OUT=$(realpath "${1:?usage: prepare-offline.sh OUT_DIR}")
HERE=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$OUT/local.mk" ] || [ ! -f "$OUT/offline.config" ]; then
    echo "prepare-offline.sh: $OUT: no local.mk and offline.config: prepare the offline kit first" >&2
    exit 1
fi
[ "$(id -u)" = 0 ] || { echo "prepare-offline.sh: run as root (apt-get)" >&2; exit 1; }

UBOOT_VERSION=2025.01
UBOOT_TARBALL=u-boot-$UBOOT_VERSION.tar.bz2
UBOOT_SHA=$(sed -n "s/^sha256 *\([0-9a-f]\{64\}\) *$UBOOT_TARBALL\$/\1/p" \
    "$HERE/../patches/uboot/uboot.hash")
[ -n "$UBOOT_SHA" ] || { echo "prepare-offline.sh: no hash of $UBOOT_TARBALL" >&2; exit 1; }

echo "== Debian host tools"
PKGS="genimage bmap-tools mtools dosfstools device-tree-compiler libssl-dev libgnutls28-dev"
missing=
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086  # one package per word
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

echo "== U-Boot $UBOOT_VERSION (Debian source package u-boot)"
mirror=$OUT/mirror/$UBOOT_TARBALL
if [ ! -f "$mirror" ] || [ "$(sha256sum < "$mirror" | cut -d' ' -f1)" != "$UBOOT_SHA" ]; then
    orig=$OUT/debian-src/u-boot_$UBOOT_VERSION.orig.tar.bz2
    if [ ! -f "$orig" ]; then
        version=$(apt-cache showsrc u-boot 2>/dev/null | sed -n 's/^Version: //p' |
            grep "^$UBOOT_VERSION-" | head -n 1)
        [ -n "$version" ] || {
            echo "prepare-offline.sh: no Debian source of u-boot $UBOOT_VERSION (deb-src trixie?)" >&2
            exit 1
        }
        mkdir -p "$OUT/debian-src"
        (cd "$OUT/debian-src" &&
            apt-get source --download-only -qq -o APT::Sandbox::User=root "u-boot=$version")
    fi
    [ "$(sha256sum < "$orig" | cut -d' ' -f1)" = "$UBOOT_SHA" ] || {
        echo "prepare-offline.sh: $orig is not upstream's $UBOOT_TARBALL (sha256 differs)" >&2
        exit 1
    }
    cp "$orig" "$mirror"
fi

echo "== $OUT/stb-beaglebone.config"
cat > "$OUT/stb-beaglebone.config" <<EOF
# Written by board/stb/beaglebone/prepare-offline.sh: merge after
# $OUT/offline.config (EXTRA_CONFIG) for BOARD=stb_beaglebone.
BR2_PACKAGE_OVERRIDE_FILE="$OUT/local.mk \$(BR2_EXTERNAL_KBUS_PATH)/../board/stb/beaglebone/offline-local.mk"
EOF
echo "prepare-offline.sh: done; build with"
echo "  make BOARD=stb_beaglebone EXTRA_CONFIG=\"$OUT/offline.config $OUT/stb-offline.config $OUT/stb-beaglebone.config\""
