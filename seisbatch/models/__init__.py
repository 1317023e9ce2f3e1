"""Pretrained models shipped with seisbatch (see MODEL_CARD.md)."""
