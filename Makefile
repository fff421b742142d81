# Developer entry points. `make test` is the test command (CI runs it through .ci/run).
VENV   := .venv
PY     := $(VENV)/bin/python
# cloudify 7.0.5 is known good on Python 3.11 (3.13 removed the cgi module it uses)
BASE_PY ?= $(shell command -v python3.11 || command -v python3)
STAMP  := $(VENV)/.installed

.PHONY: venv test unit lint demo demo-down bench clean

venv: $(STAMP)

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
	$(VENV)/bin/shellcheck scripts/*.sh lab/kub_lab/*.sh lab/standins/packaging/kubelet.p* .ci/run

demo: venv
	$(PY) -m kub_lab.demo up

demo-down: venv
	$(PY) -m kub_lab.demo down

bench: venv
	$(PY) bench/lab_bench.py
	$(PY) bench/install_bench.py

clean:
	rm -rf $(VENV) *.egg-info lab/*.egg-info
