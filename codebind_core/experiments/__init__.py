"""Orchestrators that train and evaluate end to end: the SynthBind benchmark of docs/results.md
(``runner.py``, its ``config.py``, the baselines and ablations in ``variants.py``, the paper's
claims in ``claims.py``, the report), the regime sweep and its robot metric, and ``codebind-eval``
on a pairs folder. Layers: experiments -> training -> evaluation (metrics) -> the model."""
