# The two commands of README.md. Both create .venv/ at the repository root and install Yunguan there.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test install clean browser screenshots frontend frontend-check node

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Bring the whole platform up with demo data: PostgreSQL+PostGIS, broker, topics, migrations,
# Changchun districts, accounts, then serve + worker + simulate until Ctrl-C.
demo: $(STAMP)
	$(VENV)/bin/yunguan demo

# Browser tests drive Debian's Chromium (Playwright's own browser download is not used); a CJK font
# makes the screenshots readable.
browser:
	@test -x /usr/bin/chromium && fc-list :lang=zh | grep -q . || \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-zenhei; }

# The full test suite against a real PostgreSQL+PostGIS and a private Tansu broker the tests start, in two
# processes (pytest-xdist; each has its own database yunguan_test_<pid> and broker; a file's tests stay together).
test: $(STAMP) browser frontend-check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/yunguan up --no-broker
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile --durations=20

# Pictures of every page for docs/screenshots/, from a live `yunguan demo` on a free port (stopped afterwards).
screenshots: $(STAMP) browser
	$(VENV)/bin/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .yunguan .pytest_cache

# The pages' front end (frontend/: Vue 3 + TypeScript, built by Vite). Its build output is committed in
# web/static/app, so `make demo` needs no Node.js; `make test` installs Node.js from Debian's packages when the
# machine has none, runs the front-end unit tests and the type check, rebuilds into a temporary folder and
# fails when that differs from the committed output (decision 0017). `make frontend` rebuilds the output.
node:
	@command -v npm >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; }

frontend/node_modules/.package-lock.json: frontend/package-lock.json | node
	npm ci --prefix frontend --no-audit --no-fund --loglevel=error

frontend: frontend/node_modules/.package-lock.json
	npm run --prefix frontend build

FRONTEND_OUT := $(shell mktemp -u /tmp/yunguan-frontend-XXXXXX)
frontend-check: frontend/node_modules/.package-lock.json
	cd frontend && npx vitest run
	cd frontend && npx vue-tsc --noEmit -p tsconfig.json
	cd frontend && YUNGUAN_OUT_DIR=$(FRONTEND_OUT) npx vite build --logLevel warn
	@diff -r $(FRONTEND_OUT) web/static/app >/dev/null || { diff -rq $(FRONTEND_OUT) web/static/app; \
	  echo "web/static/app does not match frontend/: run 'make frontend' and commit the output"; rm -rf $(FRONTEND_OUT); exit 1; }
	rm -rf $(FRONTEND_OUT)
	@echo "front end: tests, types and the committed build are in order"
