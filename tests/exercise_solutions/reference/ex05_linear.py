from potatogpt.model import linear as linear, ffn as ffn
