# Two entry points: `make run` (server on the bundled demo cluster) and `make test` (lint, types,
# import contracts and the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COMPILED := $(VENV)/.compiled

.PHONY: run test lint setup build-deps system-deps bench bench-deps bench-forward bench-burst bench-features fuzz

setup: $(COMPILED)

# The project and its dependencies; then (below) the hot path's modules compiled with mypyc
# (setup.py, clusterdns/compiled.py), with gcc and the libc headers (Python's own headers
# come with the interpreter).
$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	CLUSTERDNS_PURE_PYTHON=1 PYTHONWARNINGS=ignore $(BIN)/pip install --quiet -e '.[test,speed]'
	touch $(STAMP)

# Compiled again whenever a source of the package changed (until then its sources run, as
# clusterdns/compiled.py decides): any source, since the compiler reads the types of what
# the compiled modules import.
$(COMPILED): $(STAMP) $(shell find clusterdns -name '*.py') | build-deps
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -c 'import clusterdns.compiled as c; print("hot path:", c.STATUS)'
	touch $(COMPILED)

# gcc, the libc headers and Python's (Debian's python3 keeps them in python3-dev; a Python
# built from source has its own).
PYTHON_H := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h
build-deps:
	@command -v gcc >/dev/null && [ -e /usr/include/stdio.h ] || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev; }
	@[ -e $(PYTHON_H) ] || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dev; }

# From Debian packages: dig (real-client tests), named-checkzone (zone dump validation), and
# for the pod's-eye test (tests/deploy/test_e2e_netns.py) ip, setpriv, sysctl and glibc's getent; ss
# (iproute2 too) reads a socket's buffer sizes (tests/transport/test_udp.py); gcc and the libc
# headers build the load generator the bench tools' tests run (tests/bench_tools).
SYSTEM_TOOLS := dig named-checkzone ip ss setpriv sysctl getent gcc
system-deps:
	@for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing=1; done; \
	[ -z "$$missing" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install \
		-y -qq bind9-dnsutils bind9-utils iproute2 util-linux procps libc-bin gcc libc6-dev; }

run: setup
	$(BIN)/clusterdns serve $(ARGS)

# ruff; the type checker over clusterdns/ and harness/; the architecture's import contracts (pyproject.toml)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

# Knot DNS (the C reference) and gcc with libc headers (build the load generator,
# bench/blast.c), for the benchmarks only.
bench-deps:
	@command -v gcc >/dev/null && command -v knotd >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev knot; }

# clusterdns against Knot DNS on loopback, pinned to one core each (bench/run.py; ~7 min;
# ARGS=--quick for a smoke test of ~30 s).
bench: setup bench-deps
	$(BIN)/python -m bench.run $(ARGS)

# Forwarded names through the cache (hits) and cold, against the loopback test upstream (~1 min).
bench-forward: setup bench-deps
	$(BIN)/python -m bench.forward_qps $(ARGS)

# Capacity with every core free (queued queries drained; root): --workers 2 against 1 (~2 min).
bench-burst: setup bench-deps
	$(BIN)/python -m bench.burst $(ARGS)

# What autopath, the query log (and metadata in it) and the per-client metrics cost per query,
# against the same server without them (bench/features.py; ~5 min; ARGS=--quick: ~20 s).
bench-features: setup bench-deps
	$(BIN)/python -m bench.features $(ARGS)

# Mutated queries at the real server on loopback, with its checks (bench/fuzz.py; 1M packets or
# 15 min, whichever first: a few minutes). Its seeded small run is in `make test`.
fuzz: setup
	$(BIN)/python -m bench.fuzz $(ARGS)

# The real server on the fake API for 30 minutes: churn (1 change/s), a reload a minute, 2,000
# UDP (blast) + 5 TCP queries/s, all on loopback; RSS, fds and threads every 10 s; exit 1 on
# growth after the warm-up, a traceback, a failed control (bench/soak.py; ARGS="--minutes 5").
soak: setup bench-deps
	$(BIN)/python -m bench.soak $(ARGS)
