# Developer entry points.
#
# Targets that need the servers use REDIS_URL and DATABASE_URL when they are set, and otherwise
# run their command through `tools.devstack servers`, which starts embedded Redis and PostgreSQL
# in DATA_DIR (default .data) for the duration of the command. `make test` keeps its embedded
# servers in DATA_DIR/test, apart from the development data of `make run`.

PYTHON_BOOTSTRAP ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
DATA_DIR ?= .data
TEST_DATA_DIR ?= $(DATA_DIR)/test

PYTEST_ARGS ?=
DEMO_LEADS ?=
FORCE ?=
USER_ID ?= 1
ROLES ?= cliente
TTL ?= 3600

# Commands needing both servers run bare when both URLs are set, else inside devstack servers.
ifeq ($(and $(REDIS_URL),$(DATABASE_URL)),)
WITH_SERVERS := $(PY) -m tools.devstack servers --
WITH_TEST_SERVERS := $(PY) -m tools.devstack servers --data-dir $(TEST_DATA_DIR) --
else
WITH_SERVERS :=
WITH_TEST_SERVERS :=
endif

# Commands needing only PostgreSQL.
ifeq ($(DATABASE_URL),)
WITH_DATABASE := $(PY) -m tools.devstack servers --
else
WITH_DATABASE :=
endif

.PHONY: venv run test migrate demo-data token worker api bench lint clean

venv: $(STAMP)

# Reinstalls only when pyproject.toml is newer than the stamp. pip's output goes to stderr, so
# that `TOKEN=$$(make -s token)` captures only the token.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV) >&2
	$(PY) -m pip install -e '.[dev]' >&2
	touch $(STAMP)

run: venv
	$(PY) -m tools.devstack run

test: venv
	$(WITH_TEST_SERVERS) $(PY) -m pytest $(PYTEST_ARGS)

migrate: venv
	$(WITH_DATABASE) $(PY) -m shared.migrate

demo-data: venv
	$(WITH_DATABASE) $(PY) -m tools.demo_data $(if $(DEMO_LEADS),--count $(DEMO_LEADS)) $(if $(FORCE),--force)

token: venv
	@$(PY) -m tools.make_token --user $(USER_ID) --roles $(ROLES) --ttl $(TTL)

worker: venv
	$(WITH_SERVERS) $(PY) -m worker_service

api: venv
	$(WITH_SERVERS) $(PY) -m api_service

# Never part of `make test`: about 25 minutes on 2 cores. BENCH_ARGS="--quick" for a short run,
# BENCH_ARGS="--phases e2e" for a subset; the bench starts embedded servers itself when needed.
bench: venv
	$(PY) -m bench $(BENCH_ARGS)

lint: venv
	@if $(PY) -m ruff --version >/dev/null 2>&1; then \
		$(PY) -m ruff check .; \
	else \
		echo "ruff is not installed; install it with: $(PY) -m pip install ruff"; \
	fi

clean:
	rm -rf $(DATA_DIR)
