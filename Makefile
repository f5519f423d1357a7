# Sluice — the two commands are `make run` and `make test`; both set everything up first.
SHELL := /bin/bash
ROOT := $(abspath .)
DEPS := $(ROOT)/.deps
export PKG_CONFIG_PATH := $(DEPS)/librdkafka/lib/pkgconfig
SWIFT ?= swift
BROKER_PORT ?= 9092
SOCKET ?= $(ROOT)/run/sluice.sock
SPOOL ?= $(ROOT)/run/spool.db
PREFIX ?= /usr/local

.PHONY: setup build release run test lint bench install clean fuzz python-test java-test package package-test
VENV := $(ROOT)/.venv

setup:
	@bash scripts/bootstrap.sh

build: setup
	@[ -d .build/debug ] || echo "[build] first build of Sluice and its Swift dependencies (debug): 3-5 minutes on 2 cores"
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

# Starts the dev broker on 127.0.0.1:$(BROKER_PORT) and the gateway in the foreground.
run: build
	@bash scripts/dev-broker.sh start $(BROKER_PORT)
	@echo
	@echo "Sluice is serving $(SOCKET), spool $(SPOOL) (Ctrl-C stops it and the dev broker). Send an event, then read the counters:"
	@echo "  printf 'player-1\thello\n' | $(ROOT)/.build/debug/sluice send --socket $(SOCKET) --topic events"
	@echo "  $(ROOT)/.build/debug/sluice stats --socket $(SOCKET)"
	@echo "  $(ROOT)/.build/debug/sluice tail events --brokers 127.0.0.1:$(BROKER_PORT)"
	@echo
	@trap 'bash scripts/dev-broker.sh stop' EXIT; \
	  .build/debug/sluice serve --socket $(SOCKET) --brokers 127.0.0.1:$(BROKER_PORT) --spool $(SPOOL)

lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift

test: setup lint
	$(MAKE) -C clients/c check
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(MAKE) python-test
	$(MAKE) java-test
	$(MAKE) package-test

# The Python client in a venv (made once; reinstalled when its sources change), against the built gateway.
$(VENV)/.installed: clients/python/pyproject.toml $(wildcard clients/python/src/sluice/*.py)
	@python3 -c 'import ensurepip, venv' 2>/dev/null || { echo 'python3 has no venv/ensurepip: apt-get install python3-venv' >&2; exit 1; }
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check ./clients/python
	@touch $@

python-test: $(VENV)/.installed
	$(VENV)/bin/python clients/python/tests/run.py

# The Java client (clients/java): its jar, then its tests, the live ones against the built gateway.
java-test:
	SLUICE_LIVE_REQUIRED=1 $(MAKE) -C clients/java check

# dist/sluice_VERSION_ARCH.deb: static Swift runtime, bundled librdkafka, libsluice, systemd unit.
package: setup
	@bash scripts/package.sh

# Installs the package into a clean root and publishes through it to the dev broker.
package-test: package
	@bash scripts/package-test.sh

bench: release
	@bash scripts/bench.sh

# libFuzzer on the Swift decoder and the C client's reader, FUZZ_SECONDS (default 60) each; see fuzz/README.md.
fuzz:
	@FUZZ_SECONDS="$(FUZZ_SECONDS)" bash fuzz/run.sh

install: release
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 .build/release/sluice $(DESTDIR)$(PREFIX)/bin/sluice
	$(MAKE) -C clients/c install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)

clean:
	rm -rf .build .build-package dist run
	$(MAKE) -C clients/c clean
