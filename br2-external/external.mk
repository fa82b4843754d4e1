# SPDX-License-Identifier: MIT
# Recipes of the KBUS external tree: they live next to their sources in
# ../package (one directory per Buildroot package).
include $(sort $(wildcard $(BR2_EXTERNAL_KBUS_PATH)/../package/kbus/kbus-*/kbus-*.mk))
include $(BR2_EXTERNAL_KBUS_PATH)/../package/stb-services/stb-services.mk
