"""Matrices of Python floats whose shapes mypy can check.

Three types, each generic over two *dimension brands* (below):

* `Tensor[Rows, Cols]`: activations, a list of rows of floats.  `Tensor[Seq, Embed]` has one row
  per token and one column per channel of the residual stream.
* `Weight[In, Out]`: the W of `x @ W` (a layer's weights, or the keys and values in the KV cache),
  kept column by column because that is the order the product reads it in.
* `Embedding[Rows, Cols]`: a lookup table (`lookup(ids)` picks rows): token and position
  embeddings.

The brands are `NewType`s over `int` that name the role a size plays.  The type parameters are
invariant, so mypy refuses a `Tensor[Seq, Hidden]` where a `Tensor[Seq, Embed]` is wanted, and
refuses `a @ b` unless `a`'s columns and `b`'s rows carry the same brand.  mypy cannot do
arithmetic, so `Hidden` (= 4 * Embed) is a name we promise to use consistently, not a number it
checks; every operation therefore also checks the real sizes when it runs and raises `ShapeError`.

Read `dot` and `matmul` first: every multiply-add of GPT-2 is one step of `dot`.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Callable, Sequence
from operator import mul
from typing import Generic, NewType, Protocol, TypeVar, overload

# --- Dimension brands -------------------------------------------------------------------------
# One brand per role a size plays in GPT-2.  `Seq(len(ids))` turns a plain int into a branded
# size; every tensor built from it carries the brand in its type.
Seq = NewType("Seq", int)  # tokens being processed now (the prompt, or 1 while generating)
Ctx = NewType("Ctx", int)  # positions the attention looks back over (everything in the KV cache)
Embed = NewType("Embed", int)  # n_embd: the width of the residual stream
Hidden = NewType("Hidden", int)  # 4 * n_embd: the width inside the MLP
Qkv = NewType("Qkv", int)  # 3 * n_embd: queries, keys and values side by side
HeadDim = NewType("HeadDim", int)  # n_embd / n_head: the width of one attention head
Vocab = NewType("Vocab", int)  # vocab_size: one logit per token in the vocabulary
One = NewType("One", int)  # a single row that broadcasts over many (biases, layer-norm gains)

ONE = One(1)

R = TypeVar("R", bound=int)
C = TypeVar("C", bound=int)
K = TypeVar("K", bound=int)
I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)


class ShapeError(ValueError):
    """Raised when the run-time sizes of tensors don't fit the operation."""


# --- The arithmetic -----------------------------------------------------------------------------
if sys.version_info < (3, 12):

    def dot(x: Sequence[float], y: Sequence[float]) -> float:
        """x[0]*y[0] + x[1]*y[1] + ... + x[n-1]*y[n-1]: the sum of products.

        Every entry of every matrix product below is one of these.  Written out it is

            total = 0.0
            for a, b in zip(x, y):
                total += a * b

        and `sum(map(mul, x, y))` is exactly that loop, run inside C.
        """
        total: float = sum(map(mul, x, y))
        return total

else:

    def dot(x: Sequence[float], y: Sequence[float]) -> float:
        """x[0]*y[0] + x[1]*y[1] + ... + x[n-1]*y[n-1]: the sum of products (see above).

        Python 3.12 has this sum as one C function, which makes no float object per product
        (and rounds once per step): about 4x quicker, which attention over a long context feels.
        """
        return math.sumprod(x, y)


def matmul(rows: Sequence[Sequence[float]], columns: Sequence[Sequence[float]]) -> list[list[float]]:
    """The matrix product A @ B, entry by entry: out[i][j] = dot(row i of A, column j of B).

    B is passed as its columns, the vectors each row of A is dotted with.
    """
    return [[dot(row, column) for column in columns] for row in rows]


def transpose(rows: Sequence[Sequence[float]], n_cols: int) -> list[list[float]]:
    """Rows become columns (n_cols: how many come out, needed when there are no rows)."""
    if not rows:
        return [[] for _ in range(n_cols)]
    return [list(column) for column in zip(*rows)]


# --- Activations ------------------------------------------------------------------------------
class Tensor(Generic[R, C]):
    """A matrix of n_rows x n_cols floats, kept as a list of rows.

    Build tensors with the module-level constructors (`from_rows`, `zeros`, `take_rows`, ...),
    which take branded sizes so the static type follows from the arguments.  Every operation
    returns a new tensor: treat `rows` as read-only.
    """

    __slots__ = ("_n_rows", "_n_cols", "rows")

    def __init__(self, n_rows: R, n_cols: C, rows: list[list[float]]) -> None:
        self._n_rows = n_rows
        self._n_cols = n_cols
        self.rows = rows

    # --- Shape and data -----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[R, C]:
        return (self._n_rows, self._n_cols)

    @property
    def n_rows(self) -> R:
        return self._n_rows

    @property
    def n_cols(self) -> C:
        return self._n_cols

    def row(self, index: int) -> list[float]:
        """One row, as a new list."""
        if not -self._n_rows <= index < self._n_rows:
            raise ShapeError(f"row: index {index} is out of range for shape {self.shape}")
        return list(self.rows[index])

    def tolist(self) -> list[list[float]]:
        """A copy of the data as nested lists."""
        return [list(r) for r in self.rows]

    def __repr__(self) -> str:
        return f"Tensor(shape={self.shape})"

    def _repr_html_(self) -> str:
        """Jupyter's picture of the tensor: its shape and a heat map of (a corner of) its numbers."""
        from .pages.views import fragment_of, tensor_section  # (pages imports nothing of potatogpt: no cycle)

        return fragment_of(tensor_section(self.rows, self.shape))

    # --- Matrix product and transpose ---------------------------------------------------------
    @property
    def T(self) -> Tensor[C, R]:
        """The transpose: row i of the result is column i of this tensor."""
        return Tensor(self._n_cols, self._n_rows, transpose(self.rows, self._n_cols))

    @overload
    def __matmul__(self, other: Tensor[C, K]) -> Tensor[R, K]: ...
    @overload
    def __matmul__(self, other: Weight[C, K]) -> Tensor[R, K]: ...
    def __matmul__(self, other: Tensor[C, K] | Weight[C, K]) -> Tensor[R, K]:
        """Matrix product: (R x C) @ (C x K) -> (R x K), computed by `matmul` above."""
        n_in, n_out = other.shape
        if self._n_cols != n_in:
            raise ShapeError(
                f"matmul: {self.shape} @ {other.shape}: the left operand has {self._n_cols} "
                f"columns but the right operand has {n_in} rows"
            )
        if isinstance(other, Tensor):
            return Tensor(self._n_rows, n_out, matmul(self.rows, transpose(other.rows, n_out)))
        if other.fast is not None:  # the same product in a faster layout: see Weight
            return Tensor(self._n_rows, n_out, other.fast.matmul(self.rows))
        return Tensor(self._n_rows, n_out, matmul(self.rows, other.columns))

    # --- Elementwise arithmetic ---------------------------------------------------------------
    @overload
    def __add__(self, other: Tensor[R, C]) -> Tensor[R, C]: ...
    @overload
    def __add__(self, other: Tensor[One, C]) -> Tensor[R, C]: ...
    @overload
    def __add__(self, other: float) -> Tensor[R, C]: ...
    def __add__(self, other: Tensor[R, C] | Tensor[One, C] | float) -> Tensor[R, C]:
        """Add a tensor of the same shape, a single row to every row, or a number."""
        if isinstance(other, Tensor):
            if other._n_cols != self._n_cols or other._n_rows not in (1, self._n_rows):
                raise ShapeError(
                    f"add: cannot add a tensor of shape {other.shape} to one of shape {self.shape}"
                )
            if other._n_rows == 1 and self._n_rows != 1:
                (bias,) = other.rows
                data = [[a + b for a, b in zip(row, bias)] for row in self.rows]
            else:
                data = [[a + b for a, b in zip(r1, r2)] for r1, r2 in zip(self.rows, other.rows)]
        else:
            data = [[a + other for a in row] for row in self.rows]
        return Tensor(self._n_rows, self._n_cols, data)

    def __mul__(self, scale: float) -> Tensor[R, C]:
        """Multiply every element by a number."""
        return Tensor(self._n_rows, self._n_cols, [[a * scale for a in row] for row in self.rows])

    __rmul__ = __mul__

    def hadamard(self, other: Tensor[R, C]) -> Tensor[R, C]:
        """The element-by-element (Hadamard) product with a tensor of the same shape: the backward
        pass's "times the local slope", e.g. through GELU.  (Not `*`, which scales by a number.)"""
        if other.shape != self.shape:
            raise ShapeError(f"hadamard: cannot multiply a tensor of shape {self.shape} by one of shape {other.shape}")
        data = [[a * b for a, b in zip(r1, r2)] for r1, r2 in zip(self.rows, other.rows)]
        return Tensor(self._n_rows, self._n_cols, data)

    def sum_rows(self) -> Tensor[One, C]:
        """The sum of all rows, as one row: how a bias, added to every row, gets its gradient."""
        totals = [0.0] * self._n_cols
        for row in self.rows:
            totals = [t + v for t, v in zip(totals, row)]
        return Tensor(ONE, self._n_cols, [totals])

    def map(self, f: Callable[[float], float]) -> Tensor[R, C]:
        """Apply f to every element (for example GELU)."""
        return Tensor(self._n_rows, self._n_cols, [list(map(f, row)) for row in self.rows])

    # --- Row-wise normalisations --------------------------------------------------------------
    def softmax_rows(self, causal_offset: int | None = None) -> Tensor[R, C]:
        """Softmax along each row, so every row sums to 1.

        With `causal_offset=p`, row i may only look at columns 0 .. p + i; the rest get
        probability 0 (as if their score were minus infinity).  Row i is then the token at
        position p + i, attending over every position up to and including itself.
        """
        out: list[list[float]] = []
        for i, row in enumerate(self.rows):
            visible = row if causal_offset is None else row[: causal_offset + i + 1]
            if not visible:
                raise ShapeError(f"softmax_rows: row {i} has no visible column (offset {causal_offset})")
            # Subtracting the max changes nothing mathematically but keeps exp() from overflowing.
            top = max(visible)
            exps = [math.exp(v - top) for v in visible]
            total = sum(exps)
            probs = [e / total for e in exps]
            probs.extend([0.0] * (self._n_cols - len(probs)))
            out.append(probs)
        return Tensor(self._n_rows, self._n_cols, out)

    def layer_norm(self, gain: Tensor[One, C], bias: Tensor[One, C], eps: float) -> Tensor[R, C]:
        """Normalise each row to mean 0 and variance 1, then scale by gain and shift by bias."""
        for name, param in (("gain", gain), ("bias", bias)):
            if param.shape != (1, self._n_cols):
                raise ShapeError(f"layer_norm: {name} has shape {param.shape}, expected (1, {self._n_cols})")
        (g,) = gain.rows
        (b,) = bias.rows
        n = self._n_cols
        out: list[list[float]] = []
        for row in self.rows:
            mean = sum(row) / n
            centred = [v - mean for v in row]
            variance = sum(c * c for c in centred) / n
            inv_std = 1.0 / math.sqrt(variance + eps)
            out.append([c * inv_std * gi + bi for c, gi, bi in zip(centred, g, b)])
        return Tensor(self._n_rows, self._n_cols, out)

    # --- Cutting and joining columns (attention heads) ------------------------------------------
    def split_columns(self, parts: int, width: K) -> list[Tensor[R, K]]:
        """Cut the columns into `parts` equal blocks of `width` (for example one per head)."""
        if parts * width != self._n_cols:
            raise ShapeError(
                f"split_columns: shape {self.shape} does not split into {parts} blocks of {width} columns"
            )
        return [
            Tensor(self._n_rows, width, [row[p * width : (p + 1) * width] for row in self.rows])
            for p in range(parts)
        ]


# --- Weights ----------------------------------------------------------------------------------
class FastMatrix(Protocol):
    """A Weight's numbers as one of potatogpt/fast/'s kernels holds them (see `Weight`)."""

    def matmul(self, rows: Sequence[Sequence[float]]) -> list[list[float]]: ...
    def column(self, j: int) -> list[float]: ...


class Weight(Generic[I, O]):
    """W in `x @ W`: n_in x n_out numbers that are only ever multiplied by, kept as columns.

    Entry j of `x @ W` is dot(x, column j of W), so W is kept as its n_out columns, in the order
    the product reads them, and `@` never transposes it.  (A weights file stores each matrix
    the same way, see weights/README.md: a column is a slice of the file.)

    `x @ w` is `matmul(x.rows, w.columns)`.  A Weight can instead hold its numbers in one of
    the faster layouts built by potatogpt/fast/ (float tuples for the `math.dist` identity,
    float32 arrays, fixed-point integers packed side by side, or shards in worker processes);
    `@` then calls `fast.matmul`, which computes the same product (exactly, or within float32
    accuracy for packed weights: tests/test_fast_kernels.py and tests/test_fast_packed.py check
    each against `matmul`).  Weights loaded with `storage="reference"` have no fast layout:
    every product is `matmul`.

    The KV cache holds Weights too (see model.py): a layer's keys and values are the right
    operand of `@` in attention, and grow by one column or one row per token.
    """

    __slots__ = ("_n_in", "_n_out", "_columns", "fast")

    def __init__(self, n_in: I, n_out: O, columns: list[list[float]] | None = None,
                 fast: FastMatrix | None = None) -> None:
        if (columns is None) == (fast is None):
            raise ValueError("a Weight holds either its columns or a fast layout")
        if columns is not None and (len(columns) != n_out or any(len(c) != n_in for c in columns)):
            raise ShapeError(f"Weight: data is not {n_out} columns of {n_in} values")
        self._n_in = n_in
        self._n_out = n_out
        self._columns = columns
        self.fast = fast

    @property
    def shape(self) -> tuple[I, O]:
        return (self._n_in, self._n_out)

    @property
    def n_in(self) -> I:
        return self._n_in

    @property
    def n_out(self) -> O:
        return self._n_out

    @property
    def columns(self) -> list[list[float]]:
        """Column j: the n_in weights that make output j (read out of a fast layout if need be)."""
        if self._columns is not None:
            return self._columns
        return [self.column(j) for j in range(self._n_out)]

    def column(self, j: int) -> list[float]:
        """One column, as a new list."""
        if not 0 <= j < self._n_out:
            raise ShapeError(f"column: index {j} is out of range for shape {self.shape}")
        if self._columns is not None:
            return list(self._columns[j])
        assert self.fast is not None  # (one of the two is always set, see __init__)
        return self.fast.column(j)

    def __repr__(self) -> str:
        return f"Weight(shape={self.shape})"

    @property
    def T(self) -> Weight[O, I]:
        """The transpose, as a new Weight: its columns are this weight's rows.  The backward
        pass multiplies by it (dx = dy @ W^T, see backward.py)."""
        return Weight(self._n_out, self._n_in, columns=transpose(self.columns, self._n_in))

    # --- Growing, for the KV cache ------------------------------------------------------------
    def append_column(self, values: Sequence[float]) -> None:
        """One more output (a new position's key, in K^T).  The brand of n_out names a role, not
        a number, so it stays the same while the count grows."""
        self._growable("append_column", len(values), self._n_in).append(list(values))
        self._n_out = type(self._n_out)(self._n_out + 1)

    def append_row(self, values: Sequence[float]) -> None:
        """One more input (a new position's value, in V): every column grows by one number."""
        for column, v in zip(self._growable("append_row", len(values), self._n_out), values):
            column.append(v)
        self._n_in = type(self._n_in)(self._n_in + 1)

    def _growable(self, op: str, got: int, want: int) -> list[list[float]]:
        if self._columns is None:
            raise ShapeError(f"{op}: a weight held in a fast layout cannot grow")
        if got != want:
            raise ShapeError(f"{op}: {got} values for a weight of shape {self.shape}")
        return self._columns


# --- Embedding tables -------------------------------------------------------------------------
class Embedding(Generic[R, C]):
    """A table of n_rows vectors of n_cols numbers; `lookup(ids)` picks rows by index.

    The table is kept as the Weight[C, R] whose columns are its rows, because GPT-2 uses its
    token table a second time, transposed, as the output layer (weight tying): `table.T` is
    that Weight itself, not a copy.
    """

    __slots__ = ("T",)

    def __init__(self, transposed: Weight[C, R]) -> None:
        self.T = transposed

    @property
    def shape(self) -> tuple[R, C]:
        n_cols, n_rows = self.T.shape
        return (n_rows, n_cols)

    def lookup(self, ids: Sequence[int], n_rows: K) -> Tensor[K, C]:
        """Row ids[i] of the table as row i of the result: an embedding lookup."""
        if len(ids) != n_rows:
            raise ShapeError(f"lookup: {len(ids)} indices for {n_rows} rows")
        for i in ids:
            if not 0 <= i < self.T.n_out:
                raise ShapeError(f"lookup: index {i} is out of range for a table of shape {self.shape}")
        return Tensor(n_rows, self.T.n_in, [self.T.column(i) for i in ids])

    def __repr__(self) -> str:
        return f"Embedding(shape={self.shape})"


# --- Constructors -----------------------------------------------------------------------------
def from_rows(rows: Sequence[Sequence[float]], n_rows: R, n_cols: C) -> Tensor[R, C]:
    """A tensor from row data, checked against the branded sizes."""
    if len(rows) != n_rows or any(len(r) != n_cols for r in rows):
        raise ShapeError(f"from_rows: data is not {n_rows} rows of {n_cols} values")
    return Tensor(n_rows, n_cols, [[float(v) for v in r] for r in rows])


def from_columns(columns: Sequence[Sequence[float]], n_rows: R, n_cols: C) -> Tensor[R, C]:
    """A tensor from column data."""
    if len(columns) != n_cols or any(len(c) != n_rows for c in columns):
        raise ShapeError(f"from_columns: data is not {n_cols} columns of {n_rows} values")
    return Tensor(n_rows, n_cols, transpose([[float(v) for v in c] for c in columns], n_cols))


def from_flat(values: Sequence[float], n_rows: R, n_cols: C) -> Tensor[R, C]:
    """A tensor from one flat run of numbers, row after row (how a weights file stores it)."""
    if len(values) != n_rows * n_cols:
        raise ShapeError(f"from_flat: {len(values)} values cannot fill shape ({n_rows}, {n_cols})")
    flat = values.tolist() if isinstance(values, array) else list(values)
    return Tensor(n_rows, n_cols, [flat[i : i + n_cols] for i in range(0, len(flat), n_cols)])


def zeros(n_rows: R, n_cols: C) -> Tensor[R, C]:
    """A tensor of zeros."""
    return Tensor(n_rows, n_cols, [[0.0] * n_cols for _ in range(n_rows)])


def weight_from_rows(rows: Sequence[Sequence[float]], n_in: I, n_out: O) -> Weight[I, O]:
    """W from the n_in rows of n_out numbers a textbook writes it as."""
    if len(rows) != n_in or any(len(r) != n_out for r in rows):
        raise ShapeError(f"weight_from_rows: data is not {n_in} rows of {n_out} values")
    return Weight(n_in, n_out, columns=transpose([[float(v) for v in r] for r in rows], n_out))


def weight_from_flat(values: Sequence[float], n_in: I, n_out: O) -> Weight[I, O]:
    """W from a weights file's flat run of numbers, stored [out, in]: column after column."""
    if len(values) != n_in * n_out:
        raise ShapeError(f"weight_from_flat: {len(values)} values cannot fill shape ({n_in}, {n_out})")
    flat = values.tolist() if isinstance(values, array) else [float(v) for v in values]
    return Weight(n_in, n_out, columns=[flat[j * n_in : (j + 1) * n_in] for j in range(n_out)])


def weight_from_tensor(t: Tensor[I, O]) -> Weight[I, O]:
    """The same matrix held as a Weight (its columns): for a gradient computed as a product of
    tensors, dW = x^T @ dy, which has the shape of the Weight it belongs to."""
    return Weight(t.n_rows, t.n_cols, columns=transpose(t.rows, t.n_cols))


def empty_weight(n_in: I, n_out: O) -> Weight[I, O]:
    """A weight with no numbers yet, to grow (an empty KV cache): n_in or n_out must be 0."""
    if n_in and n_out:
        raise ShapeError(f"empty_weight: a ({n_in}, {n_out}) weight is not empty")
    return Weight(n_in, n_out, columns=[[] for _ in range(n_out)])


def take_rows(x: Tensor[K, C], indices: Sequence[int], n_rows: R) -> Tensor[R, C]:
    """Pick rows of x by index (say, the last position of a sequence)."""
    if len(indices) != n_rows:
        raise ShapeError(f"take_rows: {len(indices)} indices for {n_rows} rows")
    for i in indices:
        if not 0 <= i < x.n_rows:
            raise ShapeError(f"take_rows: index {i} is out of range for a tensor of shape {x.shape}")
    return Tensor(n_rows, x.n_cols, [list(x.rows[i]) for i in indices])


def concat_columns(parts: Sequence[Tensor[R, K]], n_cols: C) -> Tensor[R, C]:
    """Put blocks of columns side by side (the inverse of `split_columns`)."""
    if not parts:
        raise ShapeError("concat_columns: nothing to concatenate")
    n_rows = parts[0].n_rows
    # (Sizes compared as plain ints: mypy would otherwise narrow n_cols's brand on `!=`.)
    total_width: int = sum(p.n_cols for p in parts)
    if any(p.n_rows != n_rows for p in parts) or total_width != int(n_cols):
        shapes = ", ".join(str(p.shape) for p in parts)
        raise ShapeError(f"concat_columns: blocks {shapes} do not make {n_rows} rows of {n_cols} columns")
    rows: list[list[float]] = [[] for _ in range(n_rows)]
    for part in parts:
        for out, row in zip(rows, part.rows):
            out.extend(row)
    return Tensor(n_rows, n_cols, rows)


def embedding_from_rows(rows: Sequence[Sequence[float]], n_rows: R, n_cols: C) -> Embedding[R, C]:
    """A lookup table from its rows: row i is the vector for index i."""
    if len(rows) != n_rows or any(len(r) != n_cols for r in rows):
        raise ShapeError(f"embedding_from_rows: data is not {n_rows} rows of {n_cols} values")
    return Embedding(Weight(n_cols, n_rows, columns=[[float(v) for v in r] for r in rows]))
