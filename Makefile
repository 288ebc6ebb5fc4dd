# Course repository entry point. Fresh machine: `make demo` (everything) or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# uv resolves torch from the local CPU wheel folder when one is configured (never a CUDA download).
# Bytecode is compiled at install time: sandboxed kernels see the environment read-only and could
# never cache it, so every kernel would compile numpy, matplotlib and ipykernel again.
# without one, pip (which honours pip.conf) installs the pinned CPU torch first and uv keeps it.
FIND_LINKS := $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS),)
TORCH_PIN := $(shell grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')
UV_PIN := uv==0.13.9
WORKERS ?=
# make serve COURSE=dir: the grading service for another course directory; make hub SERVE=1: the service too
COURSE ?=
SERVE ?=
STUDENTS ?=
# A=name: only that assignment (default: every assignment of the course, found under source/)
A ?=
ONLY = $(if $(A),-a $(A),)

.PHONY: shared-access hub hub-clean hub-proxy serve help setup sysdeps sysdeps-sandbox apt-install demo test test-suite test-fast test-long test-numpy-min lint coverage release grade feedback export report lab new train bench mutants attacks bench-grading bench-service clean

help:
	@sed -n 's/^## //p' Makefile

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(UV_PIN)
	$(if $(FIND_LINKS),,$(VENV)/bin/pip install -q --disable-pip-version-check "$(TORCH_PIN)")
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) $(FIND_LINKS) -e ".[test,oracle]"
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

## demo        set up; for every assignment: release, sample submissions, grade, feedback; export; score tables
demo: setup sysdeps-sandbox
	$(PY) -m grader demo $(ONLY)

## test        set up; then side by side: lint, the answer-handling tests under the lowest numpy, and the
##             coverage tables followed by the test suite (everything but the `long` tests: see test-long)
##             in two lanes (tests/lanes.py); each part's output is printed when it ends
test: setup sysdeps shared-access hub-proxy
	@$(MAKE) --no-print-directory -j3 --output-sync=target lint test-numpy-min test-suite

test-suite: setup
	$(PY) -m grader coverage
	$(PY) -m tests.lanes -q -m "not long" --durations=20

## test-long   the long runs outside `make test`: the full training run and its accuracy bar, the whole kill
##             matrix under a salt, the service load bench at small size
test-long: setup
	$(PY) -m pytest -q -m long

## shared-access  let course users (hub accounts, an instructor grading without root) reach .venv and its
##             Python: adds o+x to the directories above them that lack it (as root; lists them otherwise)
shared-access: setup
	$(PY) -m grader.tools.shared_access

## lint        ruff (configuration in pyproject.toml)
lint: setup
	$(VENV)/bin/ruff check .

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
	$(PY) -m pytest -q -m "not slow and not browser and not long"

## release     nbgrader generate_assignment into release/<assignment>/ (A=name: one assignment)
release: setup
	$(PY) -m grader release $(ONLY)

## grade       autograde every notebook under submitted/<student>/<assignment>/ (A=name; WORKERS=n, default: cores + 1)
grade: setup sysdeps-sandbox
	$(PY) -m grader grade $(ONLY) $(if $(WORKERS),--workers $(WORKERS),)

## feedback    HTML feedback for every autograded submission (A=name)
feedback: setup
	$(PY) -m grader feedback $(ONLY)

## export      grades.csv from the gradebook
export: setup
	$(PY) -m grader export

## serve       grading service: grade each submission in the course's exchange as it arrives, record it and
##             release its feedback to its student; Ctrl-C stops it (A=name; WORKERS=n; COURSE=dir: another
##             course directory, e.g. the hub instructor's copy)
serve: setup sysdeps-sandbox
	$(PY) -m grader serve $(ONLY) $(if $(WORKERS),--workers $(WORKERS),) $(if $(COURSE),--root $(COURSE),)

## report      instructor reports (HTML + PNG plots) under reports/<assignment>/, with reports/index.html (A=name)
report: setup
	$(PY) -m grader report $(ONLY)

## lab         JupyterLab with the nbgrader extensions on 127.0.0.1 (prints the URL with its token)
lab: setup
	$(PY) -m grader lab

# JupyterHub's proxy, from npm (pinned); the hub finds it through c.ConfigurableHTTPProxy.command
CHP_VERSION := 5.3.0
HUB_NODE := .hub/node

$(HUB_NODE)/installed-$(CHP_VERSION):
	@command -v npm >/dev/null || $(MAKE) --no-print-directory apt-install PKGS="npm:npm"
	npm install --prefix $(HUB_NODE) --save-exact --no-audit --no-fund --loglevel=error configurable-http-proxy@$(CHP_VERSION)
	touch $@

## hub-proxy   JupyterHub's proxy (npm configurable-http-proxy, pinned in CHP_VERSION) into .hub/node
hub-proxy: $(HUB_NODE)/installed-$(CHP_VERSION)

## hub         JupyterHub for the course on 127.0.0.1 (as root): creates tt-instructor, tt-alice, tt-bob, tt-carol
##             (prints their passwords), nbgrader's exchange and the instructor's course copy; Ctrl-C stops it.
##             HUB_INSTRUCTOR=name HUB_STUDENTS="name name": existing accounts instead; HUB_EXCHANGE=dir;
##             SERVE=1: the grading service too, as the instructor (feedback minutes after each submission)
hub: setup shared-access hub-proxy
	$(PY) -m grader hub $(if $(SERVE),--serve,)

## hub-clean   remove what `make hub` made: its accounts with their homes, the exchange, the hub's state
hub-clean: setup
	$(PY) -m grader hub --clean

## train       train a SimpleCNN with the reference stack on scikit-learn's digits
train: setup
	$(PY) -m tinytorch_ref.train_digits

## bench       fast vs PyTorch vs naive timings for Conv2d and MaxPool2d
bench: setup
	$(PY) -m tinytorch_ref.bench

## coverage    the hidden checks' coverage models as tables: every argument value and regime, and the checks that hit it (A=name)
coverage: setup
	$(PY) -m grader coverage $(ONLY)

## mutants     grade every mutant and alternative solution; print the kill table (A=name)
mutants: setup sysdeps-sandbox
	$(PY) -m grader mutants $(ONLY)

## attacks     grade every tampering, runaway and malformed submission next to good ones; verdict table (A=name)
attacks: setup sysdeps-sandbox
	$(PY) -m grader attacks $(ONLY)

## new         a new assignment from the template: make new A=10_attention TITLE="Attention"
new: setup
	$(PY) -m grader new $(A) --title "$(TITLE)"

## bench-grading  stock nbgrader vs trusted parallel grading throughput
bench-grading: setup sysdeps
	$(PY) -m grader bench $(ONLY)

## bench-service  the grading service under load (150 submissions, 50 students, 3 bursts) vs make grade and stock
##             nbgrader: throughput, latency, lost/twice, rate limit, CPU per submission; artifacts/bench-service/
bench-service: setup sysdeps-sandbox
	$(PY) -m grader bench-service $(ONLY)

clean:
	rm -rf submitted autograded feedback gradebook.db grades.csv reports .grading artifacts
