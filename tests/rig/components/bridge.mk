# SPDX-License-Identifier: MIT
# Rig component: the KBUS bridge (package/kbus-bridge) and what it needs in
# the guest (included by tests/rig/rig.mk with ARCH set; see its "More
# components").
#
# Staged tree $(RIG)/stage/bridge/, laid out like the guest's root:
#   usr/lib/python3/dist-packages/kbus_bridge/   the bridge (byte-compiled)
#   usr/lib/python3/dist-packages/paho/          paho-mqtt (PyPI wheel, versions.mk)
#   usr/bin/kbus-bridge
#   etc/init.d/S70kbus-bridge, etc/kbus-bridge.toml,
#   etc/kbus/policy.d/60-kbus-bridge.conf        as the package installs
#                                                them (the default config
#                                                bridges nothing)
#   usr/sbin/mosquitto and its libraries         Debian's mosquitto (versions.mk),
#                                                for the tests' broker
#   usr/bin/openssl, etc/ssl/openssl.cnf         Debian's openssl command, for the
#                                                TLS tests' certificates
#   usr/lib/python3.11/lib-dynload/_ssl.*        Python's ssl module, which the
#                                                base rig leaves out: paho-mqtt
#                                                2.1 needs it even for mqtt://
#                                                (its socket code names
#                                                ssl.SSLWantReadError); from the
#                                                rig's libpython3.11-minimal, on
#                                                the libssl3 staged here
# The downloads land in $(DL): the .debs by fetch-debs, the wheel by pip.

BRIDGE_SRC := package/kbus-bridge
BRIDGE_STAGE := $(RIG)/stage/bridge
BRIDGE_INPUTS := $(shell find $(BRIDGE_SRC)/kbus_bridge $(BRIDGE_SRC)/bin -type f \
	-not -path '*/__pycache__/*' -not -name '*.pyc' 2>/dev/null) \
	$(BRIDGE_SRC)/S70kbus-bridge $(BRIDGE_SRC)/kbus-bridge.toml $(BRIDGE_SRC)/kbus-bridge-policy.conf
BRIDGE_DEB_SPECS := $(foreach p,$(BRIDGE_BROKER_DEBS),$(subst =,:$(DEB_ARCH)=,$(p))) \
	$(foreach p,$(BRIDGE_BROKER_ALL_DEBS),$(subst =,:all=,$(p)))
BRIDGE_MANIFEST := $(RIG)/bridge.debs
PAHO_MQTT_FILE := $(DL)/$(PAHO_MQTT_WHEEL)
# pip: the venv's (make setup), else the host python's
BRIDGE_PIP := $(if $(wildcard .venv/bin/pip),.venv/bin/pip,python3 -m pip)

$(BRIDGE_MANIFEST): $(VERSIONS) $(RIGSRC)/fetch-debs
	@mkdir -p $(RIG)
	$(FETCH) $@ $(BRIDGE_DEB_SPECS)

$(PAHO_MQTT_FILE): $(VERSIONS)
	@mkdir -p $(DL)
	rm -rf $@.tmp && mkdir -p $@.tmp
	printf 'paho-mqtt==%s --hash=sha256:%s\n' $(PAHO_MQTT_VERSION) $(PAHO_MQTT_SHA256) \
		> $@.tmp/requirements.txt
	$(BRIDGE_PIP) download -q --disable-pip-version-check --no-deps --only-binary :all: \
		--require-hashes -r $@.tmp/requirements.txt -d $@.tmp
	echo '$(PAHO_MQTT_SHA256)  $@.tmp/$(PAHO_MQTT_WHEEL)' | sha256sum -c --quiet -
	mv $@.tmp/$(PAHO_MQTT_WHEEL) $@ && rm -rf $@.tmp

$(RIG)/bridge.inputs: FORCE
	$(call file_list,$(BRIDGE_SRC)/kbus_bridge $(BRIDGE_SRC)/bin)

$(RIG)/stage/bridge.stamp: $(RIG)/bridge.inputs $(BRIDGE_INPUTS) $(BRIDGE_MANIFEST) \
		$(PAHO_MQTT_FILE) $(RIGSRC)/components/bridge.mk $(RIG)/userland.debs
	rm -rf $(BRIDGE_STAGE)
	mkdir -p $(BRIDGE_STAGE)/usr/lib/python3/dist-packages/kbus_bridge $(BRIDGE_STAGE)/usr/bin \
		$(BRIDGE_STAGE)/etc/init.d
	for deb in $$(cat $(BRIDGE_MANIFEST)); do dpkg -x "$$deb" $(BRIDGE_STAGE) || exit 1; done
	rm -rf $(BRIDGE_STAGE)/usr/share/doc $(BRIDGE_STAGE)/usr/share/man \
		$(BRIDGE_STAGE)/usr/share/lintian $(BRIDGE_STAGE)/etc/init.d/mosquitto \
		$(BRIDGE_STAGE)/etc/logrotate.d $(BRIDGE_STAGE)/lib/systemd $(BRIDGE_STAGE)/usr/lib/systemd
	test -x $(BRIDGE_STAGE)/usr/sbin/mosquitto
	test -x $(BRIDGE_STAGE)/usr/bin/openssl
	pymin=$$(grep '/libpython3.11-minimal_' $(RIG)/userland.debs) && \
		dpkg-deb --fsys-tarfile "$$pymin" | tar -x -C $(BRIDGE_STAGE) --wildcards \
		'./usr/lib/python3.11/lib-dynload/_ssl.*'
	ls $(BRIDGE_STAGE)/usr/lib/python3.11/lib-dynload/_ssl.* >/dev/null
	python3 -m zipfile -e $(PAHO_MQTT_FILE) $(BRIDGE_STAGE)/usr/lib/python3/dist-packages
	cp $(BRIDGE_SRC)/kbus_bridge/*.py $(BRIDGE_SRC)/kbus_bridge/py.typed \
		$(BRIDGE_STAGE)/usr/lib/python3/dist-packages/kbus_bridge/
	install -m 755 $(BRIDGE_SRC)/bin/kbus-bridge $(BRIDGE_STAGE)/usr/bin/
	install -m 755 $(BRIDGE_SRC)/S70kbus-bridge $(BRIDGE_STAGE)/etc/init.d/
	install -m 644 $(BRIDGE_SRC)/kbus-bridge.toml $(BRIDGE_STAGE)/etc/
	install -D -m 644 $(BRIDGE_SRC)/kbus-bridge-policy.conf \
		$(BRIDGE_STAGE)/etc/kbus/policy.d/60-kbus-bridge.conf
	python3.11 -m compileall -q --invalidation-mode unchecked-hash -s $(BRIDGE_STAGE) -p / \
		$(BRIDGE_STAGE)/usr/lib/python3/dist-packages >/dev/null || \
		echo "bridge.mk: WARNING: the bridge does not compile" >&2
	@mkdir -p $(dir $@) && touch $@

RIG_STAGES += bridge
