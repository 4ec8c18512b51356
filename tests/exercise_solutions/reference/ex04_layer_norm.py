from potatogpt.model import layer_norm as layer_norm
