################################################################################
#
# kbus-python
#
################################################################################

KBUS_PYTHON_VERSION = 1.0.0
KBUS_PYTHON_SITE = $(BR2_EXTERNAL_KBUS_PATH)/../package/kbus/python
KBUS_PYTHON_SITE_METHOD = local
KBUS_PYTHON_SETUP_TYPE = setuptools
KBUS_PYTHON_LICENSE = MIT
KBUS_PYTHON_LICENSE_FILES = LICENSE
KBUS_PYTHON_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude=__pycache__ --exclude=build --exclude=dist \
	--exclude='*.egg-info'

$(eval $(python-package))
