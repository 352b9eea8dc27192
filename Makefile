# Two commands do the set-up on a fresh Debian/Ubuntu machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: run test test-pg translations chromium clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3-venv is missing; installing it with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# Compiled catalogues (.mo) are build output, made from the committed .po files.
translations: $(VENV)/.installed
	@$(BIN)/pybabel compile -d kwtsms/translations >/dev/null

run: $(VENV)/.installed translations
	$(BIN)/python -m kwtsms.devserver

# Browser tests drive Debian's chromium; install it when we can, else they are skipped.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then \
	    echo "installing chromium for the browser tests"; \
	    ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium) >/dev/null || \
	      echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium is not installed and apt-get needs root: browser tests will be skipped"; fi; }

test: $(VENV)/.installed-dev translations chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The same suite on PostgreSQL (each run creates and drops its own database).
test-pg: TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
test-pg: $(VENV)/.installed-dev translations chromium
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
