# The two commands of the README:  `make demo`  and  `make test`.
# Both create .venv and install everything they need on first use.
# bpy 4.5 needs Python 3.11: take python3.11 where it is installed beside another python3
PYTHON ?= $(shell command -v python3.11 2>/dev/null || echo python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_TOOLS := tests/tools/node_modules/.installed
VIEWER := tests/viewer/node_modules/.installed

.PHONY: demo test lint bench extension clean

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(NODE_TOOLS): tests/tools/package.json tests/tools/package-lock.json
	npm ci --prefix tests/tools --no-audit --no-fund
	touch $(NODE_TOOLS)

demo: $(STAMP)
	$(BIN)/depth3d convert samples/photos -o out --depth samples/depth
	$(BIN)/depth3d convert samples/photos -o out/vr --depth samples/depth --target vr
	$(BIN)/depth3d convert samples/photos -o out/ar --depth samples/depth --format usdz
	$(BIN)/python depth3d/blender/batch_script.py convert samples/photos -o out/blender \
		--depth samples/depth --blend out/samples.blend
	@echo "demo: wrote out/*.glb (core), out/vr/*.glb (--target vr), out/ar/*.usdz (AR Quick Look)"
	@echo "      and out/blender/*.glb + out/samples.blend (Blender)"

# three.js and puppeteer-core for the real-viewer test (the browser itself: .ci/run, apt)
$(VIEWER): tests/viewer/package.json tests/viewer/package-lock.json
	npm ci --prefix tests/viewer --no-audit --no-fund
	touch $(VIEWER)

test: lint $(STAMP) $(NODE_TOOLS) $(VIEWER)
	$(BIN)/python -m pytest tests

# lint and type check of the package (settings: pyproject.toml's [tool.ruff] and [tool.mypy])
lint: $(STAMP)
	$(BIN)/ruff check depth3d
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_convert.py
	$(BIN)/python bench/bench_targets.py
	$(BIN)/python bench/bench_blender.py
	$(BIN)/python bench/bench_blender_targets.py
	$(BIN)/python bench/bench_service.py
	$(BIN)/python bench/bench_cluster.py
	$(BIN)/python bench/bench_model.py
	$(BIN)/python bench/bench_readers.py

# The extension zip, built by Blender's own tool (the same as `blender --command extension build`).
BLENDER_EXT = $(VENV)/lib/python3.11/site-packages/bpy/4.5/scripts/addons_core/bl_pkg/cli/blender_ext.py
extension: $(STAMP)
	$(BIN)/python $(BLENDER_EXT) validate .
	mkdir -p dist
	$(BIN)/python $(BLENDER_EXT) build --source-dir . --output-dir dist

clean:
	rm -rf $(VENV) tests/tools/node_modules tests/viewer/node_modules out dist
