# The README's quick start: `make demo` and `make test`. Both create .venv and install
# everything into it; nothing is installed outside it except system packages the
# tests need (scripts/system-deps.sh installs them when it can, else says what is missing).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Test workers (pytest-xdist). Much of the suite waits on subprocesses, servers and
# real-time audio, so more workers than cores pays off; PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 4
PYTEST_PARALLEL = -n $(PYTEST_WORKERS) --dist loadgroup

.PHONY: install demo test test-fast lint bench docs clean system-deps fuzz scim-check

$(STAMP): pyproject.toml agent/pyproject.toml server/pyproject.toml admin/pyproject.toml plugins/qylon-hubspot/pyproject.toml plugins/qylon-salesforce/pyproject.toml plugins/qylon-zoom/pyproject.toml plugins/qylon-msgraph/pyproject.toml plugins/qylon-google/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Qylon needs Python 3.11 or newer; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' -e ./agent -e ./server -e ./admin -e ./plugins/qylon-hubspot -e ./plugins/qylon-salesforce -e ./plugins/qylon-zoom -e ./plugins/qylon-msgraph -e ./plugins/qylon-google
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/qylon meeting transcribe samples/team_meeting.ogg --title "Weekly sync with Acme" --client Acme

system-deps:
	@bash scripts/system-deps.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: install system-deps lint
	$(BIN)/python scripts/api_fuzz.py --max-time 40
	$(BIN)/python scripts/scim_check.py
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_PARALLEL) $(PYTEST_ARGS)

fuzz: install
	$(BIN)/python scripts/api_fuzz.py --max-time 40

scim-check: install
	$(BIN)/python scripts/scim_check.py

bench: install
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/transcribe.py
	$(BIN)/python benchmarks/actions.py
	$(BIN)/python benchmarks/record.py
	$(BIN)/python benchmarks/users_import.py
	$(BIN)/python benchmarks/diarize.py
	$(BIN)/python benchmarks/agent.py
	$(BIN)/python benchmarks/api.py
	$(BIN)/python benchmarks/events.py
	$(BIN)/python benchmarks/workflows.py
	$(BIN)/python benchmarks/onboarding.py

docs: install
	$(BIN)/python scripts/gen_cli_docs.py > docs/cli.md
	$(BIN)/qylon workflows schema > docs/workflow.schema.json
	$(BIN)/qylon onboarding sequences schema > docs/sequence.schema.json
	$(BIN)/qylon onboarding rules schema > docs/engagement-rule.schema.json

clean:
	rm -rf $(VENV) .pytest_cache
