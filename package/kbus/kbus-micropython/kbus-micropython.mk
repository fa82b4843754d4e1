################################################################################
#
# kbus-micropython
#
################################################################################

KBUS_MICROPYTHON_VERSION = 1.0.0
KBUS_MICROPYTHON_SITE = $(BR2_EXTERNAL_KBUS_PATH)/../package/kbus
KBUS_MICROPYTHON_SITE_METHOD = local
KBUS_MICROPYTHON_LICENSE = MIT
KBUS_MICROPYTHON_LICENSE_FILES = micropython/LICENSE
# micropython is built with its ffi module when libffi is enabled
KBUS_MICROPYTHON_DEPENDENCIES = micropython libffi
KBUS_MICROPYTHON_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude=__pycache__ --exclude=/module --exclude=/libkbus \
	--exclude=/utils --exclude='*.egg-info' --exclude=build

# The MicroPython modules, and the modules shared with the Python 3 package
# (package/kbus/micropython/SHARED lists them).
define KBUS_MICROPYTHON_INSTALL_TARGET_CMDS
	$(INSTALL) -d -m 0755 $(TARGET_DIR)/usr/lib/micropython/kbus
	$(INSTALL) -m 0644 $(@D)/micropython/kbus/*.py \
		$(TARGET_DIR)/usr/lib/micropython/kbus/
	for f in $$(cat $(@D)/micropython/SHARED); do \
		$(INSTALL) -m 0644 $(@D)/python/kbus/$$f \
			$(TARGET_DIR)/usr/lib/micropython/kbus/$$f || exit 1; \
	done
endef

$(eval $(generic-package))
