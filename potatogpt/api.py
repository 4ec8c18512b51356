"""The Python API: load a weights folder, then ask the model for logits or new tokens.

`model.py` is the network itself; this module is what a program calls: `load()` reads a folder
(see weights/checkpoint.py) into the typed parameters the forward pass takes, and `GPT2` wraps them with the
tokenizer, the context checks and the generation loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, TypeVar, get_args

from .config import GPT2Config
from .fast import packed_cache
from .fast.gc import no_cyclic_gc
from .fast.parallel import WorkerPool
from .fast.storage import KernelMatrix, fast_weight
from . import model
from .model import MLP, Attention, Block, KVCache, LayerNorm, Linear, Params
from .sampling import Sampler, log_softmax
from .tensor import ONE, Ctx, Embed, Embedding, Hidden, One, Qkv, Tensor, Vocab, Weight, from_flat, weight_from_flat
from .tokenizer import Tokenizer
from .weights.catalogue import tensor_names
from .weights.checkpoint import Checkpoint, open_checkpoint

# Called as loading goes, with (bytes of weight files done, bytes in all): a progress display.
Progress = Callable[[int, int], None]

I = TypeVar("I", bound=int)
O = TypeVar("O", bound=int)

# How the weight matrices are held:
#   "reference"  plain lists of floats, multiplied by tensor.py's `matmul` and nothing else: what
#                you read is what runs (a breakpoint in `dot` stops inside GPT-2), but slow
#   "exact", "compact", "packed"   the storages of potatogpt/fast/ (see fast/storage.py)
Storage = Literal["reference", "exact", "compact", "packed"]
STORAGES: tuple[Storage, ...] = get_args(Storage)
# The command-line flag that picks each: the storage's own name (exact is the default: no flag).
STORAGE_FLAGS: dict[Storage, str] = {storage: "" if storage == "exact" else f"--{storage}" for storage in STORAGES}


# --- Loading ----------------------------------------------------------------------------------
def load_params(checkpoint: Checkpoint, storage: Storage = "exact", pool: WorkerPool | None = None,
                progress: Progress | None = None) -> Params:
    """Turn a weights folder's float32 files into the typed parameters `model.gpt2` takes.

    Matrices are stored [out, in] (see weights/README.md): each stored row is one column of the
    math's W in x @ W, the columns a `Weight` keeps.  `storage` picks how they are held (see
    Storage); biases, layer norms and position embeddings are plain rows in every mode.
    With a WorkerPool (--jobs), each matrix is split by output columns across processes.
    `progress(done, total)` is called after each tensor, in bytes of the files behind it.
    """
    config = checkpoint.config
    embed, hidden, qkv = Embed(config.n_embd), Hidden(4 * config.n_embd), Qkv(3 * config.n_embd)
    total = sum(checkpoint.file_entry(name).size for name in tensor_names(config))
    done = 0

    def advance(name: str) -> None:
        nonlocal done
        done += checkpoint.file_entry(name).size
        if progress is not None:
            progress(done, total)

    # --packed in one process: every matrix at once, from packed.cache when it is valid (seconds)
    # instead of quantizing again (see fast/packed_cache.py).
    packed = packed_cache.packed_weights(checkpoint, advance) if storage == "packed" and pool is None else {}

    def row(name: str, width: O) -> Tensor[One, O]:
        values = checkpoint.read(name)
        advance(name)
        return from_flat(values, ONE, width)

    def layer_norm_params(prefix: str) -> LayerNorm:
        return LayerNorm(row(f"{prefix}.weight", embed), row(f"{prefix}.bias", embed))

    def matrix(name: str, n_in: I, n_out: O) -> Weight[I, O]:
        if name in packed:
            return Weight(n_in, n_out, fast=KernelMatrix(packed[name]))  # (already counted)
        if pool is not None:
            weight = Weight(n_in, n_out, fast=pool.weight(name))
        elif storage == "reference":
            weight = weight_from_flat(checkpoint.read(name), n_in, n_out)
        else:
            weight = fast_weight(checkpoint.read(name), n_in, n_out, storage)
        advance(name)
        return weight

    def linear_params(prefix: str, n_in: I, n_out: O) -> Linear[I, O]:
        return Linear(matrix(f"{prefix}.weight", n_in, n_out), row(f"{prefix}.bias", n_out))

    blocks = [
        Block(
            ln_1=layer_norm_params(f"h.{i}.ln_1"),
            attn=Attention(
                c_attn=linear_params(f"h.{i}.attn.c_attn", embed, qkv),
                c_proj=linear_params(f"h.{i}.attn.c_proj", embed, embed),
            ),
            ln_2=layer_norm_params(f"h.{i}.ln_2"),
            mlp=MLP(
                c_fc=linear_params(f"h.{i}.mlp.c_fc", embed, hidden),
                c_proj=linear_params(f"h.{i}.mlp.c_proj", hidden, embed),
            ),
        )
        for i in range(config.n_layer)
    ]
    # wte is stored [vocab, n_embd]: the rows of the embedding table, which are also the columns
    # of the output layer's weight (n_embd x vocab), so it loads like any other matrix.  wpe is
    # only ever looked up, never multiplied: plain lists in every mode.
    wte = Embedding(matrix("wte.weight", embed, Vocab(config.vocab_size)))
    wpe = Embedding(weight_from_flat(checkpoint.read("wpe.weight"), embed, Ctx(config.n_ctx)))
    advance("wpe.weight")
    return Params(
        wte=wte,
        wpe=wpe,
        h=blocks,
        ln_f=layer_norm_params("ln_f"),
    )


class ContextError(ValueError):
    """The tokens asked for don't fit in the model's context window."""


class GPT2:
    """A GPT-2 model and its tokenizer: the Python API (see README).

    The forward pass is reached through the `model` module (`model.gpt2`, not a name bound at
    import), so a stage swapped into potatogpt.model (the exercises' finale, an instrument's
    recorder) is the one these methods run.
    """

    def __init__(self, config: GPT2Config, params: Params, tokenizer: Tokenizer, pool: WorkerPool | None = None) -> None:
        self.config = config
        self.params = params
        self.tokenizer = tokenizer
        self.pool = pool

    def close(self) -> None:
        """Stop the worker processes of --jobs (they also stop when this process exits)."""
        if self.pool is not None:
            self.pool.close()

    def new_kv_cache(self) -> KVCache:
        return model.new_kv_cache(self.config)

    def forward(self, ids: Sequence[int], kv_cache: KVCache) -> list[float]:
        """Feed `ids` after what kv_cache holds; return the logits for the token that follows."""
        self._check(ids, kv_cache.length)
        return model.gpt2(ids, self.params, kv_cache, self.config).row(0)

    def next_token_logits(self, ids: Sequence[int]) -> list[float]:
        """One score per vocabulary entry for the token after `ids` (a fresh forward pass)."""
        return self.forward(ids, self.new_kv_cache())

    def logits(self, ids: Sequence[int]) -> list[list[float]]:
        """Logits after every prefix of `ids`: row i scores the token at position i + 1."""
        kv_cache = self.new_kv_cache()
        self._check(ids, 0)
        return model.lm_head(model.hidden_states(ids, self.params, kv_cache, self.config), self.params, self.config).tolist()

    def score(self, ids: Sequence[int]) -> list[float]:
        """How likely the model finds `ids`: entry i is the natural log of the probability it
        gives ids[i + 1] after ids[0 .. i].  The mean of their negatives is the loss
        (cross-entropy) a trainer reports, and exp of that is the perplexity."""
        if len(ids) < 2:
            raise ValueError("scoring needs at least two tokens: the first is only ever a condition")
        # The last token is only scored, never fed in, so ids may be one longer than the context.
        rows = self.logits(ids[:-1])
        return [log_softmax(row)[token] for row, token in zip(rows, ids[1:])]

    def generate(
        self,
        ids: Sequence[int],
        max_new_tokens: int = 40,
        *,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop_at_eot: bool = True,
        logits_seen: list[list[float]] | None = None,
    ) -> Iterator[int]:
        """Yield new token ids one at a time, each the moment it is chosen.

        The prompt goes through once as a batch; after that each new token goes through every
        block as a single row, reusing the cached keys and values of all earlier positions.
        temperature=0 is greedy decoding.  If `logits_seen` is a list, the logits each token
        was chosen from are appended to it (the CLI's --show-top uses this).
        """
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be 0 or more, not {max_new_tokens}")
        # The last new token is never fed back in, so it needs no position of its own.
        needed = len(ids) + max_new_tokens - 1
        if max_new_tokens and needed > self.config.n_ctx:
            raise ContextError(
                f"{len(ids)} prompt tokens + {max_new_tokens} new tokens need {needed} positions, "
                f"but the model's context is {self.config.n_ctx}: shorten the prompt or ask for fewer tokens"
            )
        self._check(ids, 0)
        sampler = Sampler(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
        # Checked above, before the first token is asked for; the loop itself is a generator.
        return self._tokens(ids, max_new_tokens, sampler, stop_at_eot, logits_seen)

    def _tokens(
        self,
        ids: Sequence[int],
        max_new_tokens: int,
        sampler: Sampler,
        stop_at_eot: bool,
        logits_seen: list[list[float]] | None,
    ) -> Iterator[int]:
        if max_new_tokens == 0:
            return
        kv_cache = self.new_kv_cache()
        logits = self.forward(ids, kv_cache)
        for step in range(max_new_tokens):
            if logits_seen is not None:
                logits_seen.append(logits)
            token = sampler.choose(logits)
            yield token
            if (stop_at_eot and token == self.tokenizer.eot_id) or step == max_new_tokens - 1:
                return
            logits = self.forward([token], kv_cache)

    def _check(self, ids: Sequence[int], start: int) -> None:
        if not ids:
            raise ValueError("GPT-2 needs at least one token to condition on (use <|endoftext|> to start from nothing)")
        for token in ids:
            if not 0 <= token < self.config.vocab_size:
                raise ValueError(f"token id {token} is outside this model's vocabulary (0 .. {self.config.vocab_size - 1})")
        if start + len(ids) > self.config.n_ctx:
            raise ContextError(
                f"{start + len(ids)} positions exceed the model's context of {self.config.n_ctx} tokens"
            )


def load(folder: str | Path, *, storage: Storage = "exact", jobs: int = 1, verify_sha256: bool = False,
         progress: Progress | None = None) -> GPT2:
    """Load a weights folder written by export_weights.py, with the tokenizer stored beside it.

    `storage` picks how weights are held (see Storage); `jobs` > 1 splits the matrix
    products across that many processes.  A folder without tokenizer files gets the bundled
    GPT-2 vocabulary.  `progress(bytes_done, bytes_total)` is called as the weights are read.
    With storage="packed", the quantized weights are cached in the folder (packed.cache, see
    fast/packed_cache.py) so that later loads skip quantizing.
    """
    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {', '.join(map(repr, STORAGES))}, not {storage!r}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    if storage == "reference" and jobs > 1:
        raise ValueError("the reference mode runs in one process, with no kernels: use jobs=1")
    checkpoint = open_checkpoint(folder, verify_sha256=verify_sha256)
    tokenizer = checkpoint.tokenizer()  # the manifest's own, checked against the model's vocabulary size
    if storage == "packed" and jobs > 1 and not packed_cache.is_intact(checkpoint):
        # Quantize once, here, into packed.cache (a damaged one is reported, then rebuilt); every
        # process then reads its own slices.
        with no_cyclic_gc():
            packed_cache.packed_weights(checkpoint)
    pool = WorkerPool(checkpoint, storage, jobs) if jobs > 1 and storage != "reference" else None
    try:
        with no_cyclic_gc():  # a third of the load time otherwise (see kernels.py)
            params = load_params(checkpoint, storage, pool, progress)
        if pool is not None:
            pool.wait_until_ready()
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    return GPT2(checkpoint.config, params, tokenizer, pool)
