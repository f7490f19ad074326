# Two entry points: `make run` (server on the bundled demo cluster) and `make test` (whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint setup system-deps bench bench-deps

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# dig (real-client tests) and named-checkzone (zone dump validation), from Debian packages.
system-deps:
	@command -v dig >/dev/null && command -v named-checkzone >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bind9-dnsutils bind9-utils; }

run: setup
	$(BIN)/clusterdns serve $(ARGS)

lint: setup
	$(BIN)/ruff check .

test: setup system-deps
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

# dnsperf (load generator) and Knot DNS (the C reference), for `make bench` only.
bench-deps:
	@command -v dnsperf >/dev/null && command -v knotd >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf knot; }

# clusterdns against Knot DNS on loopback, pinned to one core each (bench/run.py; ~6 min).
bench: setup bench-deps
	$(BIN)/python -m bench.run $(ARGS)
