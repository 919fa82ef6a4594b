# DMS2F-HAD QGIS plugin: set up, test, demo and package on Debian 12.
#
#   make test     install what is missing (Debian packages, .venv, pinned packages), run every test tier
#                 but gpu in real, headless QGIS (PYTEST_ARGS="-k deps -x" to narrow it); one tier:
#                 make test-unit | test-integration | test-qgis | test-gpu (CUDA machines only)
#   make test-debian13  the same suite in a Debian 13 chroot (QGIS 3.40 LTR, Python 3.13, numpy 2), made
#                 or reused by scripts/debian13.sh (which also has `setup` and `shell`); honours PYTEST_ARGS
#   make demo     run the detection through qgis_process on the shipped sample scene
#   make package  build build/dms2f_had-<version>.zip for the QGIS plugin repository
#   make gui-check  the analyst's path in the real QGIS desktop under Xvfb, screenshots in
#                 build/gui-check (GUI_CHECK_ARGS="--deps venv --steps 20"; see the script)
#   make bench    benchmark scenes in ../shared/data/had (BENCH_ARGS="--methods rx,lrx")
#   make lint     ruff (zero findings) and mypy on the engine's public API
#   make clean    remove build outputs (make distclean also removes .venv)
#
# Everything is idempotent; with everything present the set-up costs well under a second.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

SYSTEM_PYTHON := /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.dms2f_requirements.stamp
APT_PACKAGES := qgis python3-qgis qgis-providers python3-venv python3-rasterio python3-skimage \
	python3-scipy python3-h5py python3-gdal gdal-bin python3-matplotlib xauth
SCENES ?= ../shared/data/had
PYTEST_ARGS ?=
BENCH_ARGS ?=

# Headless Qt everywhere; QGIS settings of make-run tools go to build/, never the user's profile.
export QT_QPA_PLATFORM := offscreen
export QGIS_CUSTOM_CONFIG_PATH := $(CURDIR)/build/qgis-profile
export XDG_RUNTIME_DIR := $(CURDIR)/build/xdg-runtime
export PIP_NO_INPUT := 1

.PHONY: system venv dev test test-unit test-integration test-qgis test-gpu test-debian13 demo package gui-check bench lint sample icon models styles clean distclean

system:
	@scripts/ensure_system.sh $(APT_PACKAGES)

$(PY): | system
	$(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV)

# Pinned packages; numpy (and scipy/GDAL) pinned to Debian's so pip never installs its own.
$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	@mkdir -p build
	@$(SYSTEM_PYTHON) -c 'import numpy, scipy, osgeo; print(f"numpy=={numpy.__version__}\nscipy=={scipy.__version__}\nGDAL=={osgeo.__version__}")' > build/protected-constraints.txt
	$(PY) -m pip install --no-input -r requirements-dev.txt -c build/protected-constraints.txt
	@touch $@

venv: system $(STAMP)

dev: venv
	@$(PY) scripts/dev_setup.py
	@mkdir -p build/xdg-runtime && chmod 700 build/xdg-runtime

# pytest's "no tests collected" (exit 5) counts as a failure.
PYTEST = rc=0; $(PY) -m pytest $(1) -ra $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treated as a failure" >&2; exit 1; fi; \
	exit $$rc

test: dev
	@$(call PYTEST,tests -m "not gpu")

test-unit: dev
	@$(call PYTEST,tests/unit)

test-integration: dev
	@$(call PYTEST,tests/integration)

test-qgis: dev
	@$(call PYTEST,tests/qgis)

test-gpu: dev
	@$(call PYTEST,tests/gpu)

# Not part of .ci/run: needs root, a few GB in /var/cache/dms2f-had (DMS2F_DEBIAN13_ROOT) and network.
test-debian13:
	DMS2F_APT_PACKAGES="$(APT_PACKAGES)" scripts/debian13.sh test $(PYTEST_ARGS)

demo: dev
	$(PY) scripts/demo.py

package:
	$(SYSTEM_PYTHON) scripts/package.py

GUI_CHECK_ARGS ?=
gui-check: dev
	@scripts/ensure_system.sh xvfb openbox xdotool imagemagick
	$(SYSTEM_PYTHON) scripts/gui_check.py $(GUI_CHECK_ARGS)

bench: dev
	$(VENV)/bin/dms2f-had bench --scenes $(SCENES) $(BENCH_ARGS)

lint: venv
	$(PY) -m ruff check .
	$(PY) -m mypy

# Regenerate committed resources (not needed for test/demo).
sample: dev
	$(PY) scripts/make_sample.py $(SCENES)/san-diego.mat

icon: dev
	$(PY) scripts/make_icon.py

models: dev
	$(PY) scripts/make_models.py

styles: dev
	$(PY) scripts/make_styles.py

clean:
	rm -rf build .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
