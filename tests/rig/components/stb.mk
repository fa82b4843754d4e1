# SPDX-License-Identifier: MIT
# The STB services (package/stb-services) in the rig guest: the `stb` Python
# package in dist-packages (byte-compiled for the guest's CPython 3.11) and
# the stb-* commands in /usr/bin.  Their init scripts and settings come with
# overlay/ (etc/init.d/S60stb-services, etc/default/stb-services).  The
# services' and the bridge's users and groups (STB_SERVICES_USERS and
# KBUS_BRIDGE_USERS, the image's makeusers tables) are added to the rig's
# /etc/passwd and to the overlay's /etc/group
# by tests/rig/stb-users.

STB_SRC := package/stb-services
STB_INPUTS := $(shell find $(STB_SRC)/stb $(STB_SRC)/bin -type f \
	-not -path '*/__pycache__/*' -not -name '*.pyc' 2>/dev/null)
STB_STAGE := $(RIG)/stage/stb

$(RIG)/stb.inputs: FORCE
	$(call file_list,$(STB_SRC)/stb $(STB_SRC)/bin)

$(RIG)/stage/stb.stamp: $(RIG)/stb.inputs $(STB_INPUTS) tests/rig/components/stb.mk \
		$(STB_SRC)/stb-services.mk package/kbus-bridge/kbus-bridge.mk tests/rig/stb-users \
		tests/rig/rootfs/etc/passwd overlay/etc/group
	rm -rf $(STB_STAGE)
	tests/rig/stb-users tests/rig/rootfs/etc/passwd overlay/etc/group $(STB_STAGE) \
		$(STB_SRC)/stb-services.mk package/kbus-bridge/kbus-bridge.mk
	mkdir -p $(STB_STAGE)/usr/lib/python3/dist-packages/stb $(STB_STAGE)/usr/bin
	cp $(STB_SRC)/stb/*.py $(STB_SRC)/stb/py.typed $(STB_STAGE)/usr/lib/python3/dist-packages/stb/
	install -m 755 $(STB_SRC)/bin/stb-* $(STB_STAGE)/usr/bin/
	python3.11 -m compileall -q --invalidation-mode unchecked-hash -s $(STB_STAGE) -p / \
		$(STB_STAGE)/usr/lib/python3/dist-packages/stb >/dev/null || \
		echo "stb.mk: WARNING: the stb package does not compile" >&2
	@mkdir -p $(dir $@) && touch $@

RIG_STAGES += stb
