from potatogpt.model import embed as embed
