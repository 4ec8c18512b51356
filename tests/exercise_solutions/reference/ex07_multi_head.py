from potatogpt.model import mha as mha
