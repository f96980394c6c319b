# The two commands of the README. Both bootstrap .venv first (idempotent).
.PHONY: setup demo demo-train test test-ros-jazzy
export HF_HUB_OFFLINE := 1
export PYTHONDONTWRITEBYTECODE := 1

setup:
	@bash scripts/bootstrap.sh

# Run the perception graph (sensor player, six encoders, localisation, memory) with the shipped
# demo model (models/demo) and query it. The memory's database is named after the model's
# codebooks (~/.ros/codebind/), so a re-shipped model never meets one written with other codebooks.
QUERY ?= a photo of a red sphere.
demo: setup
	@ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST .venv/bin/python -m codebind_ros.tools.graph_runner \
		--model-path models/demo --query "$(QUERY)"

# Retrain the demo model with its recipe (SynthBind, about 25 minutes on 2 CPU cores; cached in
# cache/demo-model) and ship it to models/demo.
demo-train: setup
	@.venv/bin/python scripts/train_demo_model.py --force --ship

test: setup
	@.venv/bin/python -m pytest -q tests

# The ROS tests (tests/ros) against ROS 2 Jazzy (rclpy 7.1) in a second venv, .venv-jazzy, built
# by the same bootstrap from requirements-ros-jazzy.txt. The Jazzy interpreter sets up its own
# library path: nothing of another venv's ROS libraries may leak in from the environment.
test-ros-jazzy:
	@CODEBIND_ROS_DISTRO=jazzy bash scripts/bootstrap.sh
	@env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE -u LD_LIBRARY_PATH .venv-jazzy/bin/python -m pytest -q tests/ros
