"""codebind_core: CodeBind, one decoupled, codebook-quantized embedding space for every sensor.

>>> import codebind_core as cb
>>> model = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["depth"]))
>>> emb = model.encode("depth", batch)          # Embedding(shared, specific, codes, ...)
>>> txt = model.encode_text(["a chair"])
>>> scores = model.similarity(emb, txt)
"""
from . import modalities
from .model_checkpoint import load, save
from .config import CodeBindConfig
from .model import CodeBind, create_model
from .types import Embedding

__all__ = ["CodeBind", "CodeBindConfig", "Embedding", "create_model", "load", "save", "modalities"]
__version__ = "0.1.0"
