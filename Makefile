# Two commands matter: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PMKT := $(VENV)/bin/pmkt
JARS := .jars
DATA ?= demo
PYTEST_ARGS ?=

# Spark picks a LAN address and warns when the hostname resolves to loopback.
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))

ifeq ($(DATA),cdnow)
DEMO_CONF := conf/cdnow.yaml
DEMO_DEPS := data/cdnow/CDNOW_master.txt
DEMO_LAKE := lakehouse_cdnow
else ifeq ($(DATA),demo)
DEMO_CONF := conf/local.yaml
DEMO_DEPS :=
DEMO_LAKE := lakehouse data/generated
else
$(error DATA must be 'demo' or 'cdnow', got '$(DATA)')
endif

.PHONY: setup browser lint docs demo serve stream-demo test test-fast benchmark benchmark-ratings benchmark-scale \
	benchmark-cluster \
	benchmark-serve clean help

help:
	@echo "make demo [DATA=cdnow]   set up, then run the pipeline and print every table"
	@echo "make serve               the HTTP API over the demo lake on 127.0.0.1:8000 (after make demo)"
	@echo "make stream-demo         a day of new events through pmkt stream: triggers, fresh lists (after make demo)"
	@echo "make test                set up, lint, then run the full test suite"
	@echo "make lint                ruff (lint and format check) and mypy on libs, jobs and benchmarks"
	@echo "make docs                regenerate the configuration reference and table catalogue in docs/ from the code"
	@echo "make benchmark           MLlib ALS against the implicit library (1M and 10M interactions)"
	@echo "make benchmark-ratings   the documented ratings example on MovieLens 100k and the demo world vs tuned implicit"
	@echo "make benchmark-scale     the whole pipeline at 1x, 3x and 10x of the demo world with a 2 GiB driver"
	@echo "make benchmark-cluster   every step via spark-submit.sh on a 2-worker standalone cluster vs local mode"
	@echo "make benchmark-serve     latency of the HTTP API under concurrent load (LAKE=lakehouse)"

setup: $(VENV)/.installed $(JARS)/.fetched $(JARS)/.archived

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -c "import pyspark.ml, pyspark.testing, delta, chispa, pandas, pyarrow"
	touch $@

$(JARS)/.fetched: .ci/pom.xml
	mkdir -p $(JARS)
	mvn -q -f .ci/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(abspath $(JARS))
	touch $@

# Spark's classes parsed and verified once for every local JVM (libs/class_archive.py); made again with new jars.
$(JARS)/.archived: $(JARS)/.fetched $(VENV)/.installed libs/class_archive.py
	$(PY) -m pmkt.libs.class_archive
	touch $@

# The real CDNOW transactions ship inside the lifetimes wheel; take the file out without importing it.
data/cdnow/CDNOW_master.txt: $(VENV)/.installed
	mkdir -p data/cdnow/wheel
	$(PY) -m pip download --quiet --no-deps lifetimes==0.11.3 -d data/cdnow/wheel
	$(PY) -c "import glob, zipfile; z = zipfile.ZipFile(glob.glob('data/cdnow/wheel/*.whl')[0]); \
	open('$@', 'wb').write(z.read('lifetimes/datasets/CDNOW_master.txt'))"

# The demo starts from a clean demo lake, so every run shows the same, reproducible tables.
demo: setup $(DEMO_DEPS)
	rm -rf $(DEMO_LAKE)
	$(PMKT) pipeline --conf-file $(DEMO_CONF)

# The HTTP API over the demo lake. With PMKT_API_KEY set, clients must send it as a bearer token;
# without it the API answers anyone, and only on loopback (--insecure-local).
serve: setup
	$(PMKT) serve --conf-file $(DEMO_CONF) $(if $(PMKT_API_KEY),,--insecure-local)

# A day of new events through `pmkt stream` on the demo lake (run `make demo` first): the triggers, the changed
# recommendations and the latency from a file landing to its outputs.
stream-demo: setup
	$(PY) -m benchmarks.stream_latency --conf-file conf/stream-demo.yaml $(BENCH_ARGS)

# MLlib ALS against the implicit library at 1M and 10M interactions (about 10 minutes on 2 cores).
benchmark: setup
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m benchmarks.als_vs_implicit $(BENCH_ARGS)

# The pipeline's cost curve: every step at 1x, 3x and 10x of the demo world (hours at 10x on 2 cores).
benchmark-scale: setup
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m benchmarks.scale $(BENCH_ARGS)

# Every pipeline step through spark-submit.sh on a real standalone cluster (two 1-core workers on 127.0.0.1),
# then locally; the deterministic outputs must be equal and the model metrics within a stated tolerance.
benchmark-cluster: setup
	$(PY) -m benchmarks.cluster_pipeline $(BENCH_ARGS)

# p50/p95/p99 and requests per second of `pmkt serve` on a lake's tables, over loopback.
LAKE ?= lakehouse
benchmark-serve: setup
	$(PY) -m benchmarks.serve_latency --lake $(LAKE) $(BENCH_ARGS)

# The documented ratings example (docs/recommendations.md) on MovieLens 100k (taken out of a PyPI wheel) and on the
# generated world, against implicit ALS and item cosine tuned on the same validation split.
benchmark-ratings: setup
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m benchmarks.ratings_vs_implicit --world ml100k
	$(PY) -m benchmarks.ratings_vs_implicit --world generated

# The report test renders the page in headless Chromium (Debian's chromium package).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Lint first: ruff's rules and formatting, then mypy; settings live in pyproject.toml.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# mypy reads files, not import hooks: it sees the source folders under the names they install as.
	@mkdir -p build/typecheck/pmkt && touch build/typecheck/pmkt/__init__.py
	@ln -sfn ../../../libs build/typecheck/pmkt/libs && ln -sfn ../../../jobs build/typecheck/pmkt/jobs
	MYPYPATH=build/typecheck $(VENV)/bin/mypy -p pmkt.libs -p pmkt.jobs -p benchmarks

# The generated reference pages (docs/configuration.md, docs/tables.md); a test fails when they are stale.
docs: setup
	$(PY) -m pmkt.libs.reference

test: setup browser lint
	$(PY) -m pytest -q --durations=15 $(PYTEST_ARGS) tests

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not cluster" $(PYTEST_ARGS) tests

clean:
	rm -rf lakehouse lakehouse_cdnow data build spark-warehouse .pytest_cache
