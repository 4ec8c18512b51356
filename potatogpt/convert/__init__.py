"""One-off conversion: downloading a checkpoint, reading safetensors, writing a weights folder.

Run once per model (`python export_weights.py`); loading and running a model needs none of it.
"""
