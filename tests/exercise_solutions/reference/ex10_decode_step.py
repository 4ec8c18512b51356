from potatogpt.model import gpt2 as gpt2
