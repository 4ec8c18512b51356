from potatogpt.tensor import Embed, Hidden, Seq, Tensor, zeros

seq, embed, hidden = Seq(5), Embed(768), Hidden(3072)
x: Tensor[Seq, Embed] = zeros(seq, embed)            # 5 tokens, 768 channels each
c_fc: Tensor[Embed, Hidden] = zeros(embed, hidden)   # the MLP's first weight
c_proj: Tensor[Hidden, Embed] = zeros(hidden, embed) # ... and its second

h = x @ c_fc          # fine: (Seq, Embed) @ (Embed, Hidden) -> (Seq, Hidden)
y = h @ c_proj        # fine: back to (Seq, Embed)
oops = x @ c_proj     # wrong: Embed is not Hidden
