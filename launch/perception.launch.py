"""Start the codebind perception graph on a robot with ROS 2 installed.

    ros2 launch codebind_ros perception.launch.py model_path:=/path/to/checkpoint
    ros2 launch codebind_ros perception.launch.py use_sim:=false params_file:=/path/params.yaml

One node per section of the params YAML (codebind_ros/registry.py maps section names to node
kinds and executables); the sensor player only with use_sim:=true. model_path and backend,
when given, override the YAML for every node that runs the model.
"""
import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from codebind_ros.registry import graph_nodes

PACKAGE = "codebind_ros"
TRUE = ("true", "1", "yes", "on")


def _nodes(context):
    params_file = LaunchConfiguration("params_file").perform(context)
    use_sim = LaunchConfiguration("use_sim").perform(context).strip().lower() in TRUE
    overrides = {key: LaunchConfiguration(key).perform(context) for key in ("model_path", "backend")}
    overrides = {key: value for key, value in overrides.items() if value}
    with open(params_file) as stream:
        sections = yaml.safe_load(stream) or {}
    actions = []
    for name, kind in graph_nodes(sections, use_sim):
        parameters = [params_file]
        if kind.uses_model and overrides:
            parameters.append(overrides)
        actions.append(Node(package=PACKAGE, executable=kind.executable, name=name,
                            parameters=parameters, output="screen", emulate_tty=True))
    return actions


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory(PACKAGE), "config", "ros_params.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="ROS 2 params YAML: one section per node"),
        DeclareLaunchArgument("use_sim", default_value="true",
                              description="start the sensor player (a synthetic scene) too"),
        DeclareLaunchArgument("model_path", default_value="",
                              description="checkpoint directory; overrides the YAML when set"),
        DeclareLaunchArgument("backend", default_value="",
                              description="runtime backend (torch, onnx ...); overrides the YAML"),
        OpaqueFunction(function=_nodes),
    ])
