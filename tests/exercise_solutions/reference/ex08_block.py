from potatogpt.model import transformer_block as transformer_block
