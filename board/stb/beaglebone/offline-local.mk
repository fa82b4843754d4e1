# SPDX-License-Identifier: MIT
# Package overrides for stb_beaglebone_defconfig on an offline machine (only
# Debian's archive and PyPI reachable): a BR2_PACKAGE_OVERRIDE_FILE included
# AFTER the offline kit's local.mk, whose OFFLINE_BR_DEBIAN_HOST_TOOL it uses.
# board/stb/beaglebone/prepare-offline.sh installs the Debian packages named
# here and writes the defconfig fragment that adds this file;
# docs/offline-build.md has the commands.
#
# The board's host tools: their sources are not obtainable offline, Debian's
# binaries do the same job (the packages stay known to Buildroot, only their
# steps change, as in the kit).

# host-dtc (U-Boot's device trees, BR2_TARGET_UBOOT_NEEDS_DTC): device-tree-compiler
$(eval $(call OFFLINE_BR_DEBIAN_HOST_TOOL,DTC))
override define HOST_DTC_INSTALL_CMDS
	mkdir -p $(HOST_DIR)/bin
	ln -sf /usr/bin/dtc $(HOST_DIR)/bin/dtc
endef

# host-openssl (= host-libopenssl) and host-gnutls, for U-Boot's tools (mkimage
# signing, mkeficapsule): Debian's libssl-dev and libgnutls28-dev, which the
# host compiler finds by itself (U-Boot falls back to -lssl -lcrypto -lgnutls
# when pkg-config does not know them).
$(eval $(call OFFLINE_BR_DEBIAN_HOST_TOOL,LIBOPENSSL))
override HOST_LIBOPENSSL_INSTALL_CMDS = @true
$(eval $(call OFFLINE_BR_DEBIAN_HOST_TOOL,GNUTLS))
override HOST_GNUTLS_INSTALL_CMDS = @true

# host-genimage, host-dosfstools, host-mtools (sdcard.img and its FAT boot
# partition) and host-bmap-tools (sdcard.img.bmap): Debian's genimage,
# dosfstools, mtools and bmap-tools.
$(eval $(call OFFLINE_BR_DEBIAN_HOST_TOOL,GENIMAGE))
override define HOST_GENIMAGE_INSTALL_CMDS
	mkdir -p $(HOST_DIR)/bin
	ln -sf /usr/bin/genimage $(HOST_DIR)/bin/genimage
endef
$(eval $(call OFFLINE_BR_DEBIAN_HOST_TOOL,DOSFSTOOLS))
override define HOST_DOSFSTOOLS_INSTALL_CMDS
	mkdir -p $(HOST_DIR)/sbin
	for t in mkfs.fat mkfs.vfat mkdosfs fsck.fat fsck.vfat dosfsck fatlabel; do \
		ln -sf /usr/sbin/$$t $(HOST_DIR)/sbin/$$t; \
	done
endef
$(eval $(call OFFLINE_BR_DEBIAN_HOST_TOOL,MTOOLS))
override define HOST_MTOOLS_INSTALL_CMDS
	mkdir -p $(HOST_DIR)/bin
	for t in mtools mcopy mdir mmd mattrib mformat mlabel minfo mdel mtype; do \
		ln -sf /usr/bin/$$t $(HOST_DIR)/bin/$$t; \
	done
endef
$(eval $(call OFFLINE_BR_DEBIAN_HOST_TOOL,BMAP_TOOLS))
override define HOST_BMAP_TOOLS_INSTALL_CMDS
	mkdir -p $(HOST_DIR)/bin
	ln -sf /usr/bin/bmaptool $(HOST_DIR)/bin/bmaptool
endef

# host-bison and host-flex (the kernel's dtc, BR2_LINUX_KERNEL_DTS_SUPPORT;
# Buildroot builds its own, with host-autoconf, -automake, -m4, ...):
# Debian's bison and flex, installed by the offline kit.
$(eval $(call OFFLINE_BR_DEBIAN_HOST_TOOL,BISON))
override define HOST_BISON_INSTALL_CMDS
	mkdir -p $(HOST_DIR)/bin
	ln -sf /usr/bin/bison $(HOST_DIR)/bin/bison
	ln -sf /usr/bin/bison $(HOST_DIR)/bin/yacc
endef
$(eval $(call OFFLINE_BR_DEBIAN_HOST_TOOL,FLEX))
override define HOST_FLEX_INSTALL_CMDS
	mkdir -p $(HOST_DIR)/bin
	ln -sf /usr/bin/flex $(HOST_DIR)/bin/flex
	ln -sf /usr/bin/flex $(HOST_DIR)/bin/lex
endef

# mtools' .tar.lz would need host-lzip to extract: nothing is extracted here.
override HOST_MTOOLS_EXTRACT_DEPENDENCIES =
