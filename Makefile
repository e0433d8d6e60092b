# esp_coord — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: architecture run test test-sqlite test-postgres translations lint bench stress clean install wheel

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) translations

translations: $(STAMP)
	$(BIN)/python scripts/i18n.py compile

run: install
	ESP_COORD_ENV=development $(BIN)/esp-coord db upgrade
	ESP_COORD_ENV=development $(BIN)/esp-coord demo --if-empty
	ESP_COORD_ENV=development $(BIN)/esp-coord run --host 127.0.0.1 --port 5000

test: install
	$(BIN)/python scripts/i18n.py check
	$(BIN)/ruff check .
	$(BIN)/bandit -q -r esp_coord -c bandit.yaml -ll
	ESP_SCREENSHOTS=$${ESP_SCREENSHOTS:-0} $(BIN)/pytest -n 2 $(PYTEST_ARGS)
	ESP_TEST_ENGINE=postgres $(BIN)/pytest -n 2 -m "not browser" $(PYTEST_ARGS)

test-sqlite: install
	$(BIN)/pytest $(PYTEST_ARGS)

test-postgres: install
	ESP_TEST_ENGINE=postgres $(BIN)/pytest -m "not browser" $(PYTEST_ARGS)

# The architecture contract (layers + acyclic packages) and the typed contract; joins `make test` once clean
# (issue 14: core -> teams/auth, auth -> teams, funding -> reports and mypy errors in services remain).
architecture: install
	$(BIN)/lint-imports
	$(BIN)/mypy

wheel: $(STAMP)
	$(BIN)/pip wheel --no-deps --quiet -w dist .

lint: install
	$(BIN)/ruff check .
	$(BIN)/bandit -q -r esp_coord -c bandit.yaml

bench: install
	$(BIN)/python benchmarks/run_all.py

stress: install
	ESP_STRESS=long $(BIN)/pytest -m stress -p no:xdist

clean:
	rm -rf $(VENV) instance .pytest_cache dist
