"""The start-up every model-running node shares: parameters declared, model loaded, model id derived."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Union

from rclpy.node import Node

from codebind_ros.nodes.model_loading import load_model
from codebind_ros.nodes.params import declare


class ModelNode(Node):
    """A node running a CodeBind model.

    Args:
        node_name: ROS node name.
        params_cls: the node's parameters dataclass (with ``model_path``, ``model_id`` and ``device``),
            declared as :func:`codebind_ros.nodes.params.declare` does; the values in ``self.params``.
            A callable instead is given the node first and returns the class (defaults that depend
            on how the node was started, e.g. the model's own thresholds).
        model: an already loaded ``codebind_core`` model; when None, ``model_path`` is loaded.
        **node_kwargs: forwarded to :class:`rclpy.node.Node` (context, cli_args, parameter_overrides ...).

    ``self.model_id`` is the ``model_id`` parameter, else the checkpoint folder's name, else the
    model config's name.
    """

    def __init__(self, node_name: str, params_cls: Union[type, Callable[[Node], type]], model=None,
                 **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        if not isinstance(params_cls, type):
            params_cls = params_cls(self)
        self.params = p = declare(self, params_cls)
        self.model = model if model is not None else load_model(p.model_path, p.device)
        self.model_id = p.model_id or (Path(p.model_path).name if p.model_path else self.model.config.name)
