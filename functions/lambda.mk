# What the functions' Makefiles share. `sam build` runs a function's Makefile target (template.yaml:
# Metadata BuildMethod makefile) in a copy of its folder, but names the Makefile by its path in the
# repository (`make --makefile <repo>/functions/<name>/Makefile`), so each Makefile includes this
# file from its own directory: `include $(dir $(lastword $(MAKEFILE_LIST)))../lambda.mk`.
#
# Lambda runs Python 3.11: build with a python3.11 (`sam build --use-container`, or PYTHON=...);
# pip's wheels and the bytecode are per Python version.
FUNCTIONS_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
# Bytecode in `unchecked-hash` mode (PEP 552): used whatever the files' dates, which SAM's zips do
# not keep. /var/task and /opt are read-only, so a module without bytecode is compiled again at
# every cold start (docs/architecture.md: ApiFunction's handler import 600-626 -> 248-270 ms).
COMPILE = $(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash

# `make` alone in a function's folder only says this (SAM always names the target).
.DEFAULT_GOAL := about
.PHONY: about
about:
	@echo "sam build runs build-<LogicalId> here with ARTIFACTS_DIR set; make bundle-size checks a pruned bundle"

# What every bundle starts with: the function's own dependencies (requirements.txt, installed without
# bytecode; the SharedLayer has the common ones) and CODE, the files and folders of its code.
define install-bundle
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set" >&2; exit 2; }
	$(PIP) install --quiet --no-compile --target "$(ARTIFACTS_DIR)" -r requirements.txt
	cp -r $(CODE) "$(ARTIFACTS_DIR)/"
endef

# A function's bundle with bytecode.
.PHONY: bundle-with-bytecode
bundle-with-bytecode:
	$(install-bundle)
	find "$(ARTIFACTS_DIR)" -depth -type d -name __pycache__ -exec rm -rf {} +
	$(COMPILE) "$(ARTIFACTS_DIR)"

# A bundle pruned to fit Lambda's size limit (functions/ingest, functions/assistant): no bytecode,
# without PRUNE (what the function never imports, and IN_LAYER), test folders and caches.
.PHONY: bundle-pruned
bundle-pruned:
	$(install-bundle)
	cd "$(ARTIFACTS_DIR)" && rm -rf $(PRUNE) && \
	  find . -depth -type d \( -name tests -o -name test -o -name __pycache__ \) -exec rm -rf {} +

# Provided by the SharedLayer (shared/requirements.txt, same pinned versions): the pruned bundles
# (functions/ingest, functions/assistant) do not ship them twice.
IN_LAYER := pydantic pydantic-*.dist-info pydantic_core pydantic_core-*.dist-info annotated_types \
            annotated_types-*.dist-info typing_extensions.py typing_extensions-*.dist-info typing_inspection \
            typing_inspection-*.dist-info cffi cffi-*.dist-info _cffi_backend.*.so pycparser pycparser-*.dist-info

# `make bundle-size` for the pruned bundles (FUNCTION and BUDGET set by their Makefiles): the
# function built as `sam build` builds it (its build-$(FUNCTION) target) plus the layer it uses
# (shared/Makefile's build-SharedLayerLean: no bytecode), summed and checked against BUDGET and
# Lambda's 262,144,000 bytes unzipped. BUNDLE_DIR=dir keeps the build there.
bundle-size:
	@set -e; if [ -n "$(BUNDLE_DIR)" ]; then tmp="$(BUNDLE_DIR)"; rm -rf "$$tmp"; mkdir -p "$$tmp"; \
	  else tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; fi; \
	$(MAKE) --no-print-directory build-$(FUNCTION) ARTIFACTS_DIR=$$tmp/function >/dev/null; \
	$(MAKE) --no-print-directory -C $(FUNCTIONS_DIR)../shared build-SharedLayerLean ARTIFACTS_DIR=$$tmp/layer PIP="$(PIP)" >/dev/null; \
	fn=$$(du -sb $$tmp/function | cut -f1); layer=$$(du -sb $$tmp/layer | cut -f1); \
	echo "$(FUNCTION) $$fn bytes + SharedLayerLean $$layer bytes = $$((fn + layer)) bytes (budget $(BUDGET), limit 262144000)"; \
	test $$((fn + layer)) -le $(BUDGET)
