# The course's commands.  Every target creates or updates .venv itself.
#   make run    execute every notebook (current profile) -> build/executed, build/html
#   make test   ruff, unit tests + doctests, every notebook under nbval (offline profile)
#   make lab    JupyterLab on notebooks/
#   make bench  run benchmarks/ and rewrite benchmarks/RESULTS.md
# More: make prefetch | make student | make nav | make test-colab | make clean

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export TQDM_DISABLE := 1
export MPLBACKEND := Agg

.PHONY: venv run test unit nbtest lint lab bench prefetch student nav test-colab clean

venv: $(STAMP)

$(STAMP): requirements-lock.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-lock.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

run: venv
	$(PY) scripts/run_course.py

lint: venv
	$(PY) -m ruff check .

unit: venv
	$(PY) -m pytest tests nbhelpers --doctest-modules -p no:cacheprovider

nbtest: venv
	NBH_PROFILE=offline MPLBACKEND=module://matplotlib_inline.backend_inline \
	$(PY) -m pytest notebooks --nbval-lax --nbval-current-env \
	  --sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=600 -p no:cacheprovider

test: lint unit nbtest

lab: venv
	$(PY) -m jupyter lab notebooks/

bench: venv
	$(PY) scripts/run_benchmarks.py

prefetch: venv
	$(PY) -m nbhelpers.prefetch

student: venv
	$(PY) scripts/nbtools.py student

nav: venv
	$(PY) scripts/nbtools.py nav

clean:
	rm -rf build .pytest_cache
