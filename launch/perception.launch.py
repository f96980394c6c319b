"""Start the codebind perception graph on a robot with ROS 2 installed.

    ros2 launch codebind_ros perception.launch.py model_path:=/path/to/checkpoint
    ros2 launch codebind_ros perception.launch.py use_sim:=false params_file:=/path/params.yaml

    ros2 launch codebind_ros perception.launch.py model_path:=/path/ckpt namespace:=robot1 \
        memory_db:=/data/robot1_memory.db log_level:=debug
    ros2 launch codebind_ros perception.launch.py use_sim:=false remappings_file:=/path/remap.yaml

One node per section of the params YAML (codebind_ros/nodes/node_kinds.py maps section names to node
kinds and executables); the sensor player only with use_sim:=true. model_path and backend,
when given, override the YAML for every node that runs the model; memory_db sets the memory
node's database (default: ~/.ros/codebind/memory_<model id>-<codebook fingerprint>.db, one per
model); namespace puts every node, topic and service under it (the params file's sections are
keyed /**/<node name> so that they reach the namespaced nodes; a bare key is refused with a
namespace); log_level applies to every node. Topics are the relative names of
codebind_ros/messaging/topics.py; remappings_file (YAML: `/**` or a node name -> {from: to}) points
them at a robot's topics, as Node(remappings=...) (an including launch file's SetRemap works too).
With Fast DDS every node gets config/fastdds_large_frames.xml (in FASTDDS_DEFAULT_PROFILES_FILE for
Fast DDS 3, FASTRTPS_DEFAULT_PROFILES_FILE for Jazzy's 2.14; unless one is already set): full-size
frames from another process under best effort.
"""
import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from codebind_ros.messaging.middleware import profile_environment, use_large_frames_profile
from codebind_ros.nodes.node_kinds import graph_nodes, load_remappings, remappings_for

PACKAGE = "codebind_ros"
TRUE = ("true", "1", "yes", "on")


def _nodes(context):
    params_file = LaunchConfiguration("params_file").perform(context)
    use_sim = LaunchConfiguration("use_sim").perform(context).strip().lower() in TRUE
    overrides = {key: LaunchConfiguration(key).perform(context) for key in ("model_path", "backend")}
    overrides = {key: value for key, value in overrides.items() if value}
    memory_db = LaunchConfiguration("memory_db").perform(context)
    namespace = LaunchConfiguration("namespace").perform(context).strip()
    log_level = LaunchConfiguration("log_level").perform(context).strip()
    remappings_file = LaunchConfiguration("remappings_file").perform(context).strip()
    with open(params_file) as stream:
        sections = yaml.safe_load(stream) or {}
    rules = {}
    if remappings_file:
        with open(remappings_file) as stream:
            rules = load_remappings(stream.read())
    # Fast DDS: the shipped 64 MB shared-memory profile, unless one is set (docs/ros.md, "Sensor QoS")
    profile = use_large_frames_profile(dict(os.environ))
    env = profile_environment(profile) if profile else {}
    actions = []
    for name, kind in graph_nodes(sections, use_sim, namespace):  # sections keyed /**/<name>
        parameters = [params_file]
        node_overrides = dict(overrides) if kind.uses_model else {}
        if kind.kind == "memory" and memory_db:
            node_overrides["db_path"] = memory_db
        if node_overrides:
            parameters.append(node_overrides)
        where = {"namespace": namespace} if namespace else {}
        actions.append(Node(package=PACKAGE, executable=kind.executable, name=name, **where,
                            parameters=parameters, remappings=remappings_for(rules, name),
                            ros_arguments=["--log-level", log_level],
                            output="screen", emulate_tty=True, additional_env=env))
    return actions


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory(PACKAGE), "config", "ros_params.yaml")
    arguments = (  # name, default, description
        ("params_file", default_params, "ROS 2 params YAML: one section per node"),
        ("use_sim", "true", "start the sensor player (a synthetic scene) too"),
        ("model_path", "", "checkpoint directory; overrides the YAML when set"),
        ("backend", "", "runtime backend (torch, onnxruntime, onnxruntime-int8, tensorrt, torch_tensorrt); "
                        "overrides the YAML"),
        ("memory_db", "", "memory node's SQLite database; '' = "
                          "~/.ros/codebind/memory_<model id>-<codebook fingerprint>.db"),
        ("namespace", "", "ROS namespace of every node, topic and service ('' = none)"),
        ("remappings_file", "", "YAML of topic remappings: '/**' or a node name -> {from: to} "
                                "('' = the names of codebind_ros/messaging/topics.py)"),
        ("log_level", "info", "log level of every node: debug, info, warn, error, fatal"),
    )
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default, description=text)
          for name, default, text in arguments),
        OpaqueFunction(function=_nodes),
    ])
