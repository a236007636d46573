"""Meta-learning: auto-decoding with persistent latents. See chapter 07 (book/07_auto_decoding.md)."""
from .autodecode import AutoDecodeConfig, LatentTable, adapt, meta_train

__all__ = ["AutoDecodeConfig", "LatentTable", "meta_train", "adapt"]
