from potatogpt.model import gelu as gelu
