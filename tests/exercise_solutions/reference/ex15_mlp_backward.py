from potatogpt.backward import gelu_backward as gelu_backward
from exercises.backprop import ffn_backward as ffn_backward
