"""pip install of codebind_core and codebind_ros (the colcon build uses CMakeLists.txt)."""
from setuptools import find_packages, setup

setup(
    name="codebind",
    version="0.1.0",
    description="CodeBind: one decoupled, codebook-quantized embedding space for every robot sensor",
    packages=find_packages(include=["codebind_core", "codebind_core.*", "codebind_ros", "codebind_ros.*"]),
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "codebind-demo=codebind_core.demo:main",
            "codebind-encoder=codebind_ros.encoder_node:main",
            "codebind-graph=codebind_ros.graph:main",
            "codebind-localisation=codebind_ros.localisation_node:main",
            "codebind-memory=codebind_ros.memory_node:main",
            "codebind-sensor-player=codebind_ros.sensor_player:main",
            "codebind-query=codebind_ros.query_cli:main",
            "codebind-export=codebind_core.export.cli:main",
        ],
    },
)
