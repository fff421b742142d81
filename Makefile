# Developer entry points. `make test` is the test command (CI runs it through .ci/run).
VENV   := .venv
PY     := $(VENV)/bin/python
# cloudify 7.0.5 is known good on Python 3.11 (3.13 removed the cgi module it uses)
BASE_PY ?= $(shell command -v python3.11 || command -v python3)
STAMP  := $(VENV)/.installed
VERSION := $(shell sed -n 's/^ *version="\([^"]*\)".*/\1/p' setup.py)
# the wagon is for this machine's architecture (x86_64, or aarch64 when built on aarch64)
ARCH   := $(shell uname -m)
# the oldest glibc its wheels must install on: a Cloudify Manager's RHEL/Alma 8 family
GLIBC  ?= 2.28
WHEEL  := dist/kub-$(VERSION)-py3-none-any.whl
WAGON  := dist/kub-$(VERSION)-py311-none-linux_$(ARCH).wgn

.PHONY: deps venv test unit lint variants wheel wagon demo demo-down bench bench-ansible clean

venv: deps $(STAMP)

# the Debian/Ubuntu packages the lab needs, installed when missing (root): a fresh machine needs nothing else
deps:
	@BASE_PY=$(BASE_PY) lab/machine-deps.sh

$(STAMP): setup.py lab/setup.py
	test -x $(PY) || $(BASE_PY) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' -e lab
	touch $@

# pytest's exit 5 (no test collected) counts as a failure
test: venv lint
	$(VENV)/bin/pytest -ra tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected" >&2; exit 1; fi; exit $$rc

unit: venv
	$(VENV)/bin/pytest -ra tests/unit

# ruff and shellcheck come pinned from the dev extra (ruff.toml holds the rules); both run over everything
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/shellcheck scripts/*.sh lab/*.sh lab/kub_lab/*.sh lab/standins/packaging/kubelet.p* .ci/run

# kub's own wheel, for `cfy init --install-plugins` (plugin.yaml's source, in the blueprint's plugins/ folder).
# Only the venv, not the lab's machine packages: no root needed
wheel: $(STAMP)
	rm -f dist/kub-*.whl
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w dist .
	@test -f $(WHEEL) || { echo "make wheel: $(WHEEL) was not written; is setup.py's version $(VERSION)?" >&2; exit 1; }

# plugin.yaml's and offline/cloudify-types.yaml's variants for cloudify_dsl_1_3 and 1_5 blueprints, made again
# after every change to either (the unit tests say when they are behind)
variants: $(STAMP)
	$(PY) release/dsl_variants.py

# The wagon a Cloudify Manager installs (needs PyPI), and the manager's plugin.yaml and its DSL variants (no
# source) beside it
wagon: wheel
	rm -f dist/*.wgn dist/plugin*.yaml
	PYTHONPATH=$(CURDIR)/release/glibc KUB_GLIBC=$(GLIBC) $(VENV)/bin/wagon create . --output-directory dist --force \
	  --wheel-args="--constraint release/constraints.txt"
	$(VENV)/bin/wagon validate $(WAGON)
	for yaml in plugin*.yaml; do $(PY) release/manager_plugin.py $$yaml dist/$$yaml || exit 1; done

demo: venv
	$(PY) -m kub_lab.demo up

demo-down: venv
	$(PY) -m kub_lab.demo down

bench: venv
	$(PY) bench/lab_bench.py
	$(PY) bench/install_bench.py
	$(PY) bench/scaling_bench.py
	$(PY) bench/upgrade_bench.py

# kub against an Ansible fan-out of the same host steps, per cluster size (slow: minutes per size)
bench-ansible: venv
	$(PY) bench/ansible_bench.py

clean:
	rm -rf $(VENV) *.egg-info lab/*.egg-info build dist
