"""Localisation accuracy on the sensor player's scene, measured through the real nodes.

The sensor player publishes the scene, the localisation node answers; for every object we send
two text queries (its SynthBind class prompt, "a photo of a sphere.", and the same naming its
colour, "a photo of a red sphere.") and, through the audio encoder node, its impact sound; the
top result is matched to the nearest true object (3-D centre, or box when it has no 3-D point).
Used by ``scripts/eval_localisation.py`` (the table in docs/ros.md) and by the localisation tests.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

TEXT, AUDIO = "text", "audio"
COLOUR = "text+colour"  # outcome kind of the prompts that name the colour too


@dataclass
class Outcome:
    """One query's top result against the truth."""

    kind: str                  # "text", "text+colour" or "audio"
    target: str                # object name, e.g. "sphere_0"
    category: str
    query: str                 # the prompt, or "impact sound"
    answered: bool             # a LocalizationArray came back in time
    found: bool = False        # the top result is the target object
    error_m: Optional[float] = None  # 3-D distance of the top result to the target's centre
    score: float = float("nan")
    matched: str = ""          # the object the top result is nearest to


def _nearest(result, objects) -> Dict:
    if result.has_position:
        p = np.array([result.position.x, result.position.y, result.position.z])
        return min(objects, key=lambda o: np.linalg.norm(p - np.asarray(o["centre_camera"])))
    u = result.box.x_offset + result.box.width / 2
    v = result.box.y_offset + result.box.height / 2
    centre = lambda o: np.array([(o["box"][0] + o["box"][2]) / 2, (o["box"][1] + o["box"][3]) / 2])  # noqa: E731
    return min((o for o in objects if o["box"]), key=lambda o: np.linalg.norm(centre(o) - [u, v]))


def _outcome(kind, obj, query, array, objects) -> Outcome:
    out = Outcome(kind, obj["name"], obj["category"], query, array is not None)
    if array is None or not array.results:
        return out
    top = array.results[0]
    near = _nearest(top, objects)
    out.found, out.matched, out.score = near["name"] == obj["name"], near["name"], float(top.score)
    if top.has_position:
        p = np.array([top.position.x, top.position.y, top.position.z])
        out.error_m = float(np.linalg.norm(p - np.asarray(obj["centre_camera"])))
    return out


def evaluate_scene(model, context, namespace: str = "/codebind_eval", audio: bool = True,
                   timeout: float = 60.0, player_params: Optional[Dict] = None,
                   sounds_per_object: int = 1) -> List[Outcome]:
    """Run player + (audio encoder) + localisation nodes in ``context`` and query every object
    (by its prompt, its colour prompt and ``sounds_per_object`` different strikes of it)."""
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from std_msgs.msg import Header, String

    from codebind_ros.conversions.audio import array_to_audio
    from codebind_ros.messaging.graph_executor import spun_executor, stop_all
    from codebind_ros.nodes.encoder_node import EncoderNode
    from codebind_ros.nodes.localisation_node import LocalisationNode
    from codebind_ros.nodes.node_kinds import NODE_KINDS
    from codebind_ros.msg import AudioData, LocalizationArray
    from codebind_ros.messaging.qos import latched_qos, results_qos, sensor_qos
    from codebind_ros.conversions.results import stamp_to_ns
    from codebind_ros.nodes.sensor_player import SensorPlayerNode
    from codebind_ros.messaging.topics import LOCALISATIONS, SENSOR_TOPICS, TEXT_QUERY

    params = {"camera_rate": 2.0, "thermal_rate": 0.0, "pointcloud_rate": 0.0, "audio_rate": 0.0,
              "tactile_rate": 0.0, "noise_frames": max(1, sounds_per_object), **(player_params or {})}
    kw = dict(namespace=namespace, context=context)
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    nodes = [SensorPlayerNode(node_name="eval_player", parameter_overrides=overrides, **kw),
             LocalisationNode(model=model, node_name="eval_localisation", parameter_overrides=[
                 Parameter("top_k", value=3), Parameter("publish_proposals", value=False),
                 Parameter("query_modalities", value="audio")], **kw)]
    if audio:
        nodes.append(EncoderNode(model=model, node_name="eval_audio_encoder", parameter_overrides=[
            Parameter("modality", value="audio"), Parameter("warmup", value=False)], **kw))
    helper = Node("eval_helper", **kw)
    arrays: List = []
    lock = threading.Lock()

    def on_array(msg):
        with lock:
            arrays.append(msg)

    helper.create_subscription(LocalizationArray, LOCALISATIONS, on_array, results_qos(50))
    text_pub = helper.create_publisher(String, TEXT_QUERY, latched_qos())
    audio_pub = helper.create_publisher(AudioData, SENSOR_TOPICS["audio"], sensor_qos())
    # each node on an executor of its own, as its executable spins it (NodeKind.multi_threaded): on
    # one shared executor the player's timers starved the localisation node (docs/benchmarks.md)
    kinds = ("sensor_player", "localisation", "encoder")  # of ``nodes``, in order
    spun = [(n, NODE_KINDS[k].multi_threaded) for n, k in zip(nodes, kinds)] + [(helper, False)]
    executors = []
    for n, multi in spun:
        executors.append(spun_executor(multi, context))
        executors[-1].add_node(n)
        executors[-1].start(name=f"codebind-scene-eval-{n.get_name()}")

    def wait_for(match) -> Optional[object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with lock:
                hit = next((a for a in arrays if match(a)), None)
            if hit is not None:
                return hit
            time.sleep(0.05)
        return None

    try:
        player = nodes[0]
        truth = player.sim.ground_truth()
        objects = truth["objects"]
        outcomes = []
        for kind, prompt_of in ((TEXT, lambda o: o["prompt"]), (COLOUR, colour_prompt)):
            for obj in objects:
                prompt = prompt_of(obj)
                text_pub.publish(String(data=prompt))
                array = wait_for(lambda a, p=prompt: a.query_modality == TEXT and a.query_text == p)
                outcomes.append(_outcome(kind, obj, prompt, array, objects))
        text_pub.publish(String(data=""))
        if audio:
            sim = player.sim
            for obj, strike in ((o, k) for k in range(sounds_per_object) for o in objects):
                header = Header(stamp=helper.get_clock().now().to_msg(), frame_id="microphone")
                stamp = stamp_to_ns(header.stamp)
                sound = sim.sound(obj["index"], strike)
                audio_pub.publish(array_to_audio(sound, sim.cfg.audio_sample_rate, "F32LE", header))
                array = wait_for(lambda a, s=stamp: a.query_modality == AUDIO and stamp_to_ns(a.query_stamp) == s)
                outcomes.append(_outcome(AUDIO, obj, "impact sound", array, objects))
        return outcomes
    finally:
        stop_all(executors, timeout_sec=2.0)
        for n in (*nodes, helper):
            n.destroy_node()


def colour_prompt(obj: Dict) -> str:
    """'a photo of a sphere.' -> 'a photo of a red sphere.'"""
    from codebind_core.data.synth import class_name
    from codebind_core.data.synth.captions import with_article

    return f"a photo of {with_article(obj['colour'] + ' ' + class_name(obj['category']))}."


def _cell(o: Optional[Outcome]) -> str:
    if o is None:
        return "-"
    if not o.answered:
        return "no answer"
    if not o.found:
        return f"no ({o.matched})"
    return "yes" if o.error_m is None else f"yes, {100 * o.error_m:.1f} cm"


def markdown_table(outcomes: List[Outcome]) -> str:
    """The per-object table of docs/ros.md: top-1 found (and its 3-D error) per query kind."""
    by = {(o.kind, o.target): o for o in outcomes}
    lines = ["| object | \"a photo of a <category>.\" | \"a photo of a <colour> <category>.\" | impact sound |",
             "|---|---|---|---|"]
    for o in (o for o in outcomes if o.kind == TEXT):
        lines.append(f"| {o.target} | {_cell(o)} | {_cell(by.get((COLOUR, o.target)))} | "
                     f"{_cell(by.get((AUDIO, o.target)))} |")
    return "\n".join(lines)


def summary(outcomes: List[Outcome]) -> Dict[str, float]:
    """Per query kind: found (top-1), found within 5 cm, total; plus the median 3-D error of
    every found result."""
    out: Dict[str, float] = {}
    for kind in (TEXT, COLOUR, AUDIO):
        these = [o for o in outcomes if o.kind == kind]
        out[f"{kind}_found"] = sum(o.found for o in these)
        out[f"{kind}_within_5cm"] = sum(o.found and o.error_m is not None and o.error_m <= 0.05 for o in these)
        out[f"{kind}_total"] = len(these)
    errors = [100 * o.error_m for o in outcomes if o.found and o.error_m is not None]
    out["median_error_cm"] = float(np.median(errors)) if errors else float("nan")
    return out


def to_json(outcomes: List[Outcome]) -> str:
    return json.dumps([o.__dict__ for o in outcomes], indent=2)
