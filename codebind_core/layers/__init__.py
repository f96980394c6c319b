"""Shared neural-network building blocks."""
from .transformer import Attention, Block, Mlp, Transformer, DropPath

__all__ = ["Attention", "Block", "Mlp", "Transformer", "DropPath"]
