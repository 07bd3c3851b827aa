# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# uv (from PyPI) creates .venv and installs the locked dependencies on first use.
PY ?= python3
UV = $(PY) -m uv

.PHONY: setup demo run test bench lint

setup:
	@$(UV) --version >/dev/null 2>&1 || $(PY) -m pip install --quiet --disable-pip-version-check uv

demo: setup  ## write the synthetic demo, run the monthly flow on it, print the outflow at 2020-11-01
	$(UV) run lvv demo

run: setup  ## the monthly flow over data/raw
	$(UV) run lvv run

test: setup  ## the test suite
	$(UV) run pytest

bench: setup  ## benchmark figures at demo scale
	$(UV) run python -m benchmarks --scale demo
