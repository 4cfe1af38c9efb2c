# actoredis — the commands the README names. `make test` is what CI runs.
GO ?= go
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: test vet install-redis demo fuzz bench bench-quick bench-resp bench-node

## test: install redis-server when missing, vet, and run every test with the race detector (the
## bench/ module's too); then the allocation tests again without it (it changes what allocates).
test: install-redis vet
	$(GO) test -race -count=1 -timeout 20m ./...
	cd bench && $(GO) test -race -count=1 ./...
	$(GO) test -count=1 -timeout 5m -run Alloc ./...

## demo: the quickstart against a local 3×1 cluster it spawns (or $$REDIS_CLUSTER_URL, which needs
## no local redis-server, so nothing is installed then).
demo:
	@if [ -z "$$REDIS_CLUSTER_URL" ]; then bash scripts/install-redis.sh; fi
	$(GO) run ./examples/quickstart

vet:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

install-redis:
	bash scripts/install-redis.sh

## fuzz: run the RESP reader's fuzz target (FUZZTIME=5m by default).
FUZZTIME ?= 5m
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime $(FUZZTIME) ./resp

## bench: actoredis vs rueidis vs go-redis, the full matrix BENCH_REPEAT times (about 6 minutes a
## time), reporting medians; writes docs/bench/.
BENCH_REPEAT ?= 3
bench: install-redis
	cd bench && $(GO) run . -repeat $(BENCH_REPEAT)

## bench-quick: the 1–2 minute subset (GET and SET, 16 and 1024 callers, 16 B values).
bench-quick: install-redis
	cd bench && $(GO) run . -quick -out ../docs/bench/quick

## bench-resp: the codec's micro-benchmarks.
bench-resp:
	$(GO) test -run '^$$' -bench . -benchmem ./resp

## bench-node: round trips through the node actor against a real redis-server, vs a bufio pipeline;
## a GET through the whole client vs straight to its node (what the dispatcher hop costs); and a
## SET and a GET of 1, 16 and 64 MiB values through a node.
bench-node: install-redis
	$(GO) test -run '^$$' -bench 'RoundTrip|Hops|LargeValue' -benchmem ./actors ./node ./api
