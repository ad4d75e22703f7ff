# Clockwork: `make demo` runs the main job, `make test` runs the tests. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv data clock-data

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

# Fashion-MNIST offline, from Debian (needs root or sudo; skipped when already there).
data:
	@test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; }

# The main job: a bounded fashion-mlp search, 2 workers, on the SQLite default.
demo: venv data
	$(PY) -m search launch fashion-mlp --workers 2 --trials 20 --set epochs=8

test: venv data
	$(PY) -m pytest -q

# The synthetic tell-the-time set (about 20-30 s on 2 cores); the clock study reads data/clock.
clock-data: venv
	@test -f data/clock/images.npy || $(PY) -m datasets synth-clock --n 18000 --out data/clock --seed 7 --jobs 2
