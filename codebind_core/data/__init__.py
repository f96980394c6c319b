"""Datasets of codebind_core.

- :mod:`codebind_core.data.synth`: SynthBind, the procedural multimodal benchmark (one 3-D object
  seen by every sensor; see docs/synthbind.md).
"""
