"""The ROS nodes, one per file with its parameters (``*_params.py``), and what every node shares:
typed parameter declaration, start-up and shut-down, model loading, /diagnostics, the node kinds
the launch file and the graph runner start."""
