"""Shape mistakes that mypy catches before the code ever runs.

Run `mypy examples/shape_errors.py` (mypy.ini leaves this file out of the normal run, because
it is wrong on purpose).  Every line marked `# mypy: <code>` must be reported with that error
code, and no other line may be: tests/test_shape_errors.py checks exactly that.

Each tensor type is Tensor[Rows, Cols], where Rows and Cols are branded sizes: NewTypes over
int that name what a size *means* (tokens, embedding channels, MLP channels, ...).
"""

from potatogpt.tensor import (ONE, Embed, Hidden, HeadDim, One, Qkv, Seq, Tensor, Weight, weight_from_rows,
                              weight_from_tensor, zeros)

seq = Seq(5)  # five tokens
embed = Embed(8)  # the residual stream is 8 wide
hidden = Hidden(32)  # the MLP is 4 * 8 wide

x: Tensor[Seq, Embed] = zeros(seq, embed)  # activations: one row per token
c_fc: Tensor[Embed, Hidden] = zeros(embed, hidden)  # MLP weight, expands Embed -> Hidden
c_proj: Tensor[Hidden, Embed] = zeros(hidden, embed)  # MLP weight, projects back
bias: Tensor[One, Embed] = zeros(ONE, embed)
c_attn: Weight[Embed, Qkv] = weight_from_rows([[0.0] * 24] * 8, embed, Qkv(24))  # a layer's weight


def mlp(x: Tensor[Seq, Embed]) -> Tensor[Seq, Embed]:
    h = x @ c_fc  # (Seq, Embed) @ (Embed, Hidden) -> (Seq, Hidden)
    return h @ c_proj  # (Seq, Hidden) @ (Hidden, Embed) -> (Seq, Embed)


# Correct lines: mypy must stay quiet about these.
h: Tensor[Seq, Hidden] = x @ c_fc
y: Tensor[Seq, Embed] = mlp(x) + x + bias + 1.0
scores: Tensor[Seq, Seq] = x @ x.T
qkv: Tensor[Seq, Qkv] = x @ c_attn

# 1. Inner dimensions disagree: (Seq, Embed) @ (Hidden, Embed) -- Embed is not Hidden.
bad_product = x @ c_proj  # mypy: operator

# 2. Operands swapped: (Embed, Hidden) @ (Seq, Embed) -- Hidden is not Seq.
swapped = c_fc @ x  # mypy: operator

# 3. Adding tensors of different shapes: (Seq, Embed) + (Seq, Hidden).
bad_sum = x + h  # mypy: operator

# 4. Passing a (Seq, Hidden) activation where a (Seq, Embed) one is expected.
bad_call = mlp(h)  # mypy: arg-type

# 5. Mixing two brands of the same int: an Embed size where a HeadDim size belongs.
head_dim: HeadDim = embed  # mypy: assignment

# 6. Declaring the wrong shape for a result.  (The product is bound first: written in one
#    line, mypy would read the declared type into the `@` and report the operands instead.)
expanded = x @ c_fc
wrong_result: Tensor[Seq, Embed] = expanded  # mypy: assignment


# 7. A function that returns the MLP's inside instead of its output.
def mlp_forgot_projection(x: Tensor[Seq, Embed]) -> Tensor[Seq, Embed]:
    inside = x @ c_fc
    return inside  # mypy: return-value


# 8. A layer's weight is typed like a tensor: c_attn reads Embed channels, not Hidden ones.
bad_linear = h @ c_attn  # mypy: operator


# --- The backward pass (potatogpt/backward.py) ----------------------------------------------------
# For y = x @ W the chain rule gives dx = dy @ W^T and dW = x^T @ dy.  dy has y's shape and each
# gradient has the shape of what it is the gradient of, so the types check the formulas too.
c_fc_weight: Weight[Embed, Hidden] = weight_from_rows([[0.0] * 32] * 8, embed, hidden)
dy: Tensor[Seq, Hidden] = zeros(seq, hidden)  # d loss / d (x @ c_fc_weight)

# Correct lines: mypy must stay quiet about these.
dx: Tensor[Seq, Embed] = dy @ c_fc_weight.T
dw: Weight[Embed, Hidden] = weight_from_tensor(x.T @ dy)
db: Tensor[One, Hidden] = dy.sum_rows()
through_gelu: Tensor[Seq, Hidden] = dy.hadamard(h)  # times GELU's slope at the (Seq, Hidden) input


# 9. dW the wrong way round: dy^T @ x is (Hidden, Embed), but c_fc's weight is (Embed, Hidden).
def c_fc_weight_gradient(x: Tensor[Seq, Embed], dy: Tensor[Seq, Hidden]) -> Weight[Embed, Hidden]:
    dw = weight_from_tensor(dy.T @ x)
    return dw  # mypy: return-value


# 10. dx the wrong way round: dy @ W needs W to read Hidden channels; W^T does.
dx_forgot_transpose = dy @ c_fc_weight  # mypy: operator

# 11. dW without the transpose: x @ dy pairs Embed columns with Seq rows.
dw_forgot_transpose = x @ dy  # mypy: operator

# 12. A bias is added to every token's row, so its gradient sums dy over the tokens.
db_not_summed: Tensor[One, Hidden] = dy  # mypy: assignment

# 13. Through GELU, dy is multiplied by the slope at GELU's own (Seq, Hidden) input, not at x.
wrong_slope = dy.hadamard(x)  # mypy: arg-type
