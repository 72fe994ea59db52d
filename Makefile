# Homeguy entry points. Each target installs what it needs (Debian packages, the pinned
# virtualenv in .venv/) through homeguy.bootstrap, which does nothing when all is there.
.DEFAULT_GOAL := all
PY := .venv/bin/python
PYTEST := $(PY) -m pytest
# Python itself is the one thing the bootstrap cannot install for itself.
NEED_PYTHON := command -v python3 >/dev/null || { apt-get update -q && apt-get install -y -q python3; }

.PHONY: all build test check lab bench clean deps-build deps-test deps-live repo iso

all: build

deps-build:
	@$(NEED_PYTHON)
	@python3 -m homeguy.bootstrap build

deps-test:
	@$(NEED_PYTHON)
	@python3 -m homeguy.bootstrap test

deps-live:
	@$(NEED_PYTHON)
	@python3 -m homeguy.bootstrap live

## make iso [PROFILE=mobile-host]: the live ISOs into out/iso (all profiles without PROFILE),
## from out/repo (built first); not part of `make`: each profile is minutes of live-build
PROFILE ?=
iso: build deps-live
	$(PY) -m homeguy iso build $(if $(PROFILE),--profile $(PROFILE))

## make: build everything that exists so far into out/
build: deps-build
	$(PY) -m homeguy build

## make test: the whole suite: unit, lint, lab (Debian's kernel under QEMU), e2e
test: deps-test
	$(PYTEST) --durations=30 -m "unit or lint or lab or e2e"

## make check: the fast subset for your own loop (no VM)
check: deps-test
	$(PYTEST) -q -m "unit or lint"

## make lab: only the kernel-lab tests (one VM boot)
lab: deps-test
	$(PYTEST) -m lab

## make repo: publish the .debs in out/debs (or DEBS=dir) into the signed apt repository out/repo
DEBS ?= out/debs
repo: deps-test
	$(PY) -m homeguy repo publish --debs $(DEBS) --out out/repo

## make bench: benchmarks, JSON figures side by side with the tools users would otherwise pick
bench: deps-test
	@ls bench/*.py >/dev/null 2>&1 || { echo "no benchmarks yet"; exit 0; }; \
	for script in bench/*.py; do $(PY) "$$script" || exit 1; done

clean:
	rm -rf out
