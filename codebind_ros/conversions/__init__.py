"""Message <-> numpy conversions (no cv_bridge or sensor_msgs_py needed), one module per message
family: ``camera_info``, ``image``, ``pointcloud2``, ``audio``, ``embedding_msg``, ``results``,
``markers``, ``transforms``, ``sensors``. Import the module you need: this package imports nothing
itself, so a light client (``codebind-query``) that needs one conversion loads neither torch nor
the core model (``camera_info`` needs ``codebind_core.geometry``)."""
