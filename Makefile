# actoredis — the commands the README names. `make test` is what CI runs.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: test vet install-redis fuzz bench-resp

## test: install redis-server when missing, vet, and run every test with the race detector.
test: install-redis vet
	$(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

install-redis:
	bash scripts/install-redis.sh

## fuzz: run the RESP reader's fuzz target (FUZZTIME=5m by default).
FUZZTIME ?= 5m
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime $(FUZZTIME) ./resp

## bench-resp: the codec's micro-benchmarks.
bench-resp:
	$(GO) test -run '^$$' -bench . -benchmem ./resp
