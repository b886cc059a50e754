"""Bundled model weights (``<name>.safetensors``) and their metadata (``<name>.json``)."""
