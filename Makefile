# Everything the project needs is installed by these targets (fresh machine: Python 3.11).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install browser validators report-schema bench clean lock floors

# Bytecode is written (an environment that sets PYTHONDONTWRITEBYTECODE makes every
# `residual` process the tests start compile ~700 modules again: 1.9 s -> 1.1 s a call,
# tests/test_exit_contract.py 12.9 s -> 9.3 s; __pycache__ is ignored by git).
unexport PYTHONDONTWRITEBYTECODE

UV_VERSION := 0.9.30

# Installs exactly what requirements.lock pins (hashes checked), then the project itself
# without resolving again, so two fresh machines run the same code. Regenerate the lock
# with `make lock` after changing pyproject.toml.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync -q --python $(BIN)/python --require-hashes requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

lock:
	$(PYTHON) -m pip install -q uv==$(UV_VERSION)
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev --generate-hashes \
	  --python-version 3.11 -q -o requirements.lock

install: $(STAMP)

# Headless Chromium (Debian's package) for the HTML report's browser test. Best effort:
# where it cannot be installed the browser test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || \
	  { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	    || echo "chromium could not be installed: browser tests will skip"; }

# The consumers' own validators for the report tests (tests/consumers.py), in .tools/
# (project-local, not global): Microsoft's SARIF Multitool (its Linux binary, from npm).
# Best effort: where npm or the registry is missing the tests that need it skip and say why.
MULTITOOL := .tools/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool
validators:
	@test -x $(MULTITOOL) || \
	  { (mkdir -p .tools && npm install -s --no-audit --no-fund --prefix .tools @microsoft/sarif-multitool@5 \
	     && chmod u+x $(MULTITOOL)) >/dev/null 2>&1 \
	    || echo "SARIF Multitool could not be installed: its tests will skip"; }

# docs/report.schema.json from the report's types (reports/schema.py); a test checks it is current.
report-schema: $(STAMP)
	$(BIN)/python -W ignore -m reports.schema > docs/report.schema.json

demo: $(STAMP)
	$(BIN)/residual demo --out demo-output $(if $(RESET),--reset)

test: $(STAMP) browser validators
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The declared floors, tested: a separate venv with the lowest versions pyproject.toml
# allows for our direct dependencies (uv --resolution lowest-direct), then end-to-end
# tests that drive every client library through the real CLI (a few minutes at most).
FLOORS := .venv-floors
FLOORS_TESTS := \
  tests/test_aws_e2e.py::test_verify_terminated_user_finds_key_password_ssh_key_and_trust \
  tests/test_github_e2e.py::test_demo_scan_finds_alice_and_keeps_carol_clean \
  tests/test_github_scopes.py::test_fine_grained_pats_are_asked_with_one_owner_value_per_login \
  tests/test_gitlab_e2e.py::test_demo_scan_finds_alice_and_dave_and_leaves_carol_clean \
  tests/test_kubernetes_e2e.py::test_alice_residual_and_carol_clean \
  tests/test_okta_e2e.py::test_verify_alice_exits_1 \
  tests/test_iac_e2e.py::test_scan_iac_only \
  tests/test_fake_vault.py::test_accessors_are_listed_and_looked_up \
  tests/test_fake_google.py::test_users_list_with_delegated_credentials_pages_to_the_end
floors: $(STAMP)
	rm -rf $(FLOORS)
	$(PYTHON) -m venv $(FLOORS)
	$(BIN)/uv pip install -q --python $(FLOORS)/bin/python --resolution lowest-direct -e '.[dev]'
	$(FLOORS)/bin/python -m pytest -q -p no:cacheprovider $(FLOORS_TESTS)

bench: $(STAMP)
	$(BIN)/python benchmarks/aws_api_calls.py

clean:
	rm -rf $(VENV) $(FLOORS) demo-output .pytest_cache .tools
