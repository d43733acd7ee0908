# Two commands for a newcomer: `make demo` and `make test`. Both set up everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-postgres lint bench install clean catalogues

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "arbot needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/arbot db upgrade
	$(BIN)/arbot demo files --out demo-clinic
	$(BIN)/arbot import services demo-clinic/services.csv
	$(BIN)/arbot import patients demo-clinic/patients.csv
	$(BIN)/arbot import charges demo-clinic/charges.csv
	$(BIN)/arbot import payments demo-clinic/payments.csv $$(cat demo-clinic/payments.control)
	$(BIN)/arbot report atb
	$(BIN)/arbot serve

# One test process per CPU (pytest-xdist); each has its own SQLite files and its own
# PostgreSQL database, so they never see each other's rows.
test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -n logical

test-postgres: install
	ARBOT_TEST_POSTGRES_URL=$${ARBOT_TEST_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest -q -p no:cacheprovider -n logical

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# After changing a patient message: extract, merge into the Spanish catalogue, translate
# what is new (the catalogue test lists it), then compile the .mo that ships.
catalogues: install
	$(BIN)/pybabel extract -F babel.cfg -o templates/locales/messages.pot --no-location --omit-header --sort-output .
	$(BIN)/pybabel update -i templates/locales/messages.pot -d templates/locales -l es --no-fuzzy-matching
	$(BIN)/pybabel compile -d templates/locales --statistics

bench: install
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) arbot.db arbot.db-wal arbot.db-shm *.egg-info demo-clinic
