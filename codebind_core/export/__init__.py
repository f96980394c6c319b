"""Export and deployment runtime."""
from .runtime import BACKENDS, Embedder, TorchEmbedder, create_embedder, example_batch

__all__ = ["BACKENDS", "Embedder", "TorchEmbedder", "create_embedder", "example_batch"]
