################################################################################
#
# kbus-lib
#
################################################################################

KBUS_LIB_VERSION = 1.0.0
KBUS_LIB_SITE = $(BR2_EXTERNAL_KBUS_PATH)/../package/kbus
KBUS_LIB_SITE_METHOD = local
KBUS_LIB_LICENSE = MIT
KBUS_LIB_LICENSE_FILES = libkbus/LICENSE include/COPYING
KBUS_LIB_INSTALL_STAGING = YES
# libkbus/ with the UAPI header (include/) and the utilities (utils/), which
# its Makefile builds too; no build products of a build in the source folder.
KBUS_LIB_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude=/libkbus/build --exclude=/utils/build \
	--include=/libkbus/ --include=/include/ --include=/utils/ \
	--include='/libkbus/**' --include='/include/**' --include='/utils/**' \
	--exclude='*'

# No -Werror: warnings of another compiler must not break the image.
KBUS_LIB_MAKE_OPTS = \
	$(TARGET_CONFIGURE_OPTS) \
	O=$(@D)/build \
	PREFIX=/usr \
	WARNFLAGS="-Wall -Wextra"

define KBUS_LIB_BUILD_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D)/libkbus $(KBUS_LIB_MAKE_OPTS) lib
endef

# Headers, libkbus.a, libkbus.pc (and the utilities, unused there).
define KBUS_LIB_INSTALL_STAGING_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D)/libkbus $(KBUS_LIB_MAKE_OPTS) \
		DESTDIR=$(STAGING_DIR) install
endef

# The shared library only: the utilities are the kbus-utils package.
define KBUS_LIB_INSTALL_TARGET_CMDS
	mkdir -p $(TARGET_DIR)/usr/lib
	cp -dpf $(@D)/build/libkbus.so* $(TARGET_DIR)/usr/lib/
endef

$(eval $(generic-package))
