# The two commands of README.md. Both create .venv/ at the repository root and install Yunguan there.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test install clean browser vendor screenshots

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

# Pictures of every page for docs/screenshots/, from a live `yunguan demo` on a free port (stopped afterwards).
screenshots: $(STAMP) browser
	$(VENV)/bin/python scripts/screenshots.py

# Browser libraries the console serves itself (no CDN): Leaflet and Leaflet.markercluster at the exact
# versions of web/package-lock.json, from the npm registry, copied with their licences into web/static/vendor/.
# The copies are committed, so `make demo` and `make test` need no Node.js; run this only to change versions.
VENDOR := web/static/vendor
vendor:
	npm ci --prefix web --ignore-scripts --no-audit --no-fund
	rm -rf $(VENDOR)/leaflet $(VENDOR)/leaflet.markercluster
	mkdir -p $(VENDOR)/leaflet/images $(VENDOR)/leaflet.markercluster
	cp web/node_modules/leaflet/dist/leaflet.js web/node_modules/leaflet/dist/leaflet.css $(VENDOR)/leaflet/
	cp web/node_modules/leaflet/dist/images/*.png $(VENDOR)/leaflet/images/
	cp web/node_modules/leaflet/LICENSE $(VENDOR)/leaflet/LICENSE
	cp web/node_modules/leaflet.markercluster/dist/leaflet.markercluster.js \
	   web/node_modules/leaflet.markercluster/dist/MarkerCluster.css \
	   web/node_modules/leaflet.markercluster/dist/MarkerCluster.Default.css $(VENDOR)/leaflet.markercluster/
	cp web/node_modules/leaflet.markercluster/MIT-LICENCE.txt $(VENDOR)/leaflet.markercluster/LICENSE

clean:
	rm -rf $(VENV) .yunguan .pytest_cache
