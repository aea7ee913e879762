# cotalk developer entry points. `make test` is what CI runs (.ci/run); every target that
# needs Postgres, Redis or NATS first runs scripts/services, which starts whatever is missing
# on loopback (data under .data/) and leaves already-running servers alone.

CARGO ?= cargo
SERVICES := scripts/services
DATA_DIR := $(or $(COTALK_SERVICES_DATA),$(CURDIR)/.data)
RELEASE_BIN := ./target/release/cotalk

# Two cores are shared by everything on these machines.
export CARGO_BUILD_JOBS ?= 2

# Where testkit finds the servers; they follow scripts/services' port overrides.
export COTALK_TEST_PG ?= postgres://postgres@127.0.0.1:$(or $(COTALK_PG_PORT),5432)
export COTALK_REDIS_URL ?= redis://127.0.0.1:$(or $(COTALK_REDIS_PORT),6379)
export COTALK_NATS_URL ?= nats://127.0.0.1:$(or $(COTALK_NATS_PORT),4222)

# The binary keeps its generated token secret (and other state) here.
export COTALK_DATA_DIR ?= $(DATA_DIR)

TEST_ENV := RUST_BACKTRACE=1 COTALK_TEST=1

.PHONY: all help services status run test lint bench bench-quick chaos clean-data \
	cluster cluster-stop cluster-status cluster-check cluster-test cluster-connections shard-sim

all: help

help:
	@echo "make run          start services, build release, migrate, serve"
	@echo "make test         start services, run every test (what CI runs)"
	@echo "make lint         rustfmt check and clippy -D warnings"
	@echo "make bench        release build, cotalk bench all (bench-quick: --quick)"
	@echo "make chaos        fault-injection suite (tests/chaos.rs)"
	@echo "make status       one line per service"
	@echo "make clean-data   stop the services and cluster we started and delete .data"
	@echo "make cluster      HA engines on loopback (Patroni Postgres + HAProxy, Redis Cluster, NATS x3) and seven cotalk nodes behind HAProxy :8180"
	@echo "make cluster-stop / cluster-status   stop what make cluster started / one line per process"
	@echo "make cluster-check  smoke test, then one timed kill -9 failover per engine (scripts/cluster-check)"
	@echo "make cluster-test   browser suite through HAProxy, then faults under load with a summary table"
	@echo "make cluster-connections   50 000 WebSockets through HAProxy onto the cluster's three query nodes"
	@echo "make shard-sim    sharding simulation and capacity model (scripts/shard-sim; Python, no services)"

services:
	$(SERVICES)

status:
	$(SERVICES) status

run: services
	$(CARGO) build --release
	$(RELEASE_BIN) migrate
	@test -f $(COTALK_DATA_DIR)/seeded || { $(RELEASE_BIN) seed && touch $(COTALK_DATA_DIR)/seeded; }
	@echo
	@echo "  cotalk:        http://$(or $(COTALK_LISTEN),127.0.0.1:8080)/"
	@echo "  demo logins:   minji, jihoon, alice, sam, seoyeon (password: cotalk-demo)"
	@echo "  operator page: http://$(or $(COTALK_LISTEN),127.0.0.1:8080)/ops#token=$$(if [ -n "$$COTALK_ADMIN_TOKEN" ]; then echo '<your COTALK_ADMIN_TOKEN>'; else cat $(COTALK_DATA_DIR)/ops/token_secret 2>/dev/null || echo '<see $(COTALK_DATA_DIR)/ops/token_secret>'; fi)"
	@echo
	$(RELEASE_BIN) serve

# Doc tests run first so that the runner's summary is the last thing printed.
test: services
	$(SERVICES) prune-test-dbs || true
	scripts/browser-setup
	scripts/pytools
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		set -x; \
		$(TEST_ENV) $(CARGO) test --doc --workspace && \
		$(TEST_ENV) $(CARGO) nextest run --workspace --all-targets --no-tests=warn; \
	else \
		set -x; \
		$(TEST_ENV) $(CARGO) test --workspace --all-targets; \
	fi

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: services
	$(CARGO) build --release
	$(RELEASE_BIN) bench all

bench-quick: services
	$(CARGO) build --release
	$(RELEASE_BIN) bench all --quick

# The long chaos forms (tests/chaos.rs, tests/meetups_reminders.rs: 20 kills of the
# active scheduler; the short forms run under make test), then fuzzing.
chaos:
	$(SERVICES)
	$(TEST_ENV) $(CARGO) test --release -p cotalk --test chaos -- --ignored --nocapture
	$(TEST_ENV) $(CARGO) test --release -p cotalk --test meetups_reminders -- --ignored --nocapture
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	for t in query_parser event_decode; do \
		mkdir -p "$(DATA_DIR)/fuzz-corpus/$$t" && \
		(cd fuzz && $(CARGO) +nightly fuzz run $$t "$(DATA_DIR)/fuzz-corpus/$$t" corpus/$$t -- -max_total_time=60) || exit 1; \
	done

# The production-shaped deployment (scripts/cluster for the engines, scripts/cluster-cotalk for
# cotalk's two command, three query and two projector nodes behind HAProxy at :8180; ports in
# scripts/lib/cluster-common.sh, data under .data/cluster). `scripts/cluster env` prints the
# COTALK_* variables that point cotalk at it.
cluster:
	$(CARGO) build --release
	scripts/cluster start
	scripts/cluster-cotalk start

cluster-stop:
	scripts/cluster-cotalk stop
	scripts/cluster stop

cluster-status:
	scripts/cluster status
	scripts/cluster-cotalk status

# The release gate of the deployment: the browser suite through HAProxy, then faults under
# load with the summary table (scripts/cluster-test). Not part of `make test`: it needs the
# cluster's engines and about 5 minutes after `make cluster`.
cluster-test:
	$(CARGO) build --release
	scripts/browser-setup
	ulimit -n 20000; scripts/cluster-test

# Issue 19, point 3, on the cluster: `cotalk bench connections` drives the running deployment,
# 50 000 WebSockets through HAProxy (seven more HAProxy processes on :8180) onto the three query
# nodes, memory per idle connection and fan-out across the nodes (scripts/cluster-connections).
cluster-connections:
	$(CARGO) build --release
	ulimit -n 20000; scripts/cluster-connections

cluster-check:
	scripts/cluster start
	scripts/cluster check

# The sharding design on paper (ARCHITECTURE.md, Scaling past one primary): the shard function
# replayed over a generated workload, and the capacity model. Standard-library Python, about
# a minute of one core; niced, as the machine is shared. Options: scripts/shard-sim --help.
shard-sim:
	nice -n 10 scripts/shard-sim

# A cluster kept outside the repo (see scripts/services) is removed with it.
clean-data:
	$(SERVICES) stop
	scripts/cluster-cotalk stop
	scripts/cluster stop
	@if [ -L "$(DATA_DIR)/cluster/pg" ]; then \
		alt="$$(readlink -f "$(DATA_DIR)/cluster/pg")"; \
		case "$$alt" in /var/tmp/cotalk-cluster-*) echo "rm -rf $$alt"; rm -rf "$$alt";; esac; \
	fi
	@if [ -L "$(DATA_DIR)/pg" ]; then \
		alt="$$(dirname "$$(readlink -f "$(DATA_DIR)/pg")")"; \
		case "$$alt" in /var/tmp/cotalk-pg-*) echo "rm -rf $$alt"; rm -rf "$$alt";; esac; \
	fi
	rm -rf "$(DATA_DIR)"
