"""Reading, checking and writing weights folders (the format is in weights/README.md).

    catalogue.py     the tensors a GPT-2 has: names, stored shapes, file names, counts
    manifest.py      manifest.json, validated completely before anything is read
    integrity.py     sizes, sha256 sums, NaN and infinity: is a file what the manifest says?
    checkpoint.py    open_checkpoint(folder) -> Checkpoint, which reads tensors and the tokenizer
    vocab_files.py   reading encoder.json + vocab.bpe (or vocab.json + merges.txt)
    writer.py        writing a folder so that a crash never leaves one that looks complete
    safe_json.py     the one JSON reader, for files nobody vouches for

This file imports nothing, so that tokenizer.py can use vocab_files without loading the rest.
"""
