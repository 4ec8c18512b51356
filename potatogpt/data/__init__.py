"""Data that ships with potatogpt: GPT-2's vocabulary (encoder.json, vocab.bpe, their licence)
and unicode_classes.py, the Unicode tables the pre-tokenizer's pattern is built from."""
