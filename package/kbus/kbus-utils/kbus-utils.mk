################################################################################
#
# kbus-utils
#
################################################################################

KBUS_UTILS_VERSION = 1.0.0
KBUS_UTILS_SITE = $(BR2_EXTERNAL_KBUS_PATH)/../package/kbus/utils
KBUS_UTILS_SITE_METHOD = local
KBUS_UTILS_LICENSE = MIT
KBUS_UTILS_LICENSE_FILES = LICENSE
KBUS_UTILS_DEPENDENCIES = kbus-lib host-pkgconf
KBUS_UTILS_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = --exclude=/build

# Built against the staged libkbus, found with pkg-config; no -Werror.
KBUS_UTILS_MAKE_OPTS = \
	$(TARGET_CONFIGURE_OPTS) \
	O=$(@D)/build \
	PREFIX=/usr \
	PKG_CONFIG=$(PKG_CONFIG_HOST_BINARY) \
	WARNFLAGS="-Wall -Wextra"

define KBUS_UTILS_BUILD_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D) $(KBUS_UTILS_MAKE_OPTS) all
endef

define KBUS_UTILS_INSTALL_TARGET_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D) $(KBUS_UTILS_MAKE_OPTS) \
		DESTDIR=$(TARGET_DIR) install
endef

$(eval $(generic-package))
