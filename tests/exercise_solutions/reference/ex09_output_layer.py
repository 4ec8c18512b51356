from potatogpt.model import lm_head as lm_head
