# The two commands of README.md. Both create .venv/ at the repository root and install Yunguan there.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test install clean browser

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

# The full test suite against a real PostgreSQL+PostGIS and a private Tansu broker the tests start.
test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/yunguan up --no-broker
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) .yunguan .pytest_cache
