# OrderHub: `make demo` runs the product with demo data; `make test` passes the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
EMULATOR_PORT ?= 9100

.PHONY: demo test venv install lint migrate messages clean bench bench-flash-sale

$(VENV)/.installed: requirements.txt requirements-sms.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

venv install: $(VENV)/.installed

test: $(VENV)/.installed
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

migrate: $(VENV)/.installed
	$(PY) manage.py migrate --noinput

# Translation catalogues (docs/i18n.md): each app with a locale/ dir gets its own catalogue; orderhub/ and
# templates/ go to the project's locale/. Apps without a locale/ dir are left out, so their strings never
# land in the project catalogue. Needs GNU gettext; the compiled .mo files are committed, so nothing else does.
APPS_WITHOUT_CATALOGUE := $(filter-out $(patsubst %/locale/,%,$(wildcard */locale/)),$(patsubst %/apps.py,%,$(wildcard */apps.py)))

messages: $(VENV)/.installed
	$(PY) manage.py makemessages -l zh_Hans --no-obsolete --ignore=bench $(foreach app,$(APPS_WITHOUT_CATALOGUE),'--ignore=$(app)/?*')
	$(PY) manage.py compilemessages -l zh_Hans --ignore=.venv

demo: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo --host $(HOST) --port $(PORT) --emulator-port $(EMULATOR_PORT)

# Issue 11 benchmarks (docs/performance.md "Ingestion and flash sales"): PostgreSQL only; each works in a
# throwaway test_<name> database of its own, created and dropped by the run.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/orderhub_bench

bench: $(VENV)/.installed
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/flash.py
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/flash_sale.py

# Only the flash sale over HTTP (docs/performance.md "Flash sale over HTTP")
bench-flash-sale: $(VENV)/.installed
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/flash_sale.py

clean:
	rm -rf $(VENV) db.sqlite3* test-db.sqlite3* .pytest_cache
