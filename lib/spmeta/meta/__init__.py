"""Meta-learning: auto-decoding with persistent latents. See chapter 07 (book/07_auto_decoding.md)."""
from .autodecode import AutoDecodeConfig, LatentTable, adapt, load_checkpoint, meta_train, save_checkpoint

__all__ = ["AutoDecodeConfig", "LatentTable", "meta_train", "adapt", "save_checkpoint", "load_checkpoint"]
