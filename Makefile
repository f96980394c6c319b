# The two commands of the README. Both bootstrap .venv first (idempotent).
.PHONY: setup demo test
export HF_HUB_OFFLINE := 1
export PYTHONDONTWRITEBYTECODE := 1

setup:
	@bash scripts/bootstrap.sh

# Train the SynthBind demo model once (cached in cache/), then run the perception graph
# (sensor player, six encoders, localisation, memory) and query it. The demo's memory lives
# next to its model, so it never meets a database written with other codebooks.
QUERY ?= a photo of a red sphere.
demo: setup
	@.venv/bin/python scripts/train_demo_model.py
	@ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST .venv/bin/python -m codebind_ros.graph \
		--model-path cache/demo-model/model --memory-db cache/demo-model/memory.db --query "$(QUERY)"

test: setup
	@.venv/bin/python -m pytest -q tests
