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

$(eval $(python-package))
