# `make bundle-size` for the functions whose bundles are pruned to fit Lambda's size limit
# (functions/ingest, functions/assistant; each sets FUNCTION and BUDGET, then includes this file):
# the function built as `sam build` builds it (its build-$(FUNCTION) target) plus the SharedLayer
# (shared/requirements.txt without bytecode, and the smartcourse package), summed and checked
# against BUDGET and Lambda's 262,144,000 bytes unzipped. BUNDLE_DIR=dir keeps the build there.
# Included with `-include`: `sam build` runs the build target in a copy of the function's folder,
# where this file is not.
bundle-size:
	@set -e; if [ -n "$(BUNDLE_DIR)" ]; then tmp="$(BUNDLE_DIR)"; rm -rf "$$tmp"; mkdir -p "$$tmp"; \
	  else tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; fi; \
	$(MAKE) --no-print-directory build-$(FUNCTION) ARTIFACTS_DIR=$$tmp/function >/dev/null; \
	$(PIP) install --quiet --no-compile --target $$tmp/layer/python -r ../../shared/requirements.txt; \
	cp -r ../../shared/smartcourse $$tmp/layer/python/; \
	find $$tmp/layer -depth -type d -name __pycache__ -exec rm -rf {} +; \
	fn=$$(du -sb $$tmp/function | cut -f1); layer=$$(du -sb $$tmp/layer | cut -f1); \
	echo "$(FUNCTION) $$fn bytes + SharedLayer $$layer bytes = $$((fn + layer)) bytes (budget $(BUDGET), limit 262144000)"; \
	test $$((fn + layer)) -le $(BUDGET)
