#!/usr/bin/env bash
# Build the codebind_ros interfaces (msg/, srv/) with plain CMake into a virtual environment, so
# that `from codebind_ros.msg import Embedding` works there without colcon.
#
#   scripts/build_interfaces.sh [VENV]        (default: .venv)
#
# Uses the ROS 2 generator wheels installed from requirements-ros.txt. Idempotent: a second run
# with unchanged inputs only compares a stamp. Layout in the venv:
#   $VENV/lib/libcodebind_ros__*.so                         typesupport libraries (on the loader path)
#   $VENV/lib/codebind_ros_interfaces/codebind_ros/{msg,srv} generated Python, found by
#                                                            codebind_ros/__init__.py (__path__)
#   $VENV/share/codebind_ros/, $VENV/share/ament_index/...   interface files and the index marker
# Where the venv has no tf2_msgs (the PyPI wheels), interfaces/tf2_msgs (TFMessage) is built too,
# its Python package into the venv's site-packages.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(cd "${1:-$ROOT/.venv}" && pwd)"
PY="$VENV/bin/python"
BUILD="$VENV/build/codebind_ros"
STAMP="$BUILD/.interfaces-stamp"
PYDIR="lib/codebind_ros_interfaces"

want="$(cat "$ROOT"/msg/*.msg "$ROOT"/srv/*.srv "$ROOT/CMakeLists.txt" "$ROOT/package.xml" \
        "$ROOT"/cmake/*.cmake "$ROOT"/interfaces/tf2_msgs/CMakeLists.txt "$ROOT"/interfaces/tf2_msgs/msg/* \
        "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" \
      && -d "$VENV/$PYDIR/codebind_ros/msg" ]]; then
  exit 0
fi
echo "[build_interfaces] generating codebind_ros interfaces into $VENV" >&2

for tool in cmake make; do
  command -v "$tool" >/dev/null || { echo "[build_interfaces] $tool is required" >&2; exit 1; }
done
if ! command -v cc >/dev/null || ! command -v c++ >/dev/null; then
  echo "[build_interfaces] a C and C++ compiler are required (Debian: build-essential)" >&2
  exit 1
fi

rm -rf "$VENV/$PYDIR/codebind_ros"
# The generators are Python packages of this venv; ament/rosidl look packages up via these paths.
export PATH="$VENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export LD_LIBRARY_PATH="$VENV/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Skip the ROS wheels' re-exec hook inside the generator subprocesses (paths are set above).
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1

jobs="$(nproc 2>/dev/null || echo 2)"
# cmake_package SOURCE BUILD_DIR [-DNAME=VALUE ...]: configure, build and install one package into
# the venv, from a fresh build directory; on failure, the relevant part of its log and exit 1
cmake_package() {
  local src="$1" build="$2"
  shift 2
  rm -rf "$build"
  mkdir -p "$build"
  cmake -S "$src" -B "$build" -Wno-dev \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DPython3_EXECUTABLE="$PY" \
    -DBUILD_TESTING=OFF "$@" >"$build/configure.log" 2>&1 \
    || { tail -40 "$build/configure.log" >&2; exit 1; }
  cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1 \
    || { grep -m 20 -B2 -A8 -i "error" "$build/build.log" >&2 || tail -40 "$build/build.log" >&2; exit 1; }
  cmake --install "$build" >"$build/install.log" 2>&1 \
    || { tail -40 "$build/install.log" >&2; exit 1; }
}

cmake_package "$ROOT" "$BUILD" -DPYTHON_INSTALL_DIR="$PYDIR" -DCODEBIND_INTERFACES_ONLY=ON

# tf2_msgs where the venv has none of its own (a build of ours from an earlier run does not count)
TF_BUILD="$VENV/build/tf2_msgs"
SITE_REL="$("$PY" -c 'import sysconfig, sys; print(sysconfig.get_path("purelib", vars={"base": sys.prefix}))')"
SITE_REL="${SITE_REL#"$VENV"/}"
if [[ -d "$TF_BUILD" ]] || ! (cd / && env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE -u LD_LIBRARY_PATH "$PY" -c \
      "import tf2_msgs.msg" 2>/dev/null); then
  echo "[build_interfaces] generating tf2_msgs (TFMessage) into $VENV" >&2
  cmake_package "$ROOT/interfaces/tf2_msgs" "$TF_BUILD" -DPYTHON_INSTALL_DIR="$SITE_REL"
fi

# Check the result in a fresh interpreter (the venv's own start-up hooks set the loader path).
(cd "$ROOT" && env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE -u LD_LIBRARY_PATH "$PY" -c \
  "from codebind_ros.msg import Embedding; from codebind_ros.srv import QueryText; Embedding(); QueryText.Request()
from tf2_msgs.msg import TFMessage; TFMessage()") \
  || { echo "[build_interfaces] the generated interfaces do not import" >&2; exit 1; }
echo "$want" > "$STAMP"
echo "[build_interfaces] done" >&2
