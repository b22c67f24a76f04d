# sipprot: build, run, test.
GO       ?= go
export PATH := $(PATH):/usr/local/go/bin
# A valid Debian version from git describe (dist/deb/version.sh), the same
# in `sipprot version` and in the package; `make deb VERSION=1.2.3` overrides.
VERSION  ?= $(shell dist/deb/version.sh)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -X github.com/sipprot/sipprot/cli.version=$(VERSION) -X github.com/sipprot/sipprot/cli.commit=$(COMMIT)
FUZZTIME ?= 10m

PREFIX   ?= /usr/local
DESTDIR  ?=

.PHONY: all build run test unit lint e2e bench fuzz golden clean install uninstall testdata-geoip deb lintian

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o sipprot .

# Protect this host with the embedded defaults (or /etc/sipprot/sipprot.conf).
run: build
	./sipprot run

# Every test: formatting, vet, unit tests, golden replays, and (as root) the
# end-to-end tests in network namespaces with Kamailio, sipvicious and sipp.
test: lint unit e2e

lint:
	$(GO) vet -tags e2e ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 15m ./...

e2e:
	@if [ "$$(id -u)" != 0 ]; then echo "e2e: skipped, needs root (sudo make e2e)"; exit 0; fi; \
	$(GO) test -tags e2e -count=1 -timeout 25m ./rules/ ./queue/ ./e2e/ ./dist/deb/

# Decode, parse, decision and list benchmarks; as root, also the NFQUEUE
# flood (sipprot's readers beside a naive go-nfqueue loop) and the latency
# a SIP request gains through sipprot at 1,000, 10,000 and 100,000/s.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./packet/ ./sipparse/ ./policy/ ./lists/ ./attacks/ ./queue/ ./geoip/ ./notify/ ./daemon/
	@if [ "$$(id -u)" != 0 ]; then echo "queue flood and latency benchmarks: skipped, need root (sudo make bench)"; exit 0; fi; \
	$(GO) test -tags e2e -run 'Throughput|AddedLatency' -v -timeout 30m ./queue/

# Run every fuzz target for FUZZTIME (default 10m) each.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./packet/
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./sipparse/
	$(GO) test -run='^$$' -fuzz='^FuzzStreams$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s ./sipparse/
	$(GO) test -run='^$$' -fuzz='^FuzzParseNfqueueMessage$$' -fuzztime=$(FUZZTIME) ./queue/
	$(GO) test -run='^$$' -fuzz='^FuzzLoad$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./conf/
	$(GO) test -run='^$$' -fuzz='^FuzzOpenBytes$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./geoip/
	$(GO) test -run='^$$' -fuzz='^FuzzSetKey$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./conf/
	$(GO) test -run='^$$' -fuzz='^FuzzAttackLogDay$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./attacks/
	$(GO) test -run='^$$' -fuzz='^FuzzLoadBlocks$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./savedblocks/
	$(GO) test -run='^$$' -fuzz='^FuzzListDoc$$' -fuzztime=$(FUZZTIME) ./lists/
	$(GO) test -run='^$$' -fuzz='^FuzzCSVNote$$' -fuzztime=$(FUZZTIME) ./lists/
	$(GO) test -run='^$$' -fuzz='^FuzzOpenBytes$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./capture/

# Real country databases from the npm registry (ip-location-db, CC0), for
# geoip's TestRealDatabases; kept out of git, skipped by the test when absent.
GEOIP_REAL := testdata/geoip-real
testdata-geoip:
	mkdir -p $(GEOIP_REAL)
	set -e; tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	for p in geo-whois-asn-country iptoasn-country geolite2-country dbip-country; do \
		[ -s $(GEOIP_REAL)/$$p.mmdb ] && continue; \
		(cd $$tmp && npm pack --silent @ip-location-db/$$p-mmdb >/dev/null) && \
		tar -xzf $$tmp/ip-location-db-$$p-mmdb-*.tgz -C $$tmp package/$$p.mmdb && \
		mv $$tmp/package/$$p.mmdb $(GEOIP_REAL)/$$p.mmdb; \
	done

# Rewrite the golden replay JSON after a deliberate behaviour change.
golden:
	$(GO) test -count=1 -run TestReplayGolden ./cli/ -update

# Binary, default config (kept if present), systemd unit, init script,
# state directory and shell completion.
install: build
	install -D -m 0755 sipprot $(DESTDIR)$(PREFIX)/sbin/sipprot
	install -d -m 0750 $(DESTDIR)/etc/sipprot $(DESTDIR)/var/lib/sipprot
	[ -e $(DESTDIR)/etc/sipprot/sipprot.conf ] || ./sipprot config defaults > $(DESTDIR)/etc/sipprot/sipprot.conf
	for l in allowlist denylist; do [ -e $(DESTDIR)/etc/sipprot/$$l ] || printf '# One IP address or CIDR per line; text after it is a note.\n' > $(DESTDIR)/etc/sipprot/$$l; done
	install -D -m 0644 dist/sipprot.service $(DESTDIR)/etc/systemd/system/sipprot.service
	install -D -m 0755 dist/sipprotd.init $(DESTDIR)/etc/init.d/sipprotd
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/sipprot/README.md
	install -d $(DESTDIR)/etc/bash_completion.d
	./sipprot completion bash > $(DESTDIR)/etc/bash_completion.d/sipprot
	@if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl daemon-reload; echo "enable with: systemctl enable --now sipprot"; fi

# Leaves /etc/sipprot and /var/lib/sipprot: what the operator wrote is kept.
uninstall:
	-$(PREFIX)/sbin/sipprot rules remove
	rm -f $(DESTDIR)$(PREFIX)/sbin/sipprot $(DESTDIR)/etc/systemd/system/sipprot.service $(DESTDIR)/etc/init.d/sipprotd
	rm -f $(DESTDIR)/etc/bash_completion.d/sipprot
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/sipprot

# The Debian package, sipprot_$(VERSION)_amd64.deb in the repository root:
# binary, systemd unit, /etc/init.d/sipprotd, config and lists as conffiles,
# bash completion and man pages (see dist/deb/). Install it with
# `apt install ./sipprot_*.deb`.
deb:
	GO="$(GO)" COMMIT="$(COMMIT)" dist/deb/build.sh "$(VERSION)" .

# Debian's package checks on the package just built; overrides, each with
# its reason, are in dist/deb/lintian-overrides.
lintian: deb
	lintian --fail-on error,warning --info sipprot_$(VERSION)_*.deb

clean:
	rm -f sipprot sipprot_*.deb
