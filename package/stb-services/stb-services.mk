################################################################################
#
# stb-services
#
################################################################################

STB_SERVICES_VERSION = 1.0.0
STB_SERVICES_SITE = $(BR2_EXTERNAL_KBUS_PATH)/../package/stb-services
STB_SERVICES_SITE_METHOD = local
STB_SERVICES_SETUP_TYPE = setuptools
STB_SERVICES_LICENSE = MIT
STB_SERVICES_LICENSE_FILES = LICENSE
STB_SERVICES_DEPENDENCIES = kbus-python
STB_SERVICES_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude=__pycache__ --exclude=build --exclude=dist \
	--exclude='*.egg-info'

# Each service runs as its own user (S60stb-services, STB_*_USER), all of
# them in groups kbus (the device nodes) and stb (the run and log folders);
# the bus policy (overlay/etc/kbus/policy.d/50-stb.conf) names these users
# and the groups stb-ctl (may command and watch the services) and
# stb-record (may start recordings).  Fixed ids, so that files and the
# policy mean the same on every build.
define STB_SERVICES_USERS
	stb-logger 210 stb-logger 210 * - - kbus,stb STB bus logger
	stb-decoder 211 stb-decoder 211 * - - kbus,stb STB decoder
	stb-recorder 212 stb-recorder 212 * - - kbus,stb STB recorder
	- - stb 151 * - - - STB services (run and log folders)
	- - stb-ctl 152 * - - - may command and watch the STB services
	- - stb-record 153 * - - - may start recordings
endef

$(eval $(python-package))
