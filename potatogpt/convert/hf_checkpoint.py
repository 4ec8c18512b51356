"""Is this Hugging Face checkpoint a GPT-2 we can convert?  Checked before anything is written.

Two naming layouts exist: the hub's original files use bare names (`wte.weight`,
`h.0.attn.c_attn.weight`) and also carry the causal-mask buffers `h.N.attn.bias` /
`h.N.attn.masked_bias`, which are not parameters and are skipped; files saved by recent
transformers prefix everything with `transformer.` and may add `lm_head.weight`, which must equal
`wte.weight` (GPT-2 ties them) since we store only one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ..config import GPT2Config
from ..tokenizer import GPT2_VOCAB_SIZE, Tokenizer, TokenizerError
from ..weights.catalogue import WeightsError, check_config, expected_shape, parameter_count, tensor_count, tensor_names
from ..weights.regular_files import irregular, read_bytes
from ..weights.safe_json import JSONProblem, parse_json
from ..weights.vocab_files import DATA_DIR, VOCAB_FILE_NAMES
from .safetensors import FLOAT_DTYPES, SafetensorsFile

# Hugging Face's Conv1D keeps these as [in, out]; we store [out, in].
TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# Non-parameter buffers in the hub's original files: the causal mask and its fill value.
_BUFFER = re.compile(r"h\.(\d+)\.attn\.(bias|masked_bias)")

# Activation functions that are GPT-2's tanh approximation of GELU under another name.
GPT2_ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh")




class ExportError(Exception):
    """An export that cannot go ahead; the message is one line: the file, the problem, the fix.

    `files` are the source files the problem was found in, when it was found in one: a download
    that fails to convert is removed by export_model so that running again fetches it afresh.
    """

    def __init__(self, message: str, *, files: Iterable[Path] = ()) -> None:
        super().__init__(message)
        self.files = tuple(files)


# --- Reading config.json ----------------------------------------------------------------------
def read_hf_config(path: Path) -> GPT2Config:
    """GPT-2's hyper-parameters from a Hugging Face config.json, refusing anything else."""
    if not path.exists():
        raise ExportError(f"{path}: missing; a Hugging Face checkpoint needs its config.json beside "
                          "model.safetensors")
    raw = _read_json(path, "download the checkpoint's config.json again")
    if not isinstance(raw, dict):
        raise ExportError(f"{path}: not a JSON object; this is not a Hugging Face config.json", files=[path])
    hf: dict[str, object] = {str(k): v for k, v in raw.items()}

    def refuse(problem: str) -> ExportError:
        return ExportError(f"{path}: {problem}; only GPT-2 checkpoints can be converted", files=[path])

    model_type = hf.get("model_type", "gpt2")
    if model_type != "gpt2":
        raise refuse(f"model_type is {model_type!r}, not 'gpt2'")

    def integer(*keys: str) -> int:
        for key in keys:
            value = hf.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if value is not None:
                raise refuse(f"{key} is {value!r}, not a whole number")
        raise refuse(f"no {keys[0]!r}")

    n_embd = integer("n_embd")
    epsilon = hf.get("layer_norm_epsilon", 1e-5)
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool):
        raise refuse(f"layer_norm_epsilon is {epsilon!r}, not a number")
    config = GPT2Config(n_layer=integer("n_layer"), n_head=integer("n_head"), n_embd=n_embd,
                        n_ctx=integer("n_positions", "n_ctx"), vocab_size=integer("vocab_size"),
                        layer_norm_epsilon=float(epsilon))
    # Settings that would change the computation rather than the shapes.
    activation = hf.get("activation_function", "gelu_new")
    if activation not in GPT2_ACTIVATIONS:
        raise refuse(f"activation_function is {activation!r}; GPT-2 uses 'gelu_new'")
    n_inner = hf.get("n_inner")
    if n_inner is not None and n_inner != 4 * n_embd:
        raise refuse(f"n_inner is {n_inner!r}; GPT-2's MLP is 4 x n_embd = {4 * n_embd} wide")
    for key, gpt2_value in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False),
                            ("add_cross_attention", False)):
        if hf.get(key, gpt2_value) != gpt2_value:
            raise refuse(f"{key} is {hf[key]!r}; GPT-2 has {gpt2_value}")
    try:
        check_config(config, str(path))
    except WeightsError as e:
        raise ExportError(str(e), files=[path]) from None
    return config


# --- Finding the files ------------------------------------------------------------------------
def locate_checkpoint(source: Path) -> tuple[Path, Path]:
    """(model.safetensors, config.json) for a checkpoint folder or the .safetensors file itself."""
    if source.is_dir():
        model = source / "model.safetensors"
        _refuse_irregular(model, source / "config.json")
        if not model.is_file():
            if (source / "model.safetensors.index.json").is_file():
                raise ExportError(f"{source}: holds a sharded checkpoint (model.safetensors.index.json); "
                                  "GPT-2 fits in one file, use a single model.safetensors")
            if (source / "pytorch_model.bin").is_file():
                raise ExportError(f"{source}: has only pytorch_model.bin; potatogpt reads safetensors, "
                                  "download model.safetensors for this model")
            raise ExportError(f"{source}: no model.safetensors in this folder; point --from at a Hugging Face "
                              "GPT-2 checkpoint folder or at its .safetensors file")
        return model, source / "config.json"
    _refuse_irregular(source)
    if source.is_file():
        _refuse_irregular(source.parent / "config.json")
        return source, source.parent / "config.json"
    raise ExportError(f"{source}: no such file or folder; point --from at a Hugging Face GPT-2 checkpoint")


def find_tokenizer(folder: Path, config: GPT2Config) -> list[Path]:
    """The tokenizer files to copy: the checkpoint's own, else the bundled GPT-2 ones when the
    vocabulary is GPT-2's, else none (small test models have no text tokenizer)."""
    for encoder, merges in VOCAB_FILE_NAMES:
        encoder_path, merges_path = folder / encoder, folder / merges
        _refuse_irregular(encoder_path, merges_path)
        if encoder_path.is_file() and merges_path.is_file():
            _check_vocabulary(encoder_path, merges_path, config)
            return [encoder_path, merges_path]
        if encoder_path.is_file() or merges_path.is_file():
            present, absent = (encoder_path, merges) if encoder_path.is_file() else (merges_path, encoder)
            raise ExportError(f"{present}: found without {absent} beside it; copy both tokenizer files or neither")
    if config.vocab_size == GPT2_VOCAB_SIZE:
        return [DATA_DIR / "encoder.json", DATA_DIR / "vocab.bpe"]
    return []


def _refuse_irregular(*paths: Path) -> None:
    """A folder, a pipe or a device where a checkpoint's file belongs is reported as that, not
    taken for a missing file (nor waited on)."""
    for path in paths:
        what = irregular(path)
        if what is not None:
            raise ExportError(f"{path}: is {what}, not a regular file; put the checkpoint's file there")


def _read_json(path: Path, advice: str) -> object:
    """A JSON file's contents, or an ExportError saying what is wrong and `advice`."""
    try:
        return parse_json(read_bytes(path))
    except JSONProblem as e:
        raise ExportError(f"{path}: {e}; {advice}", files=[path]) from None
    except OSError as e:
        raise ExportError(f"{path}: cannot be read ({e.strerror})", files=[path]) from None


def _check_vocabulary(encoder: Path, merges: Path, config: GPT2Config) -> None:
    """Read the tokenizer as loading will, so that no export carries one that can't be used."""
    try:
        tokenizer = Tokenizer.from_contents(encoder, read_bytes(encoder), merges, read_bytes(merges),
                                            origin=str(encoder.parent))
    except TokenizerError as e:
        raise ExportError(str(e), files=[encoder, merges]) from None
    except OSError as e:
        raise ExportError(f"{e.filename}: cannot be read ({e.strerror})", files=[encoder, merges]) from None
    if tokenizer.vocab_size != config.vocab_size:
        raise ExportError(f"{encoder}: has {tokenizer.vocab_size} tokens but config.json says vocab_size="
                          f"{config.vocab_size}; the tokenizer belongs to another model", files=[encoder])


# --- Checking the checkpoint's tensors --------------------------------------------------------
def hf_shape(name: str, config: GPT2Config) -> tuple[int, ...]:
    """The shape Hugging Face stores `name` with: ours, except Conv1D matrices are [in, out]."""
    shape = expected_shape(name, config)
    return shape[::-1] if name.endswith(TRANSPOSED) else shape


def plan_tensors(st: SafetensorsFile, config: GPT2Config) -> tuple[dict[str, str], str | None]:
    """Map every GPT-2 tensor name to the name it has in the file, and find lm_head if any.

    Refuses (ExportError) missing or unexpected tensors, wrong shapes and unconvertible dtypes.
    """
    # Before anything is built from config.json's numbers (which could claim 2**31 layers), a
    # rough check against what the file holds: each number takes at least 2 bytes (F16, BF16),
    # and a file with less than half the tensors is another model.  Smaller gaps are named
    # precisely below.
    data_bytes = sum(info.nbytes for info in st.tensors.values())
    if tensor_count(config) > 2 * len(st.tensors) or 2 * parameter_count(config) > data_bytes:
        raise ExportError(f"{st.path}: holds {len(st.tensors)} tensors in {data_bytes} bytes, but config.json "
                          f"(n_layer={config.n_layer}, n_embd={config.n_embd}, n_ctx={config.n_ctx}, "
                          f"vocab_size={config.vocab_size}) describes {tensor_count(config)} tensors of "
                          f"{parameter_count(config)} numbers; the config.json belongs to another model", files=[st.path])
    wanted = set(tensor_names(config))
    found: dict[str, str] = {}  # our name -> name in the file
    lm_head: str | None = None
    unexpected: list[str] = []
    for file_name in st.tensors:
        name = file_name.removeprefix("transformer.")
        buffer = _BUFFER.fullmatch(name)
        if buffer is not None and int(buffer[1]) < config.n_layer:
            continue  # the causal mask is rebuilt by the model, not loaded
        if name == "lm_head.weight":
            lm_head = file_name
        elif name in wanted and name not in found:
            found[name] = file_name
        else:
            unexpected.append(file_name)

    def listing(names: list[str]) -> str:
        return repr(names[0]) + (f" and {len(names) - 1} more" if len(names) > 1 else "")

    shape_note = (f"n_layer={config.n_layer}, n_embd={config.n_embd}, n_ctx={config.n_ctx}, "
                  f"vocab_size={config.vocab_size}")
    if unexpected:
        raise ExportError(f"{st.path}: unexpected tensor {listing(unexpected)}, which a GPT-2 with {shape_note} "
                          "does not have; this is not a GPT-2 checkpoint, or its config.json belongs to another model", files=[st.path])
    missing = [name for name in tensor_names(config) if name not in found]
    if missing:
        raise ExportError(f"{st.path}: tensor {listing(missing)} missing, but config.json ({shape_note}) needs it; "
                          "the checkpoint is incomplete or its config.json belongs to another model", files=[st.path])
    checks = [(name, found[name]) for name in tensor_names(config)]
    if lm_head is not None:
        checks.append(("wte.weight", lm_head))
    for name, file_name in checks:
        info = st.tensors[file_name]
        want = hf_shape(name, config)
        if info.shape != want:
            raise ExportError(f"{st.path}: {file_name} has shape {list(info.shape)} but config.json ({shape_note}) "
                              f"implies {list(want)}; the config.json belongs to another model", files=[st.path])
        if info.dtype not in FLOAT_DTYPES:
            raise ExportError(f"{st.path}: {file_name} is {info.dtype}; only {', '.join(FLOAT_DTYPES)} "
                              "checkpoints can be converted", files=[st.path])
    return found, lm_head


def check_tied_head(st: SafetensorsFile, wte: str, lm_head: str) -> None:
    """GPT-2's output layer is its token embedding; a checkpoint where they differ isn't GPT-2."""
    pieces = zip(st.iter_float32(wte), st.iter_float32(lm_head))
    # Compare bytes rather than floats, so a NaN in both (bit-identical) still counts as equal.
    if not all(a.tobytes() == b.tobytes() for a, b in pieces):
        raise ExportError(f"{st.path}: {lm_head} differs from {wte}; GPT-2 ties its output layer to the "
                          "token embedding, and potatogpt stores only one of them", files=[st.path])


