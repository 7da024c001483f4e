# Set-up and the two jobs: `make book` builds the book, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUPERCM_PROFILE ?= workshop
export SUPERCM_PROFILE

.PHONY: install book test lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install -e . --no-deps
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3"
	touch $@

book: install
	$(PY) -m supercm.book build --profile $(SUPERCM_PROFILE)

lint: install
	$(PY) -m ruff check supercm tests benchmarks
	$(PY) -m ruff check --select F book  # notebooks: unused and undefined names

# Unit tests and lints, then every notebook in the smoke profile under nbval
# (cells marked NBVAL_CHECK_OUTPUT must reproduce their committed output).
test: install lint
	MPLBACKEND=Agg SUPERCM_PROGRESS=0 $(PY) -m pytest tests
	rm -rf _build/nbval-runs
	SUPERCM_PROFILE=smoke MPLBACKEND=Agg SUPERCM_PROGRESS=0 \
	SUPERCM_RUNS=$(CURDIR)/_build/nbval-runs \
	$(PY) -m pytest --nbval-lax --nbval-cell-timeout=900 book/

clean:
	rm -rf _build runs
