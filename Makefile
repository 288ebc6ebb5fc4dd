# Course repository entry point. Fresh machine: `make demo` (everything) or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# uv resolves torch from the local CPU wheel folder when one is configured (never a CUDA download);
# without one, pip (which honours pip.conf) installs the pinned CPU torch first and uv keeps it.
FIND_LINKS := $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS),)
TORCH_PIN := $(shell grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')
UV_PIN := uv==0.13.9
WORKERS ?=
STUDENTS ?=

.PHONY: help setup sysdeps sysdeps-sandbox apt-install demo test test-fast test-numpy-min coverage release grade feedback export report lab train bench mutants attacks bench-grading clean

help:
	@sed -n 's/^## //p' Makefile

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(UV_PIN)
	$(if $(FIND_LINKS),,$(VENV)/bin/pip install -q --disable-pip-version-check "$(TORCH_PIN)")
	$(VENV)/bin/uv pip install -q --python $(PY) $(FIND_LINKS) -e ".[test,oracle]"
	touch $@

## setup       Python environment in .venv (numpy, nbgrader, JupyterLab, test tools)
setup: $(VENV)/.installed

## sysdeps     Debian packages: bubblewrap (sandbox), chromium (browser test), postgresql (gradebook test)
sysdeps:
	@$(MAKE) --no-print-directory apt-install PKGS="bwrap:bubblewrap chromium:chromium initdb:postgresql"

sysdeps-sandbox:
	@$(MAKE) --no-print-directory apt-install PKGS="bwrap:bubblewrap"

# PKGS: command:package pairs; installs the packages whose command is missing (as root)
apt-install:
	@missing=""; for pair in $(PKGS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  if [ "$$cmd" = initdb ]; then ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	  else command -v $$cmd >/dev/null || missing="$$missing $$pkg"; fi; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (as root: apt-get install$$missing)"; exit 1; fi; \
	fi

## demo        set up, release, build sample submissions, grade, feedback, export, print the score table
demo: setup sysdeps-sandbox
	$(PY) -m grader demo

## test        set up and run the whole test suite (and the answer-handling tests under the lowest numpy)
test: setup sysdeps test-numpy-min
	$(PY) -m grader coverage
	$(PY) -m pytest -q

# The grader's handling of untrusted answers (wire protocol, answer validation) must give the same verdicts
# under every numpy that pyproject.toml allows; these tests import only numpy and pytest, so a small second
# environment runs them under the lowest supported numpy.
NUMPY_MIN_VENV := .venv-numpy-min
NUMPY_MIN := numpy==1.26.4
NUMPY_MIN_TESTS := tests/security/test_protocol.py tests/security/test_answer_validation.py

$(NUMPY_MIN_VENV)/.installed: pyproject.toml $(VENV)/.installed
	$(VENV)/bin/uv venv -q --allow-existing --python $(PY) $(NUMPY_MIN_VENV)
	$(VENV)/bin/uv pip install -q --python $(NUMPY_MIN_VENV)/bin/python $(FIND_LINKS) "$(NUMPY_MIN)" "pytest>=8,<10"
	touch $@

## test-numpy-min  wire-protocol and answer-validation tests under numpy 1.26.4, in .venv-numpy-min
test-numpy-min: $(NUMPY_MIN_VENV)/.installed
	PYTHONPATH=$(CURDIR) $(NUMPY_MIN_VENV)/bin/python -m pytest -q -p no:cacheprovider $(NUMPY_MIN_TESTS)
	@$(NUMPY_MIN_VENV)/bin/python -c "import numpy; assert numpy.__version__ == '1.26.4', numpy.__version__; print('ran under numpy', numpy.__version__)"

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not browser"

## release     nbgrader generate_assignment into release/09_spatial/
release: setup
	$(PY) -m grader release

## grade       autograde every notebook under submitted/<student>/09_spatial/ (WORKERS=n, default: cores + 1)
grade: setup sysdeps-sandbox
	$(PY) -m grader grade $(if $(WORKERS),--workers $(WORKERS),)

## feedback    HTML feedback for every autograded submission
feedback: setup
	$(PY) -m grader feedback

## export      grades.csv from the gradebook
export: setup
	$(PY) -m grader export

## report      instructor report (HTML + PNG plots) under reports/
report: setup
	$(PY) -m grader report

## lab         JupyterLab with the nbgrader extensions on 127.0.0.1 (prints the URL with its token)
lab: setup
	$(PY) -m grader lab

## train       train a SimpleCNN with the reference stack on scikit-learn's digits
train: setup
	$(PY) -m tinytorch_ref.train_digits

## bench       fast vs PyTorch vs naive timings for Conv2d and MaxPool2d
bench: setup
	$(PY) -m tinytorch_ref.bench

## coverage    the hidden checks' coverage model as a table: every argument value and window regime, and the checks that hit it
coverage: setup
	$(PY) -m grader coverage

## mutants     grade every mutant and alternative solution; print the kill table
mutants: setup sysdeps-sandbox
	$(PY) -m grader mutants

## attacks     grade every tampering, runaway and malformed submission next to good ones; verdict table
attacks: setup sysdeps-sandbox
	$(PY) -m grader attacks

## bench-grading  stock nbgrader vs trusted parallel grading throughput
bench-grading: setup sysdeps
	$(PY) -m grader bench

clean:
	rm -rf submitted autograded feedback gradebook.db grades.csv reports .grading artifacts
