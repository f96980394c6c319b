# The two commands of the README. Both bootstrap .venv first (idempotent).
.PHONY: setup demo test
export HF_HUB_OFFLINE := 1
export PYTHONDONTWRITEBYTECODE := 1

setup:
	@bash scripts/bootstrap.sh

demo: setup
	@.venv/bin/python -m codebind_core.demo

test: setup
	@.venv/bin/python -m pytest -q tests
