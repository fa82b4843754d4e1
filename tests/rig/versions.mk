# SPDX-License-Identifier: MIT
# Pinned Debian 12 (bookworm) packages for the QEMU test rig: the ONE place
# where rig versions live.  Everything is fetched with `apt-get download` into
# out/dl/ and unpacked with `dpkg -x`; a version that no longer downloads is a
# loud error (see tests/rig/fetch-debs).  To move on, pick versions shown by
# `apt-cache madison NAME:ARCH` (prefer the bookworm main suite, which both
# amd64 and armhf see) and run `make rig`.

# Kernel: ABI name and the Debian version of linux-image/-headers/-kbuild.
KERNEL_ABI     := 6.1.0-50
KERNEL_VERSION := 6.1.176-1

# Guest userland, per-architecture packages (NAME=VERSION; the rig adds the
# architecture: amd64 for RIG_ARCH=x86_64, armhf for RIG_ARCH=armhf).
RIG_ARCH_DEBS := \
	busybox-static=1:1.35.0-4+deb12u1+b1 \
	libc6=2.36-9+deb12u14 \
	libgcc-s1=12.2.0-14+deb12u1 \
	zlib1g=1:1.2.13.dfsg-1 \
	libexpat1=2.5.0-1+deb12u2 \
	libffi8=3.4.4-1 \
	libbz2-1.0=1.0.8-5+b1 \
	liblzma5=5.4.1-1+deb12u1 \
	python3.11-minimal=3.11.2-6+deb12u8 \
	libpython3.11-minimal=3.11.2-6+deb12u8 \
	libpython3.11-stdlib=3.11.2-6+deb12u8

# Guest userland, architecture-independent packages (pytest and its deps).
RIG_ALL_DEBS := \
	python3-pytest=7.2.1-2 \
	python3-attr=22.2.0-1 \
	python3-iniconfig=1.1.1-2 \
	python3-packaging=23.0-1 \
	python3-pluggy=1.0.0+repack-1 \
	python3-py=1.11.0-1

# Sanitizer runtimes for the x86_64 guest only (tests/rig/components/libkbus.mk
# runs the libkbus C tests under AddressSanitizer and UBSan). Same gcc-12
# version as libgcc-s1 above; libubsan needs libstdc++. The rig adds :amd64.
LIBKBUS_SANITIZER_DEBS := \
	libasan8=12.2.0-14+deb12u1 \
	libubsan1=12.2.0-14+deb12u1 \
	libstdc++6=12.2.0-14+deb12u1

# D-Bus for kbus-bench's D-Bus floor (tests/rig/components/bench.mk): the
# daemon, libdbus (with its headers, to build against) and their run-time
# dependencies that the base rig does not already carry. The rig adds the
# architecture.
BENCH_DBUS_DEBS := \
	dbus-daemon=1.14.10-1~deb12u1 \
	libdbus-1-3=1.14.10-1~deb12u1 \
	libdbus-1-dev=1.14.10-1~deb12u1 \
	libsystemd0=252.39-1~deb12u2 \
	libcap2=1:2.66-4+deb12u3+b1 \
	libgcrypt20=1.10.1-3+deb12u1 \
	libgpg-error0=1.46-1 \
	liblz4-1=1.9.4-1 \
	libzstd1=1.5.4+dfsg2-5 \
	libapparmor1=3.0.8-3 \
	libaudit1=1:3.0.9-1 \
	libcap-ng0=0.8.3-1+b3 \
	libselinux1=3.4-1+b6 \
	libpcre2-8-0=10.42-1

# MicroPython for the guest (tests/rig/components/micropython.mk): the unix
# port built from Debian's source (trixie's micropython 1.25.0+ds, which has
# no binary for bookworm), taken from Debian's pool by URL and checked
# against this SHA-256; its ffi module links the guest's libffi8 (above),
# headers from libffi-dev. The rig adds the architecture to the .deb pins.
MICROPYTHON_ORIG := micropython_1.25.0+ds.orig.tar.xz
MICROPYTHON_ORIG_URL := http://deb.debian.org/debian/pool/main/m/micropython/$(MICROPYTHON_ORIG)
MICROPYTHON_ORIG_SHA256 := 7b25be99a502f070b2de81dafc08da7051d992325d6e67daa9045a918fffdbea
MICROPYTHON_DEBS := \
	libffi-dev=3.4.4-1 \
	libffi8=3.4.4-1

# The KBUS bridge (tests/rig/components/bridge.mk). Mosquitto, the MQTT
# broker that the bridge tests run in a guest, is Debian's package as it is,
# with its run-time libraries (OpenSSL, TCP wrappers and their Kerberos/RPC
# libraries, systemd's and DLT's; the base rig has libc and liblzma). The
# openssl command (same version as libssl3) makes the TLS tests' CA and
# certificates in the guest, at test time. The rig adds the architecture;
# libtirpc-common is architecture-independent.
BRIDGE_BROKER_DEBS := \
	mosquitto=2.0.11-1.2+deb12u2 \
	openssl=3.0.20-1~deb12u2 \
	libmosquitto1=2.0.11-1.2+deb12u2 \
	libcjson1=1.7.15-1+deb12u4 \
	libdlt2=2.18.8-6 \
	libssl3=3.0.20-1~deb12u2 \
	libwrap0=7.6.q-32 \
	libnsl2=1.3.0-2 \
	libtirpc3=1.3.3+ds-1 \
	libgssapi-krb5-2=1.20.1-2+deb12u5 \
	libkrb5-3=1.20.1-2+deb12u5 \
	libk5crypto3=1.20.1-2+deb12u5 \
	libkrb5support0=1.20.1-2+deb12u5 \
	libcom-err2=1.47.0-2+b2 \
	libkeyutils1=1.6.3-2 \
	libsystemd0=252.39-1~deb12u2 \
	libcap2=1:2.66-4+deb12u3+b1 \
	libgcrypt20=1.10.1-3+deb12u1 \
	libgpg-error0=1.46-1 \
	liblz4-1=1.9.4-1 \
	libzstd1=1.5.4+dfsg2-5
BRIDGE_BROKER_ALL_DEBS := \
	libtirpc-common=1.3.3+ds-1

# paho-mqtt for the bridge, which needs paho-mqtt >= 2: bookworm's
# python3-paho-mqtt is 1.6, so the pure-Python wheel from PyPI (pip download),
# checked against this SHA-256.
PAHO_MQTT_VERSION := 2.1.0
PAHO_MQTT_WHEEL := paho_mqtt-$(PAHO_MQTT_VERSION)-py3-none-any.whl
PAHO_MQTT_SHA256 := 6db9ba9b34ed5bc6b6e3812718c7e06e2fd7444540df2455d2c51bd58808feee
