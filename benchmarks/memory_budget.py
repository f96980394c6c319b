"""Peak memory of the encoder node's per-message work under the worst inputs we can build.

    .venv/bin/python benchmarks/memory_budget.py            # every case, one fresh process each
    .venv/bin/python benchmarks/memory_budget.py --case camera_1x32768

Each case runs in a fresh process: the tiny CodeBind model is built and one ordinary message of the
sensor is encoded (baseline RSS), then the worst messages are built and put through what the encoder
node does with a message (``sensors.check_limits`` with the node's default limits, conversion,
``model.preprocess``, encoding); a ValueError is a dropped message, as in the node. Printed: the
messages' size, the RSS once they exist (as the subscription hands them over), the peak RSS while
they are handled (VmHWM, reset just before) and the difference, i.e. what handling one message
costs on top of the node and the message itself.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import cpu_model, peak_rss_mb, reset_peak_rss, rss_mb  # noqa: E402


def _image(shape, encoding, dtype=np.uint8, fill=None):
    from codebind_ros.conversions.image import array_to_image

    rng = np.random.default_rng(0)
    if fill is None:
        arr = rng.integers(0, 255, shape, dtype=np.uint8).astype(dtype) if dtype != np.float32 \
            else rng.uniform(0.3, 5.0, shape).astype(np.float32)
    else:
        arr = np.full(shape, fill, dtype=dtype)
    return array_to_image(arr, encoding)


def _cloud(n):
    from codebind_ros.conversions.pointcloud2 import xyz_to_cloud

    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.uniform(-5, 5, (n, 3)), rng.uniform(0, 1, (n, 3))], axis=1)
    return xyz_to_cloud(pts.astype(np.float32))


def _audio(seconds, rate, channels=1):
    from codebind_ros.conversions.audio import array_to_audio

    wave = np.random.default_rng(0).uniform(-0.5, 0.5, (channels, int(seconds * rate))).astype(np.float32)
    return array_to_audio(wave, rate, "F32LE")


def _awkward_rates(count):
    """Accepted rates (8..192 kHz) whose resampling filters to 16 kHz are largest."""
    from codebind_core.modalities import resample as rs

    sizes = []
    for r in range(8000, 192_001, 7):
        g = np.gcd(r, 16000)
        orig, new = r // g, 16000 // g
        elems = new * (2 * int(np.ceil(6 * orig / (min(orig, new) * 0.99))) + orig)
        if elems <= rs.MAX_KERNEL_ELEMENTS:
            sizes.append((elems, r))
    return [r for _, r in sorted(sizes)[-count:]]


# case -> (sensor, builder of the list of messages, options for the node)
CASES = {
    "camera_1x32768": ("camera", lambda: [_image((1, 32768, 3), "rgb8")]),
    "camera_512x32768": ("camera", lambda: [_image((512, 32768, 3), "rgb8")]),
    "camera_4096x4096": ("camera", lambda: [_image((4096, 4096, 3), "rgb8")]),
    "camera_4096x4096_bgra8": ("camera", lambda: [_image((4096, 4096, 4), "bgra8")]),
    "depth_4096x4096_32FC1": ("depth", lambda: [_image((4096, 4096), "32FC1", np.float32)]),
    "depth_4096x4096_16UC1": ("depth", lambda: [_image((4096, 4096), "16UC1", np.uint16, 1500)]),
    "thermal_8000x8000_mono8": ("thermal", lambda: [_image((8000, 8000), "mono8")]),
    "thermal_4096x4096_32FC1": ("thermal", lambda: [_image((4096, 4096), "32FC1", np.float32, 300.0)]),
    "thermal_4096x4096_mono16": ("thermal", lambda: [_image((4096, 4096), "mono16", np.uint16)]),
    "pointcloud_4M": ("pointcloud", lambda: [_cloud(4_000_000)]),
    "audio_60s_192kHz": ("audio", lambda: [_audio(60.0, 192_000)]),
    "audio_rate_changes": ("audio", lambda: [_audio(1.0, r) for r in _awkward_rates(24)]),
}


def run_case(name: str) -> dict:
    import torch

    import codebind_core as cb
    from codebind_ros.conversions import sensors

    torch.manual_seed(0)
    sensor_name, build = CASES[name]
    sensor = sensors.get(sensor_name)
    model = cb.create_model(cb.CodeBindConfig.preset(
        "tiny", targets=["depth", "thermal", "tactile", "pointcloud", "audio"])).eval()
    limits = sensors.Limits()
    options = {"resample": True} if sensor_name == "audio" else {}

    def handle(msg):
        try:
            sensors.check_limits(msg, limits)
            raw = sensor.convert(msg)
            opts = {**options, **sensor.options(msg, sensors.SensorContext())}
            with torch.no_grad():
                model.encode(sensor.core, model.preprocess(sensor.core, [raw], **opts))
            return "encoded"
        except ValueError as exc:
            return f"dropped: {exc}"[:120]

    warm = {"camera": lambda: _image((480, 640, 3), "rgb8"), "depth": lambda: _image((480, 640), "32FC1", np.float32),
            "thermal": lambda: _image((480, 640), "32FC1", np.float32, 300.0),
            "pointcloud": lambda: _cloud(300_000), "audio": lambda: _audio(2.0, 48_000)}[sensor_name]
    handle(warm())
    messages = build()  # as the subscription hands them over, deserialized
    message_mb = sum(len(m.data) for m in messages) / 2**20
    base = rss_mb()
    if not reset_peak_rss():
        raise SystemExit("cannot reset the peak RSS (/proc/self/clear_refs)")
    outcomes = [handle(m) for m in messages]
    peak = peak_rss_mb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": name, "message_mb": round(message_mb, 1), "baseline_mb": round(base, 1), "peak_mb": round(peak, 1),
            "extra_mb": round(peak - base, 1), "outcomes": sorted(set(outcomes))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--json", action="store_true", help="(internal) print one JSON line")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.case and args.json:
        print(json.dumps(run_case(args.case)))
        return 0
    print(f"# {cpu_model()}, {os.cpu_count()} CPUs, torch threads default")
    print(f"# command: .venv/bin/python benchmarks/memory_budget.py{' --case ' + args.case if args.case else ''}")
    print("| case | message(s) MB | RSS before MB | peak RSS MB | peak - before MB | outcome |")
    print("|---|---|---|---|---|---|")
    for name in ([args.case] if args.case else CASES):
        out = subprocess.run([sys.executable, __file__, "--case", name, "--json"], capture_output=True,
                             text=True, cwd=ROOT)
        if out.returncode != 0:
            print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1:]} | | | | |", flush=True)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['message_mb']} | {r['baseline_mb']} | {r['peak_mb']} | {r['extra_mb']} | "
              f"{'; '.join(r['outcomes'])} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
