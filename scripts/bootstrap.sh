#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv) idempotently.
# A second run with unchanged requirements only checks a stamp and returns.
#
#   scripts/bootstrap.sh                           .venv with ROS 2 kilted (requirements-ros.txt)
#   CODEBIND_ROS_DISTRO=jazzy scripts/bootstrap.sh  .venv-jazzy with ROS 2 jazzy
#                                                  (requirements-ros-jazzy.txt)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DISTRO="${CODEBIND_ROS_DISTRO:-kilted}"
case "$DISTRO" in
  kilted) ROS_REQUIREMENTS="$ROOT/requirements-ros.txt"; DEFAULT_VENV="$ROOT/.venv" ;;
  jazzy)  ROS_REQUIREMENTS="$ROOT/requirements-ros-jazzy.txt"; DEFAULT_VENV="$ROOT/.venv-jazzy" ;;
  *) echo "[bootstrap] CODEBIND_ROS_DISTRO must be kilted or jazzy, got '$DISTRO'" >&2; exit 2 ;;
esac
VENV="${CODEBIND_VENV:-$DEFAULT_VENV}"
PY="${PYTHON:-python3}"
STAMP="$VENV/.codebind-stamp"
inputs=("$ROOT"/requirements.txt "$ROS_REQUIREMENTS" "$ROOT"/constraints.txt "$ROOT"/pyproject.toml \
        "$ROOT"/scripts/*.sh "$ROOT"/scripts/*.py "$ROOT"/msg/* "$ROOT"/srv/* "$ROOT"/CMakeLists.txt \
        "$ROOT"/package.xml "$ROOT"/cmake/*.cmake "$ROOT"/interfaces/tf2_msgs/CMakeLists.txt \
        "$ROOT"/interfaces/tf2_msgs/msg/*)
want="$(cat "${inputs[@]}" 2>/dev/null | sha256sum | cut -c1-16 || true)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi
echo "[bootstrap] setting up $VENV (ROS 2 $DISTRO; first run takes a few minutes)" >&2
# open3d needs libusb at import time (Debian: libusb-1.0-0).
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libusb-1.0-0 >/dev/null
fi
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
# torch first and pinned: an unpinned resolve would pull CUDA wheels.
"${PIP[@]}" install torch==2.13.0 -c "$ROOT/constraints.txt"
"${PIP[@]}" install -r "$ROOT/requirements.txt" -c "$ROOT/constraints.txt"
"${PIP[@]}" install -r "$ROS_REQUIREMENTS" -c "$ROOT/constraints.txt"
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cp "$ROOT/scripts/torchvision_cpu_ops.py" "$SITE/_codebind_torchvision_cpu_ops.py"
echo "import _codebind_torchvision_cpu_ops" > "$SITE/codebind-torchvision-cpu-ops.pth"
"${PIP[@]}" install --no-deps --no-build-isolation -e "$ROOT" --config-settings editable_mode=compat
if [[ -x "$ROOT/scripts/build_interfaces.sh" ]]; then
  "$ROOT/scripts/build_interfaces.sh" "$VENV"
fi
echo "$want" > "$STAMP"
echo "[bootstrap] ready" >&2
