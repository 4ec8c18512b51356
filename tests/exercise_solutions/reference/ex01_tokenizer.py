from potatogpt.tokenizer import bpe as bpe, bytes_to_unicode as bytes_to_unicode, merge as merge
