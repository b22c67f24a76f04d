# sipprot: build, run, test.
GO       ?= go
export PATH := $(PATH):/usr/local/go/bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -X github.com/sipprot/sipprot/cli.version=$(VERSION) -X github.com/sipprot/sipprot/cli.commit=$(COMMIT)
FUZZTIME ?= 10m

.PHONY: all build run test unit lint bench fuzz golden clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o sipprot .

# Protect this host with the embedded defaults (or /etc/sipprot/sipprot.conf).
run: build
	./sipprot run

# Every test: formatting, vet, unit tests, golden replays.
test: lint unit

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 15m ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./packet/ ./sipparse/ ./policy/

# Run every fuzz target for FUZZTIME (default 10m) each.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./packet/
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./sipparse/
	$(GO) test -run='^$$' -fuzz='^FuzzStreams$$' -fuzztime=$(FUZZTIME) ./sipparse/

# Rewrite the golden replay JSON after a deliberate behaviour change.
golden:
	$(GO) test -count=1 -run TestReplayGolden ./cli/ -update

clean:
	rm -f sipprot
