################################################################################
#
# kbus-tests
#
################################################################################

KBUS_TESTS_VERSION = 1.0.0
KBUS_TESTS_SITE = $(BR2_EXTERNAL_KBUS_PATH)/../tests/c
KBUS_TESTS_SITE_METHOD = local
KBUS_TESTS_LICENSE = MIT
KBUS_TESTS_LICENSE_FILES = LICENSE
KBUS_TESTS_DEPENDENCIES = kbus-lib host-pkgconf
KBUS_TESTS_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = --exclude=/build

# Built against the staged libkbus, found with pkg-config; no -Werror.
KBUS_TESTS_MAKE_OPTS = \
	$(TARGET_CONFIGURE_OPTS) \
	O=$(@D)/build \
	PKG_CONFIG=$(PKG_CONFIG_HOST_BINARY) \
	WARNFLAGS="-Wall -Wextra"

define KBUS_TESTS_BUILD_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D) $(KBUS_TESTS_MAKE_OPTS) all
endef

define KBUS_TESTS_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(@D)/build/test_libkbus \
		$(TARGET_DIR)/usr/libexec/kbus-tests/test_libkbus
	$(INSTALL) -D -m 0755 $(@D)/build/test_cxx \
		$(TARGET_DIR)/usr/libexec/kbus-tests/test_cxx
endef

$(eval $(generic-package))
