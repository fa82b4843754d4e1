################################################################################
#
# kbus-bridge
#
################################################################################

KBUS_BRIDGE_VERSION = 1.0.0
KBUS_BRIDGE_SITE = $(BR2_EXTERNAL_KBUS_PATH)/../package/kbus-bridge
KBUS_BRIDGE_SITE_METHOD = local
KBUS_BRIDGE_SETUP_TYPE = setuptools
KBUS_BRIDGE_LICENSE = MIT
KBUS_BRIDGE_LICENSE_FILES = LICENSE
KBUS_BRIDGE_DEPENDENCIES = kbus-python python-paho-mqtt
KBUS_BRIDGE_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude=__pycache__ --exclude=build --exclude=dist \
	--exclude='*.egg-info'

# The bridge runs as its own user (S70kbus-bridge, KBUS_BRIDGE_USER), in
# group kbus (the device nodes); the STB policy lets that user proxy other
# boxes' STB services (overlay/etc/kbus/policy.d/50-stb.conf).
define KBUS_BRIDGE_USERS
	kbus-bridge 220 kbus-bridge 220 * - - kbus KBUS bridge
endef

# the default configuration bridges nothing and does not enable the bridge;
# the bridge's rights beside the STB policy (S50kbus loads policy.d)
define KBUS_BRIDGE_INSTALL_CONFIG
	$(INSTALL) -D -m 0644 $(@D)/kbus-bridge.toml \
		$(TARGET_DIR)/etc/kbus-bridge.toml
	$(INSTALL) -D -m 0644 $(@D)/kbus-bridge-policy.conf \
		$(TARGET_DIR)/etc/kbus/policy.d/60-kbus-bridge.conf
endef
KBUS_BRIDGE_POST_INSTALL_TARGET_HOOKS += KBUS_BRIDGE_INSTALL_CONFIG

define KBUS_BRIDGE_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(@D)/S70kbus-bridge \
		$(TARGET_DIR)/etc/init.d/S70kbus-bridge
endef

$(eval $(python-package))
