# geo_p2dd: two commands.
#   make run   - set everything up (once) and serve the sample regency on http://127.0.0.1:5000
#   make test  - run the whole test suite (browser tests included)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SAMPLE := data/sample
HOST   ?= 127.0.0.1
PORT   ?= 5000
PO     := $(wildcard web/translations/*/*.po geo_p2dd/translations/*/*.po)
MO     := web/translations/id/LC_MESSAGES/messages.mo
ASSETS := web/static/vendor/.installed

.PHONY: run test install sample lint bench clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "geo_p2dd needs Python 3.11 or newer")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# front-end libraries from the npm registry, pinned by package-lock.json, served by the app
$(ASSETS): package.json package-lock.json web/assets.py | $(VENV)/.installed
	npm ci --no-audit --no-fund --loglevel=error
	$(PY) -m web.assets
	touch $@

# Indonesian message catalogues (the web app's and the library's), compiled at install
# (never committed)
$(MO): $(PO) web/i18n.py geo_p2dd/i18n.py | $(VENV)/.installed
	$(PY) -m web.i18n
	$(PY) -m geo_p2dd.i18n

install: $(VENV)/.installed $(ASSETS) $(MO)

$(SAMPLE)/project.toml: | install
	$(VENV)/bin/geo-p2dd sample $(SAMPLE)

sample: $(SAMPLE)/project.toml

run: install sample
	$(VENV)/bin/geo-p2dd serve --project $(SAMPLE) --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest -n 2 --dist loadfile

lint: install
	$(VENV)/bin/ruff check geo_p2dd web tests bench

bench: install
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/zonal_national.py

clean:
	rm -rf $(VENV) $(SAMPLE) node_modules web/static/vendor $(MO) \
		geo_p2dd/translations/*/LC_MESSAGES
