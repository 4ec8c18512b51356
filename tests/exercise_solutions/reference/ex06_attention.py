from potatogpt.model import attention_weights as attention_weights, attention as attention
