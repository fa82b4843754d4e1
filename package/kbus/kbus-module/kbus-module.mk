################################################################################
#
# kbus-module
#
################################################################################

KBUS_MODULE_VERSION = 1.0.0
KBUS_MODULE_SITE = $(BR2_EXTERNAL_KBUS_PATH)/../package/kbus
KBUS_MODULE_SITE_METHOD = local
KBUS_MODULE_LICENSE = GPL-2.0 (module), GPL-2.0 WITH Linux-syscall-note or MIT (UAPI header)
KBUS_MODULE_LICENSE_FILES = module/COPYING include/COPYING
KBUS_MODULE_INSTALL_STAGING = YES
# The module (module/) and its UAPI header (include/) only; no build products
# of an out-of-tree build made in the source folder.
KBUS_MODULE_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
	--exclude='.*.cmd' --exclude=modules.order --exclude=Module.symvers \
	--include=/module/ --include=/include/ --include='/module/**' \
	--include='/include/**' --exclude='*'
KBUS_MODULE_MODULE_SUBDIRS = module

define KBUS_MODULE_USERS
	- - kbus -1 * - - - KBUS device nodes (/dev/kbusN)
endef

define KBUS_MODULE_INSTALL_STAGING_CMDS
	$(INSTALL) -D -m 0644 $(@D)/include/linux/kbus_defns.h \
		$(STAGING_DIR)/usr/include/linux/kbus_defns.h
endef

$(eval $(kernel-module))
$(eval $(generic-package))
