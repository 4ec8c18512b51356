"""A 2-D tensor of Python floats whose shape mypy can check.

`Tensor[Seq, Embed]` is a matrix with one row per token and one column per embedding channel.
Its two type parameters are *dimension brands*: `NewType`s over `int` that name the role a size
plays.  Because the type parameters are invariant, mypy refuses a `Tensor[Seq, Hidden]` where a
`Tensor[Seq, Embed]` is wanted, and refuses `a @ b` unless `a`'s columns and `b`'s rows carry the
same brand.  mypy cannot do arithmetic, so `Hidden` (= 4 * Embed) is a name we promise to use
consistently, not a number it checks; every operation therefore also checks the real sizes at run
time and raises `ShapeError`.

Storage: `rows` is a list of rows, each a list of floats.  A tensor may instead (or also) hold its
`columns`, because a matrix product `x @ w` dots each row of `x` against each *column* of `w`:
weights are loaded column-wise so that hot loop never transposes anything.  The arithmetic of
the matrix product itself lives in `kernels.py`.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Sequence
from typing import Generic, Literal, NewType, Protocol, TypeVar, overload

from .fast import kernels

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
N = TypeVar("N", bound=int)


class ShapeError(ValueError):
    """Raised when the run-time sizes of tensors don't fit the operation."""


class PreparedWeight(Protocol):
    """A weight matrix W (n_in x n_out) held in a fast kernel's own layout, for `x @ W`.

    Weights are only ever multiplied, or (for GPT-2's tied embedding) read a column at a time,
    so that is all a prepared weight has to do.
    """

    @property
    def n_in(self) -> int: ...
    @property
    def n_out(self) -> int: ...
    def matmul(self, rows: Sequence[Sequence[float]]) -> list[list[float]]: ...
    def column(self, j: int) -> list[float]: ...
    def columns(self) -> list[list[float]]: ...


# How a weights file's numbers are held in memory (see kernels.py for the trade-offs):
#   "exact"   float64 tuples, the fastest exact kernel, ~32 bytes per parameter
#   "compact" the file's float32 numbers as they are, exact but slower, ~4 bytes per parameter
#   "packed"  fixed-point big integers, the fastest, float32-like accuracy, ~8 bytes per parameter
Storage = Literal["exact", "compact", "packed"]


class Tensor(Generic[R, C]):
    """A matrix of n_rows x n_cols floats, stored as rows, as columns, or both.

    Build tensors with the module-level constructors (`from_rows`, `from_columns`, `zeros`,
    `take_rows`), which take branded sizes so the static type follows from the arguments.
    Treat the lists a tensor hands out as read-only: every operation returns a new tensor.
    """

    __slots__ = ("_n_rows", "_n_cols", "_rows", "_columns", "_weight", "_weight_is_transposed")

    def __init__(
        self,
        n_rows: R,
        n_cols: C,
        rows: list[list[float]] | None = None,
        columns: list[list[float]] | None = None,
        weight: PreparedWeight | None = None,
        weight_is_transposed: bool = False,
    ) -> None:
        if rows is None and columns is None and weight is None:
            raise ValueError("a Tensor needs its rows, its columns or a prepared weight")
        self._n_rows = n_rows
        self._n_cols = n_cols
        self._rows = rows
        self._columns = columns
        # A prepared weight holds this tensor's columns (or, transposed, its rows) in a
        # kernel's layout; the float lists are then only built if someone asks for them.
        self._weight = weight
        self._weight_is_transposed = weight_is_transposed

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

    @property
    def rows(self) -> list[list[float]]:
        """The data row by row (computed from the columns on first use, then kept)."""
        if self._rows is None:
            source = self._row_weight()
            if source is not None:
                self._rows = source.columns()
            else:
                self._rows = _transpose(self.columns, self._n_rows)
        return self._rows

    @property
    def columns(self) -> list[list[float]]:
        """The data column by column (computed from the rows on first use, then kept)."""
        if self._columns is None:
            if self._weight is not None and not self._weight_is_transposed:
                self._columns = self._weight.columns()
            else:
                self._columns = _transpose(self.rows, self._n_cols)
        return self._columns

    def row(self, index: int) -> list[float]:
        """One row as a new list of floats."""
        if not -self._n_rows <= index < self._n_rows:
            raise ShapeError(f"row: index {index} is out of range for shape {self.shape}")
        source = self._row_weight()
        if source is not None:
            return source.column(index % self._n_rows)  # without building every row
        return list(self.rows[index])

    def _row_weight(self) -> PreparedWeight | None:
        """The prepared weight whose columns are this tensor's rows, while no row list exists.

        (GPT-2's token embedding is the output layer's weight, read one row at a time.)
        """
        if self._rows is None and self._weight_is_transposed:
            return self._weight
        return None

    def tolist(self) -> list[list[float]]:
        """A copy of the data as nested lists."""
        return [list(r) for r in self.rows]

    def __repr__(self) -> str:
        return f"Tensor(shape={self.shape})"

    # --- Matrix product and transpose ---------------------------------------------------------
    @property
    def T(self) -> Tensor[C, R]:
        """The transpose: rows become columns.  Costs nothing, the data is shared."""
        # Copy the outer lists so a later append_rows on self does not change the view.
        rows = None if self._columns is None else list(self._columns)
        columns = None if self._rows is None else list(self._rows)
        return Tensor(self._n_cols, self._n_rows, rows=rows, columns=columns,
                      weight=self._weight, weight_is_transposed=not self._weight_is_transposed)

    def __matmul__(self, other: Tensor[C, K]) -> Tensor[R, K]:
        """Matrix product: (R x C) @ (C x K) -> (R x K)."""
        if self._n_cols != other._n_rows:
            raise ShapeError(
                f"matmul: {self.shape} @ {other.shape}: the left operand has {self._n_cols} "
                f"columns but the right operand has {other._n_rows} rows"
            )
        if other._weight is not None and not other._weight_is_transposed:
            return Tensor(self._n_rows, other._n_cols, rows=other._weight.matmul(self.rows))
        return Tensor(self._n_rows, other._n_cols, rows=kernels.matmul(self.rows, other.columns))

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
        return Tensor(self._n_rows, self._n_cols, rows=data)

    def __mul__(self, scale: float) -> Tensor[R, C]:
        """Multiply every element by a number."""
        return Tensor(self._n_rows, self._n_cols, rows=[[a * scale for a in row] for row in self.rows])

    __rmul__ = __mul__

    def map(self, f: Callable[[float], float]) -> Tensor[R, C]:
        """Apply f to every element (for example GELU)."""
        return Tensor(self._n_rows, self._n_cols, rows=[list(map(f, row)) for row in self.rows])

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
        return Tensor(self._n_rows, self._n_cols, rows=out)

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
        return Tensor(self._n_rows, self._n_cols, rows=out)

    # --- Rows in and out (embeddings, the KV cache) -------------------------------------------
    def append_rows(self, new: Tensor[K, C]) -> None:
        """Grow this tensor by the rows of `new`, in place (how a KV cache grows).

        The row brand names a role (say `Ctx`, the positions seen so far), not a fixed number,
        so it stays the same while the count grows.
        """
        if new._n_cols != self._n_cols:
            raise ShapeError(f"append_rows: cannot append rows of shape {new.shape} to shape {self.shape}")
        if self._weight is not None:
            raise ShapeError("append_rows: a prepared weight cannot grow")
        added = new.rows
        if self._rows is not None:
            self._rows.extend(list(r) for r in added)
        if self._columns is not None:
            for column, values in zip(self._columns, zip(*added)):
                column.extend(values)
        self._n_rows = type(self._n_rows)(self._n_rows + len(added))

    def split_columns(self, parts: int, width: K) -> list[Tensor[R, K]]:
        """Cut the columns into `parts` equal blocks of `width` (for example one per head)."""
        if parts * width != self._n_cols:
            raise ShapeError(
                f"split_columns: shape {self.shape} does not split into {parts} blocks of {width} columns"
            )
        rows = self.rows
        return [
            Tensor(self._n_rows, width, rows=[row[p * width : (p + 1) * width] for row in rows])
            for p in range(parts)
        ]


# --- Constructors -----------------------------------------------------------------------------
def from_rows(rows: Sequence[Sequence[float]], n_rows: R, n_cols: C) -> Tensor[R, C]:
    """A tensor from row data, checked against the branded sizes."""
    if len(rows) != n_rows or any(len(r) != n_cols for r in rows):
        raise ShapeError(f"from_rows: data is not {n_rows} rows of {n_cols} values")
    return Tensor(n_rows, n_cols, rows=[[float(v) for v in r] for r in rows])


def from_columns(columns: Sequence[Sequence[float]], n_rows: R, n_cols: C) -> Tensor[R, C]:
    """A tensor from column data: how weight matrices arrive from disk, ready for `x @ w`."""
    if len(columns) != n_cols or any(len(c) != n_rows for c in columns):
        raise ShapeError(f"from_columns: data is not {n_cols} columns of {n_rows} values")
    return Tensor(n_rows, n_cols, columns=[[float(v) for v in c] for c in columns])


def from_flat(values: Sequence[float], n_rows: R, n_cols: C) -> Tensor[R, C]:
    """A tensor from one flat run of numbers, row after row (how a weights file stores it)."""
    if len(values) != n_rows * n_cols:
        raise ShapeError(f"from_flat: {len(values)} values cannot fill shape ({n_rows}, {n_cols})")
    flat = values.tolist() if isinstance(values, array) else list(values)
    return Tensor(n_rows, n_cols, rows=[flat[i : i + n_cols] for i in range(0, len(flat), n_cols)])


def from_prepared(weight: PreparedWeight, n_rows: R, n_cols: C) -> Tensor[R, C]:
    """A weight matrix (n_rows = inputs, n_cols = outputs) whose numbers a kernel holds."""
    if (weight.n_in, weight.n_out) != (n_rows, n_cols):
        raise ShapeError(f"from_prepared: a {weight.n_in} x {weight.n_out} weight is not ({n_rows}, {n_cols})")
    return Tensor(n_rows, n_cols, weight=weight)


def weight_from_flat(values: array[float], n_in: R, n_out: C, storage: Storage = "exact") -> Tensor[R, C]:
    """The weight W of `x @ W` from a weights file, which stores it [out, in]: output after
    output, each one's n_in weights together -- the columns of W, the order `@` reads them in."""
    if len(values) != n_in * n_out:
        raise ShapeError(f"weight_from_flat: {len(values)} values cannot fill shape ({n_in}, {n_out})")
    return from_prepared(KernelWeight(prepare(values, n_in, n_out, storage)), n_in, n_out)


def prepare(values: array[float], n_in: int, n_out: int, storage: Storage) -> kernels.Weight:
    """Hand a flat [out, in] run of weights to the kernel that `storage` names."""
    if storage == "exact":
        return kernels.prepare_exact_flat(values, n_in, n_out)
    if storage == "compact":
        return kernels.prepare_compact(values, n_in, n_out)
    return kernels.prepare_packed(values, n_in, n_out)


class KernelWeight:
    """A PreparedWeight that one of kernels.py's weight layouts holds, in this process."""

    __slots__ = ("weight",)

    def __init__(self, weight: kernels.Weight) -> None:
        self.weight = weight

    @property
    def n_in(self) -> int:
        return self.weight.n_in

    @property
    def n_out(self) -> int:
        return self.weight.n_out

    def matmul(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        return kernels.matmul_weight(rows, self.weight)

    def column(self, j: int) -> list[float]:
        return kernels.weight_column(self.weight, j)

    def columns(self) -> list[list[float]]:
        return kernels.weight_columns(self.weight)


def zeros(n_rows: R, n_cols: C) -> Tensor[R, C]:
    """A tensor of zeros (with zero rows: an empty KV cache ready to grow)."""
    return Tensor(n_rows, n_cols, rows=[[0.0] * n_cols for _ in range(n_rows)])


def take_rows(table: Tensor[K, C], indices: Sequence[int], n_rows: R) -> Tensor[R, C]:
    """Pick rows of `table` by index: an embedding lookup, or the last position of a sequence."""
    if len(indices) != n_rows:
        raise ShapeError(f"take_rows: {len(indices)} indices for {n_rows} rows")
    for i in indices:
        if not 0 <= i < table.n_rows:
            raise ShapeError(f"take_rows: index {i} is out of range for a table of shape {table.shape}")
    source = table._row_weight()
    if source is not None:
        return Tensor(n_rows, table.n_cols, rows=[source.column(i) for i in indices])
    data = table.rows
    return Tensor(n_rows, table.n_cols, rows=[list(data[i]) for i in indices])


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
    return Tensor(n_rows, n_cols, rows=rows)


def _transpose(data: list[list[float]], n_out: int) -> list[list[float]]:
    """Rows to columns (or back); n_out is how many lists come out (needed when data is empty)."""
    if not data:
        return [[] for _ in range(n_out)]
    return [list(column) for column in zip(*data)]
