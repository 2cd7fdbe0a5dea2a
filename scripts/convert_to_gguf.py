# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "torch==2.13.0",
#     "transformers==5.25.0",
#     "peft==0.21.2",
#     "safetensors>=0.5",
#     "huggingface_hub==2.4.0",
#     "sentencepiece>=0.2.1",
#     "protobuf>=5.29",
#     "numpy>=2.2.6",
#     "pyyaml>=6.0",
#     "tqdm>=4.67",
#     "requests>=2.32",
#     "jinja2>=3.1",
#     "cmake>=3.28",
#     "xllamacpp==2026.10.11549",
# ]
#
# [tool.uv]
# exclude-newer = "2026-12-06T13:00:48Z"
# ///
"""Convert a fine-tuned model (LoRA adapter or full model) to GGUF, verify every file in llama.cpp, then publish.

Run it locally (an adapter is merged into its base first; the base comes from adapter_config.json):
    uv run scripts/convert_to_gguf.py --model_name_or_path outputs/qwen-sft --quantization_types Q4_K_M,Q8_0
Run it as a CPU job on Hugging Face Jobs and publish the verified files (private repo by default):
    hf jobs uv run --flavor cpu-upgrade --timeout 1h --secrets HF_TOKEN scripts/convert_to_gguf.py \
        --model_name_or_path <you>/qwen-sft --quantization_types Q4_K_M,Q5_K_M,Q8_0 \
        --push_to_hub --hub_model_id <you>/qwen-sft-GGUF
Only prepare the pinned llama.cpp tools (converter + llama-quantize, cached between runs):
    uv run scripts/convert_to_gguf.py --setup_only

The converter, gguf-py and the llama-quantize source all come from one pinned, hash-checked release of llama.cpp (the
copy vendored in the llama-cpp-python sdist), so converter and gguf versions always match. F32/F16/BF16/Q8_0 come
straight from the converter; every other type goes through llama-quantize, built once with cmake and cached under
$HF_TRAINER_LLAMA_CPP_DIR (default ~/.cache/hf-trainer/llama.cpp). Each output is loaded in llama.cpp (xllamacpp):
its greedy generation and its next-token log-probabilities (teacher-forced on the HF model's own greedy continuation)
are compared with the HF model on the same prompt. A file that fails is never published and the run exits 1.
The token is read only from the environment (HF_TOKEN).
"""

import argparse
import contextlib
import fnmatch
import gc
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

# One pinned llama.cpp: the copy vendored in this llama-cpp-python sdist (converter, gguf-py, llama-quantize source).
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
LLAMA_CPP_PYTHON_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
TOOLS_ENV = "HF_TRAINER_LLAMA_CPP_DIR"
PYPI_SIMPLE = "https://pypi.org/simple"

# Types the converter writes itself (no llama-quantize needed).
CONVERTER_TYPES = {"F32": "f32", "F16": "f16", "BF16": "bf16", "Q8_0": "q8_0"}
# Types llama-quantize makes without an importance matrix (IQ1/IQ2/IQ3_XXS and Q2_K_S need one: not offered).
QUANTIZE_TYPES = ["Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0", "IQ4_XS", "IQ4_NL",
                  "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K"]
SUPPORTED_TYPES = list(CONVERTER_TYPES) + QUANTIZE_TYPES
ALIASES = {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M", "FP16": "F16", "FP32": "F32"}
IMATRIX_TYPES = {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
                 "Q2_K_S"}

# Pass criteria by type: (minimum teacher-forced top-1 agreement, maximum mean |logprob difference| in nats).
# Loose enough for normal quantization noise, tight enough to catch a wrong tokenizer, rope or tensor layout (those
# drop top-1 agreement to chance).
THRESHOLDS = {
    "F32": (0.95, 0.01), "F16": (0.9, 0.05), "BF16": (0.9, 0.1), "Q8_0": (0.85, 0.1),
    "Q6_K": (0.75, 0.25), "Q5_K_M": (0.75, 0.25), "Q5_K_S": (0.75, 0.25), "Q5_1": (0.75, 0.25), "Q5_0": (0.75, 0.25),
    "Q4_K_M": (0.6, 0.5), "Q4_K_S": (0.6, 0.5), "Q4_1": (0.6, 0.5), "Q4_0": (0.6, 0.5), "IQ4_XS": (0.6, 0.5),
    "IQ4_NL": (0.6, 0.5), "Q3_K_L": (0.4, 1.0), "Q3_K_M": (0.4, 1.0), "Q3_K_S": (0.4, 1.0), "Q2_K": (0.3, 1.5),
}
DTYPES = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
DEFAULT_PROMPT = "Write one short sentence about the sea."

# Run inside a subprocess: the pinned converter, with a fallback for byte-level BPE tokenizers whose pre-tokenizer
# hash llama.cpp does not know (fine-tunes with their own tokenizer hit this; "gpt-2" is the right pre-tokenizer for
# plain byte-level BPE, and verification checks the tokenization afterwards).
CONVERTER_RUNNER = r"""
import runpy, sys
from pathlib import Path
source, fallback = Path(sys.argv[1]), sys.argv[2]
sys.path.insert(0, str(source))
sys.path.insert(1, str(source / "gguf-py"))
import conversion.base as base
owners = [c for c in vars(base).values() if isinstance(c, type) and "get_vocab_base_pre" in vars(c)]
for owner in owners:
    original = owner.get_vocab_base_pre
    def patched(self, tokenizer, _original=original):
        try:
            return _original(self, tokenizer)
        except NotImplementedError:
            if not fallback:
                raise
            print(f"hf-trainer: unknown BPE pre-tokenizer hash, using {fallback!r}", file=sys.stderr)
            return fallback
    owner.get_vocab_base_pre = patched
sys.argv = [str(source / "convert_hf_to_gguf.py")] + sys.argv[3:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


class ScriptError(Exception):
    """A problem the user can fix: printed as one line, exit status 2, no traceback."""


def usable_cpus() -> int:
    """CPUs this process may use: a container (an HF Job) often sees the host's cores in os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def log(message: str) -> None:
    # Progress goes to stderr so --json keeps stdout to the one JSON document.
    print(f"[convert_to_gguf] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------------------
# Quantization types


def parse_types(text: str) -> list[str]:
    """'q4_k_m, Q8_0' -> ['Q4_K_M', 'Q8_0'], validated against what this pinned llama.cpp offers."""
    wanted: list[str] = []
    for raw in re.split(r"[,\s]+", text.strip()):
        if not raw:
            continue
        name = ALIASES.get(raw.upper(), raw.upper())
        if name in IMATRIX_TYPES:
            raise ScriptError(f"Quantization type {raw!r} needs an importance matrix (imatrix), which this script does "
                              f"not compute. Pick one of: {', '.join(SUPPORTED_TYPES)}.")
        if name not in SUPPORTED_TYPES:
            raise ScriptError(f"Unknown quantization type {raw!r}. Supported (llama.cpp from llama-cpp-python "
                              f"{LLAMA_CPP_PYTHON_VERSION}): {', '.join(SUPPORTED_TYPES)}.")
        if name not in wanted:
            wanted.append(name)
    if not wanted:
        raise ScriptError(f"No quantization type given. Pick from: {', '.join(SUPPORTED_TYPES)}.")
    return wanted


# --------------------------------------------------------------------------------------------------------------------
# The pinned llama.cpp tools: source (converter + gguf-py) and llama-quantize, cached between runs


def tools_root(override: str | None = None) -> Path:
    """Cache folder of this pinned llama.cpp: --llama_cpp_dir, $HF_TRAINER_LLAMA_CPP_DIR, or the tool's home."""
    base = override or os.environ.get(TOOLS_ENV)
    if not base:
        home = os.environ.get("HF_TRAINER_HOME") or str(Path.home() / ".cache" / "hf-trainer")
        base = str(Path(home) / "llama.cpp")
    return Path(base).expanduser().resolve() / f"llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}"


@contextlib.contextmanager
def locked(root: Path):
    """One process at a time prepares a cache folder (parallel tests and runs share one build)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w", encoding="utf-8") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; concurrent first runs there just do the work twice
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sdist_url() -> str:
    """The sdist's download URL from the package index's JSON simple API (PEP 691)."""
    index = (os.environ.get("UV_INDEX_URL") or os.environ.get("PIP_INDEX_URL") or PYPI_SIMPLE).rstrip("/")
    if not index.startswith(("http://", "https://")):
        index = PYPI_SIMPLE
    request = urllib.request.Request(f"{index}/llama-cpp-python/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    name = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
    for item in files:
        if item["filename"] == name:
            return item["url"]
    raise ScriptError(f"{name} is not on the package index {index}. Set PIP_INDEX_URL to an index that has it.")


def ensure_source(root: Path) -> Path:
    """The vendored llama.cpp tree (convert_hf_to_gguf.py, conversion/, gguf-py/, C++ source), fetched once."""
    source = root / "source"
    if (source / "convert_hf_to_gguf.py").is_file():
        return source
    log(f"fetching llama.cpp (vendored in llama-cpp-python {LLAMA_CPP_PYTHON_VERSION}) into {root}")
    try:
        url = _sdist_url()
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            archive = Path(tmp) / "sdist.tar.gz"
            digest = hashlib.sha256()
            with urllib.request.urlopen(url, timeout=300) as response, archive.open("wb") as out:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != LLAMA_CPP_PYTHON_SHA256:
                raise ScriptError(f"The downloaded llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} sdist has sha256 "
                                  f"{digest.hexdigest()}, not the pinned {LLAMA_CPP_PYTHON_SHA256}. Refusing to use it.")
            prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/"
            staging = Path(tmp) / "llama.cpp"
            with tarfile.open(archive) as tar:
                members = []
                for member in tar.getmembers():
                    if member.name.startswith(prefix) and len(member.name) > len(prefix):
                        member.name = member.name[len(prefix):]
                        members.append(member)
                tar.extractall(staging, members=members, filter="data")
            staging.rename(source)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ScriptError(f"Could not fetch the pinned llama.cpp source (llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} "
                          f"sdist from the package index): {exc}. Check the network, or run once where PyPI is "
                          f"reachable and point {TOOLS_ENV} at that cache.") from exc
    return source


def _find_cmake() -> str | None:
    # The PEP 723 header installs the cmake wheel; its binary sits beside this interpreter.
    beside = Path(sys.executable).parent / "cmake"
    return shutil.which("cmake") or (str(beside) if beside.is_file() else None)


def ensure_quantize(root: Path, source: Path, explicit: str | None = None) -> tuple[Path, float | None]:
    """Path of llama-quantize and the seconds spent building it now (None when cached or given)."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ScriptError(f"--llama_quantize {explicit!r} is not an executable file.")
        return path, None
    binary = root / "bin" / "llama-quantize"
    if binary.is_file():
        return binary, None
    cmake = _find_cmake()
    compiler = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not cmake or not compiler:
        missing = " and ".join(name for name, found in (("cmake", cmake), ("a C++ compiler", compiler)) if not found)
        raise ScriptError(f"K-quant types need llama.cpp's llama-quantize, built here from the pinned source, but this "
                          f"machine has no {missing}. Install them (Debian/Ubuntu: apt-get install -y cmake g++), pass "
                          f"--llama_quantize /path/to/llama-quantize, or ask only for {', '.join(CONVERTER_TYPES)}.")
    build = root / "build"
    log_path = root / "build.log"
    jobs = str(min(usable_cpus(), 16))
    log(f"building llama-quantize from the pinned source with cmake (-j {jobs}; a few minutes, once); log: {log_path}")
    started = time.time()
    configure = [cmake, "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF",
                 "-DGGML_NATIVE=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
                 "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_UI=OFF",
                 "-DLLAMA_USE_PREBUILT_UI=OFF"]
    with log_path.open("w", encoding="utf-8") as out:
        for command in (configure, [cmake, "--build", str(build), "--target", "llama-quantize", "-j", jobs]):
            if subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
                raise ScriptError("Building llama-quantize failed; the end of " + str(log_path) + ":\n" +
                                  "\n".join(tail))
    built = next((p for p in (build / "bin" / "llama-quantize", build / "llama-quantize") if p.is_file()), None)
    if built is None:
        raise ScriptError(f"cmake finished but no llama-quantize binary appeared under {build}; see {log_path}.")
    binary.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, binary)
    shutil.rmtree(build, ignore_errors=True)  # the object files are large; only the static binary is kept
    return binary, time.time() - started


def prepare_tools(args: argparse.Namespace, need_quantize: bool) -> dict:
    root = tools_root(args.llama_cpp_dir)
    with locked(root):
        source = ensure_source(root)
        quantize, seconds = ensure_quantize(root, source, args.llama_quantize) if need_quantize else (None, None)
    return {"root": str(root), "source": source, "llama_quantize": str(quantize) if quantize else None,
            "llama_quantize_build_seconds": round(seconds, 1) if seconds is not None else None}


# --------------------------------------------------------------------------------------------------------------------
# Input: a LoRA adapter or a full model, local or from the Hub


def hub_api():
    from huggingface_hub import HfApi

    # An explicit client: HF_ENDPOINT is honoured and the token comes only from the environment.
    return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=os.environ.get("HF_TOKEN") or None)


def resolve_folder(name: str, what: str) -> Path:
    """A local folder, or a Hub repo downloaded (weights, configs, tokenizer) into the HF cache."""
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ScriptError(f"{what} {name!r} is a file; give the folder that holds it.")
        return path.resolve()
    looks_local = name.startswith((".", "/", "~")) or name.count("/") > 1 or not HUB_ID.match(name)
    if looks_local:
        raise ScriptError(f"{what} {name!r} does not exist. Give an existing folder or a Hub repo id (owner/name).")
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    log(f"downloading {name} from the Hub")
    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
    try:
        api = hub_api()
        info = api.model_info(name)
        wanted = [s.rfilename for s in info.siblings or [] if any(fnmatch.fnmatch(s.rfilename, p) for p in patterns)]
        if not wanted:
            raise ScriptError(f"The Hub repo {name!r} has no model or adapter files (config, safetensors, tokenizer).")
        # Files land in one snapshot folder of the HF cache; its root is the local model folder.
        paths = [Path(api.hf_hub_download(repo_id=name, filename=f, revision=info.sha)) for f in wanted]
        return paths[0].parents[len(Path(wanted[0]).parts) - 1]
    except RepositoryNotFoundError as exc:
        raise ScriptError(f"{what} {name!r} is neither a local folder nor a Hub repo you can read. Check the name, "
                          f"and set HF_TOKEN for a private repo.") from exc
    except (HfHubHTTPError, OSError) as exc:
        raise ScriptError(f"Could not download {name!r} from the Hub: {exc}") from exc


def has_weights(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))


def classify(folder: Path, name: str) -> str:
    if (folder / "adapter_config.json").is_file():
        return "adapter"
    if (folder / "config.json").is_file() and has_weights(folder):
        return "model"
    found = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "nothing"
    raise ScriptError(f"{name!r} holds neither a LoRA adapter (adapter_config.json) nor a model (config.json and "
                      f"*.safetensors weights); it has: {found}. Point --model_name_or_path at a training output "
                      f"folder or a model repo.")


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


def resolve_dtype(requested: str, config_folder: Path) -> str:
    if requested != "auto":
        return requested
    config = json.loads((config_folder / "config.json").read_text(encoding="utf-8"))
    found = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    return found if found in DTYPES else "float32"


def refuse_vision_model(config_folder: Path, name: str) -> None:
    """Vision-language models are refused, before anything is loaded or downloaded.

    The pinned llama.cpp converter can write the language model plus a separate projector file (`--mmproj`, for some
    families such as SmolVLM/Idefics3), but this script verifies every file against the HF model and publishes only
    verified ones, and its check (greedy text and log-probabilities through xllamacpp) is text-only: an image-conditioned
    comparison is not built. An unverified export would break the promise, so the script says so instead."""
    config = json.loads((config_folder / "config.json").read_text(encoding="utf-8"))
    if not (config.get("vision_config") or config.get("vision_tower") or config.get("mm_vision_tower")):
        return
    architecture = ", ".join(config.get("architectures") or []) or config.get("model_type") or "unknown"
    raise ScriptError(
        f"{name!r} is a vision-language model ({architecture}: config.json has a vision tower). convert_to_gguf.py "
        "exports and verifies text models only: llama.cpp runs a vision model as two files (the language model GGUF "
        "and an mmproj projector GGUF), and this script cannot yet check image-conditioned generation against the HF "
        "model, so it publishes nothing unverified. To export anyway, run llama.cpp's convert_hf_to_gguf.py on the "
        "(merged) model twice, once plainly and once with --mmproj, and test both with llama-mtmd-cli.")


def resolve_input(args: argparse.Namespace) -> dict:
    """Find the input (and an adapter's base) and say what it is, before anything heavy happens."""
    folder = resolve_folder(args.model_name_or_path, "--model_name_or_path")
    kind = classify(folder, args.model_name_or_path)
    if kind == "model":
        refuse_vision_model(folder, args.model_name_or_path)
        return {"folder": folder, "kind": kind, "base": None, "base_folder": None}
    adapter_config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    base_name = args.base_model_name_or_path or adapter_config.get("base_model_name_or_path")
    if not base_name:
        raise ScriptError(f"The adapter in {folder} does not name its base model (base_model_name_or_path is empty "
                          "in adapter_config.json). Pass --base_model_name_or_path.")
    base_folder = resolve_folder(base_name, "The adapter's base model")
    if not ((base_folder / "config.json").is_file() and has_weights(base_folder)):
        raise ScriptError(f"The adapter's base model {base_name!r} ({base_folder}) is not a model folder (no "
                          "config.json with weights). Pass --base_model_name_or_path.")
    refuse_vision_model(base_folder, base_name)
    return {"folder": folder, "kind": kind, "base": base_name, "base_folder": base_folder}


def load_model(args: argparse.Namespace, found: dict, work: Path) -> dict:
    """Load the HF model (merging an adapter into its base) and return what conversion and verification need."""
    # Heavy imports here, so --help and argument errors are instant.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, kind, base_name, base_folder = found["folder"], found["kind"], found["base"], found["base_folder"]
    if kind == "adapter":
        dtype = resolve_dtype(args.dtype, base_folder)
        tokenizer_folder = folder if (folder / "tokenizer_config.json").is_file() else base_folder
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
        log(f"merging the adapter into {base_name} ({dtype})")
        model = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch_dtype(dtype))
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer))
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, folder).merge_and_unload()
        convert_folder = work / "merged"
        model.save_pretrained(convert_folder)
        tokenizer.save_pretrained(convert_folder)
    else:
        dtype = resolve_dtype(args.dtype, folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype(dtype))
        convert_folder = folder
    model.eval()
    return {"folder": folder, "kind": kind, "base": base_name, "dtype": dtype, "tokenizer": tokenizer,
            "model": model, "convert_folder": convert_folder}


# --------------------------------------------------------------------------------------------------------------------
# Conversion


def fallback_pre_tokenizer(folder: Path, requested: str) -> str:
    """The pre-tokenizer to use if llama.cpp does not recognise this tokenizer's hash ('' = none: fail)."""
    if requested != "auto":
        return requested
    path = folder / "tokenizer.json"
    if not path.is_file():
        return ""
    pre = json.loads(path.read_text(encoding="utf-8")).get("pre_tokenizer") or {}
    # Plain byte-level BPE (GPT-2 style, default regex) is exactly llama.cpp's "gpt-2" pre-tokenizer.
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"
    return ""


def run_converter(source: Path, folder: Path, outfile: Path, outtype: str, fallback: str, log_path: Path) -> None:
    command = [sys.executable, "-c", CONVERTER_RUNNER, str(source), fallback, str(folder),
               "--outfile", str(outfile), "--outtype", outtype]
    with log_path.open("a", encoding="utf-8") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode == 0 and outfile.is_file():
        return
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if "BPE pre-tokenizer was not recognized" in text:
        raise ScriptError("llama.cpp's converter does not recognise this tokenizer's BPE pre-tokenizer. If it is a "
                          "byte-level BPE like GPT-2's, pass --pre_tokenizer gpt-2 (or the name of the family it "
                          "derives from, e.g. llama-bpe, qwen2); verification will check the tokenization.")
    unsupported = re.search(r"Model (\S+) is not supported", text)
    if unsupported:
        raise ScriptError(f"llama.cpp's converter (llama-cpp-python {LLAMA_CPP_PYTHON_VERSION}) does not support "
                          f"the architecture {unsupported.group(1)}.")
    tail = "\n".join(text.splitlines()[-12:])
    raise ScriptError(f"The converter failed ({outtype}); the end of {log_path}:\n{tail}")


def run_quantize(binary: Path, intermediate: Path, outfile: Path, qtype: str, log_path: Path) -> None:
    command = [str(binary), str(intermediate), str(outfile), qtype, str(usable_cpus())]
    with log_path.open("a", encoding="utf-8") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0 or not outfile.is_file():
        tail = "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-12:])
        raise ScriptError(f"llama-quantize failed for {qtype}; the end of {log_path}:\n{tail}")


def convert_all(loaded: dict, types: list[str], tools: dict, args: argparse.Namespace, output_dir: Path,
                work: Path, name: str) -> tuple[dict[str, Path], str]:
    fallback = fallback_pre_tokenizer(loaded["convert_folder"], args.pre_tokenizer)
    log_path = work / "convert.log"
    files: dict[str, Path] = {}
    for qtype in types:
        if qtype in CONVERTER_TYPES:
            files[qtype] = output_dir / f"{name}-{qtype}.gguf"
            log(f"converting to {qtype}")
            run_converter(tools["source"], loaded["convert_folder"], files[qtype], CONVERTER_TYPES[qtype], fallback,
                          log_path)
    quantized = [t for t in types if t not in CONVERTER_TYPES]
    if quantized:
        # Quantize from the most precise file already made, else from the model's own precision.
        source_type = next((t for t in ("F32", "BF16", "F16") if t in files), None)
        if source_type:
            intermediate = files[source_type]
        else:
            outtype = "bf16" if loaded["dtype"] == "bfloat16" else "f16"
            intermediate = work / f"{name}-{outtype.upper()}.gguf"
            log(f"converting to {outtype.upper()} (intermediate for llama-quantize)")
            run_converter(tools["source"], loaded["convert_folder"], intermediate, outtype, fallback, log_path)
        for qtype in quantized:
            files[qtype] = output_dir / f"{name}-{qtype}.gguf"
            log(f"quantizing to {qtype}")
            run_quantize(Path(tools["llama_quantize"]), intermediate, files[qtype], qtype, log_path)
    return {t: files[t] for t in types}, fallback


# --------------------------------------------------------------------------------------------------------------------
# Verification: the HF model is the reference; llama.cpp (xllamacpp) runs each file


def verification_prompt(tokenizer, prompt: str) -> tuple[str, list[int]]:
    """The prompt text and the ids the HF model is fed (chat template applied when the tokenizer has one)."""
    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    else:
        text = prompt
        ids = tokenizer(text)["input_ids"]
    return text, list(ids)


def hf_reference(model, tokenizer, prompt_ids: list[int], max_new_tokens: int) -> tuple[list[int], "object"]:
    """HF greedy continuation and the log-probabilities of every next token along it (teacher forced)."""
    import torch

    with torch.no_grad():
        inputs = torch.tensor([prompt_ids])
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        out = model.generate(inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=pad)
        generated = out[0, len(prompt_ids):].tolist()
        full = torch.tensor([prompt_ids + generated])
        logits = model(full).logits[0, len(prompt_ids) - 1: len(prompt_ids) - 1 + len(generated)]
        logprobs = torch.log_softmax(logits.float(), dim=-1).numpy()
    return generated, logprobs


def _post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    # Generous: a 7B model on a few CPU cores takes seconds per request, a 70B one much longer.
    with urllib.request.urlopen(request, timeout=1800) as response:
        return json.load(response)


def incomplete_utf8_tokens(tokenizer) -> list[int]:
    """Ids whose text alone is not complete UTF-8 (single bytes of a multi-byte character)."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return [i for i, text in enumerate(texts) if "\ufffd" in text]


def verify_file(path: Path, qtype: str, prompt_text: str, prompt_ids: list[int], tokenizer, reference: list[int],
                ref_logprobs, banned: list[int], args: argparse.Namespace) -> dict:
    """Load one GGUF in llama.cpp; compare tokenization, greedy tokens and logprobs with the HF reference."""
    import xllamacpp

    min_top1, max_diff = THRESHOLDS[qtype]
    if args.min_top1_agreement is not None:
        min_top1 = args.min_top1_agreement
    if args.max_logprob_diff is not None:
        max_diff = args.max_logprob_diff
    result: dict = {"quantization": qtype, "file": path.name, "size_bytes": path.stat().st_size, "loaded": False,
                    "min_top1_agreement": min_top1, "max_mean_logprob_diff": max_diff}
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_ctx = max(256, len(prompt_ids) + len(reference) + 16)
    params.n_parallel = 1
    params.warmup = False
    threads = max(1, min(args.threads or usable_cpus(), 16))
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    try:
        server = xllamacpp.Server(params)
    except (RuntimeError, ValueError) as exc:
        result.update(passed=False, reason=f"llama.cpp could not load the file: {exc}")
        return result
    result["loaded"] = True
    try:
        # Tokenizer equivalence on the prompt text (special tokens parsed, no BOS added on either side).
        try:
            tokenized = _post_json(server.listening_address + "/tokenize",
                                   {"content": prompt_text, "add_special": False, "parse_special": True})["tokens"]
            hf_tokens = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
            result["tokenizer_match"] = list(tokenized) == list(hf_tokens)
        except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            result["tokenizer_match"] = None
            result["tokenizer_check_skipped"] = str(exc)
        completion = server.listening_address + "/completion"
        # Free-running greedy generation from the same prompt ids.
        greedy = _post_json(completion, {"prompt": prompt_ids, "n_predict": len(reference), "temperature": 0,
                                         "return_tokens": True, "cache_prompt": True})
        generated = [int(token) for token in greedy["tokens"]][: len(reference)]
        matched = 0
        for ours, theirs in zip(generated, reference):
            if ours != theirs:
                break
            matched += 1
        result.update(greedy_tokens=generated, greedy_match_tokens=matched,
                      greedy_identical=generated == reference, greedy_text=tokenizer.decode(generated))
        # Teacher forcing: the next-token distribution at every prefix of the HF continuation. llama-server drops
        # the probabilities of a sampled token that ends in an incomplete UTF-8 sequence, so such tokens are banned
        # from sampling; the reported top-k log-probabilities are the raw ones, before any bias.
        agree, diffs = 0, []
        for i in range(len(reference)):
            step = _post_json(completion, {"prompt": prompt_ids + reference[:i], "n_predict": 1, "temperature": 0,
                                           "n_probs": args.top_k, "cache_prompt": True,
                                           "logit_bias": [[t, False] for t in banned]})
            top = step["completion_probabilities"][0]["top_logprobs"]
            agree += int(top[0]["id"] == int(ref_logprobs[i].argmax()))
            diffs += [abs(item["logprob"] - float(ref_logprobs[i][item["id"]])) for item in top]
        positions = len(reference)
        result.update(positions=positions, top1_agreement=round(agree / positions, 4) if positions else None,
                      mean_abs_logprob_diff=round(sum(diffs) / len(diffs), 5) if diffs else None,
                      max_abs_logprob_diff=round(max(diffs), 5) if diffs else None)
    except (urllib.error.URLError, OSError, RuntimeError, ValueError, KeyError, IndexError) as exc:
        result.update(passed=False, reason=f"llama.cpp failed to generate with the file: {exc}")
        return result
    finally:
        del server
        gc.collect()
    reasons = []
    if result.get("tokenizer_match") is False:
        reasons.append("llama.cpp tokenizes the prompt differently from the HF tokenizer (wrong pre-tokenizer?)")
    if not positions:
        reasons.append("the HF model generated no token to compare")
    elif result["top1_agreement"] < min_top1:
        reasons.append(f"top-1 agreement {result['top1_agreement']:.2f} < {min_top1}")
    if diffs and result["mean_abs_logprob_diff"] > max_diff:
        reasons.append(f"mean |logprob diff| {result['mean_abs_logprob_diff']:.4f} > {max_diff}")
    result["passed"] = not reasons
    if reasons:
        result["reason"] = "; ".join(reasons)
    return result


# --------------------------------------------------------------------------------------------------------------------
# Model card, Ollama Modelfile, publishing


def _render(tokenizer, messages: list[dict], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt,
                                         bos_token="")


def ollama_template(tokenizer) -> str | None:
    """The model's chat template as an Ollama (Go) template, or None when it cannot be expressed faithfully.

    The Jinja template is rendered with sentinel messages to find each role's prefix and suffix and the generation
    prompt; the result is checked by re-rendering a conversation both ways.
    """
    if not tokenizer.chat_template:
        return None
    import jinja2

    s, u1, a1, u2 = "\x00S\x00", "\x00U1\x00", "\x00A1\x00", "\x00U2\x00"
    try:
        convo = _render(tokenizer, [{"role": "user", "content": u1}, {"role": "assistant", "content": a1},
                                    {"role": "user", "content": u2}], False)
        with_prompt = _render(tokenizer, [{"role": "user", "content": u1}, {"role": "assistant", "content": a1},
                                          {"role": "user", "content": u2}], True)
        with_system = _render(tokenizer, [{"role": "system", "content": s}, {"role": "user", "content": u1}], False)
    except (jinja2.TemplateError, ValueError, TypeError, KeyError, IndexError):
        return None  # a template that refuses these sentinel conversations: no TEMPLATE line
    if not with_prompt.startswith(convo):
        return None
    gen_prompt = with_prompt[len(convo):]
    head, rest = convo.split(u1, 1)
    user_then_assistant, rest = rest.split(a1, 1)
    between, user_suffix = rest.split(u2, 1)
    # Between an assistant turn and the next user turn: the assistant's suffix, then the user's prefix. Most
    # templates end every turn the same way, so try "same suffix as the user's" first; else the longest text the
    # preamble and this gap end with.
    if between.startswith(user_suffix) and head.endswith(between[len(user_suffix):]) and between != user_suffix:
        prefix_user = between[len(user_suffix):]
    else:
        prefix_user = os.path.commonprefix([head[::-1], between[::-1]])[::-1]
    if not prefix_user or not user_then_assistant.startswith(user_suffix):
        return None
    preamble = head[: len(head) - len(prefix_user)]
    prefix_assistant = user_then_assistant[len(user_suffix):]
    suffix_assistant = between[: len(between) - len(prefix_user)]
    sys_head, sys_rest = with_system.split(s, 1)
    sys_between = sys_rest.split(u1, 1)[0]
    if not sys_between.endswith(prefix_user):
        return None
    prefix_system, suffix_system = sys_head, sys_between[: len(sys_between) - len(prefix_user)]
    pieces = {"preamble": preamble, "prefix_system": prefix_system, "suffix_system": suffix_system,
              "prefix_user": prefix_user, "suffix_user": user_suffix, "prefix_assistant": prefix_assistant,
              "suffix_assistant": suffix_assistant, "gen_prompt": gen_prompt}
    if any("{{" in value or "}}" in value for value in pieces.values()):
        return None
    # Self-check: the pieces must reproduce the Jinja output of a conversation with a system message.
    check = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
             {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}]
    rebuilt = (prefix_system + "Be brief." + suffix_system + prefix_user + "Hi" + user_suffix + prefix_assistant +
               "Hello." + suffix_assistant + prefix_user + "Bye" + user_suffix + gen_prompt)
    if rebuilt != _render(tokenizer, check, True):
        return None
    # No whitespace-trimming markers ({{- ... -}}): the pieces often end in a newline that must stay.
    return (
        ("{{ if not .System }}" + preamble + "{{ end }}" if preamble else "") +
        "{{ range .Messages }}"
        "{{ if eq .Role \"system\" }}" + prefix_system + "{{ .Content }}" + suffix_system +
        "{{ else if eq .Role \"user\" }}" + prefix_user + "{{ .Content }}" + user_suffix +
        "{{ else if eq .Role \"assistant\" }}" + prefix_assistant + "{{ .Content }}" + suffix_assistant +
        "{{ end }}{{ end }}" + gen_prompt
    )


def _go_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def write_modelfile(path: Path, gguf_name: str, tokenizer) -> dict:
    template = ollama_template(tokenizer)
    lines = [f"# Ollama Modelfile: ollama create <name> -f Modelfile", f"FROM ./{gguf_name}", ""]
    if template is not None:
        lines += ['TEMPLATE """' + template.replace('"""', '\\"\\"\\"') + '"""', ""]
    else:
        lines += ["# The chat template could not be expressed as an Ollama template; Ollama reads the one stored",
                  "# in the GGUF file (tokenizer.chat_template) instead.", ""]
    stops = []
    for token in (tokenizer.eos_token, getattr(tokenizer, "pad_token", None)):
        if token and token not in stops and token != tokenizer.bos_token:
            stops.append(token)
    lines += [f"PARAMETER stop {_go_string(token)}" for token in stops[:1]]
    lines += ["PARAMETER temperature 0.7", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return {"path": str(path), "from": gguf_name, "template": template is not None}


def _size(num: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num < 1000 or unit == "GB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1000
    return f"{num:.1f} GB"


def _hub_id(name: str | None) -> str | None:
    """`name` when it names a Hub repo rather than a local folder (the card links and cites only those)."""
    if not name or Path(name).expanduser().exists() or name.startswith((".", "/", "~")) or not HUB_ID.match(name):
        return None
    return name


def _source_link(name: str) -> str:
    return f"[{name}](https://huggingface.co/{name})" if _hub_id(name) else f"`{Path(name).name}` (a local folder)"


def write_model_card(path: Path, summary: dict, repo_id: str | None, modelfile_gguf: str, name: str) -> None:
    repo = repo_id or "<you>/<repo>"
    # base_model must be a Hub id (the Hub rejects paths): the fine-tune itself if it is on the Hub, else its base.
    base = _hub_id(summary["model_name_or_path"]) or _hub_id(summary.get("base_model_name_or_path"))
    front = f"base_model: {base}\n" if base else ""
    merged_into = summary.get("base_model_name_or_path")
    rows = []
    for item in summary["files"]:
        agreement = "-" if item.get("top1_agreement") is None else f"{item['top1_agreement']:.0%}"
        diff = "-" if item.get("mean_abs_logprob_diff") is None else f"{item['mean_abs_logprob_diff']:.4f}"
        greedy = f"{item.get('greedy_match_tokens', 0)}/{item.get('positions', 0)}"
        rows.append(f"| {item['file']} | {item['quantization']} | {_size(item['size_bytes'])} | {agreement} | {diff} "
                    f"| {greedy} | {'passed' if item['passed'] else 'FAILED: ' + item.get('reason', '')} |")
    first = modelfile_gguf
    qtag = first.rsplit("-", 1)[-1].removesuffix(".gguf")
    adapter_line = (f"The LoRA adapter was merged into {_source_link(merged_into)} first.\n"
                    if summary["kind"] == "adapter" and merged_into else "")
    card = f"""---
{front}tags:
- gguf
- llama.cpp
- hf-trainer
---

# {repo.split('/')[-1] if repo_id else name + ' GGUF'}

GGUF files of {_source_link(summary['model_name_or_path'])} made with llama.cpp's converter
(pinned: llama-cpp-python {LLAMA_CPP_PYTHON_VERSION}'s vendored llama.cpp) by hf-trainer's `convert_to_gguf.py`.
{adapter_line}
## Files and verification

Every file was loaded in llama.cpp (xllamacpp {summary['llama_cpp']['xllamacpp']}) before publishing and compared with
the Hugging Face model ({summary['dtype']}) on the same prompt: **top-1** is how often llama.cpp's most likely next
token equals the HF model's along the HF greedy continuation ({summary['verification']['positions']} positions),
**mean |Δ logprob|** the mean absolute difference of the top-{summary['verification']['top_k']} log-probabilities
(nats), **greedy** how many greedy tokens match before the first difference.

| File | Type | Size | Top-1 | Mean \\|Δ logprob\\| | Greedy | Status |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

## Use

llama.cpp:
```bash
llama-cli -hf {repo}:{qtag} -p "Hello"
llama-server -hf {repo}:{qtag}        # OpenAI-compatible server on :8080
```

Ollama:
```bash
ollama run hf.co/{repo}:{qtag}
# or with the bundled Modelfile (chat template and stop token set):
hf download {repo} {first} Modelfile --local-dir . && ollama create {repo.split('/')[-1].lower()} -f Modelfile
```

LM Studio: search for `{repo}` in the Discover tab, or `lms get {repo}`, and pick a file from the table.
"""
    path.write_text(card, encoding="utf-8")


def publish(output_dir: Path, files: list[Path], repo_id: str, private: bool) -> str:
    """Create the repo (private unless asked otherwise) and add the files, card and Modelfile in one commit."""
    from huggingface_hub import CommitOperationAdd, get_token
    from huggingface_hub.errors import HfHubHTTPError

    if not (os.environ.get("HF_TOKEN") or get_token()):
        raise ScriptError("Publishing needs a Hugging Face token: set HF_TOKEN (on Jobs: --secrets HF_TOKEN).")
    api = hub_api()
    paths = [*files, output_dir / "README.md", output_dir / "Modelfile", output_dir / "verification.json"]
    try:
        url = api.create_repo(repo_id=repo_id, private=private, exist_ok=True, repo_type="model")
        api.create_commit(repo_id=repo_id, repo_type="model",
                          operations=[CommitOperationAdd(path_in_repo=p.name, path_or_fileobj=str(p)) for p in paths],
                          commit_message="Add verified GGUF files (hf-trainer convert_to_gguf.py)")
    except HfHubHTTPError as exc:
        raise ScriptError(f"Publishing to {repo_id!r} failed: {exc}. Check that HF_TOKEN may write to it.") from exc
    return str(url)


# --------------------------------------------------------------------------------------------------------------------


def render_text(summary: dict) -> str:
    lines = [f"GGUF conversion of {summary['model_name_or_path']} ({summary['kind']}, {summary['dtype']})"]
    for item in summary["files"]:
        status = "passed" if item["passed"] else f"FAILED ({item.get('reason', '')})"
        agreement = item.get("top1_agreement")
        lines.append(f"  {item['quantization']:<7} {_size(item['size_bytes']):>9}  top-1 "
                     f"{'-' if agreement is None else f'{agreement:.0%}'}  mean|dlogp| "
                     f"{item.get('mean_abs_logprob_diff', '-')}  greedy {item.get('greedy_match_tokens', 0)}/"
                     f"{item.get('positions', 0)}  {status}")
    lines.append(f"  files: {summary['output_dir']}")
    if summary["published"]:
        lines.append(f"  published: {summary['hub_url']} ({'private' if summary['hub_private_repo'] else 'public'})")
    elif summary.get("publish_skipped"):
        lines.append(f"  not published: {summary['publish_skipped']}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model_name_or_path", help="LoRA adapter or full model: a local folder or a Hub repo id.")
    parser.add_argument("--base_model_name_or_path", help="Base model of an adapter (default: adapter_config.json's).")
    parser.add_argument("--quantization_types", default="F16,Q8_0,Q4_K_M",
                        help=f"Comma-separated GGUF types. Supported: {', '.join(SUPPORTED_TYPES)}.")
    parser.add_argument("--dtype", choices=["auto", *DTYPES], default="auto",
                        help="Precision to load and merge in (auto: the model's config).")
    parser.add_argument("--output_dir", help="Where the files go (default: gguf/<model_name>).")
    parser.add_argument("--model_name", help="File name stem, e.g. my-model -> my-model-Q4_K_M.gguf.")
    parser.add_argument("--pre_tokenizer", default="auto",
                        help="llama.cpp pre-tokenizer to use if the tokenizer's hash is unknown (auto: gpt-2 for "
                             "plain byte-level BPE, else fail).")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="Verification prompt (chat template applied).")
    parser.add_argument("--max_new_tokens", type=int, default=16, help="Tokens compared per file.")
    parser.add_argument("--top_k", type=int, default=5, help="Log-probabilities compared per position.")
    parser.add_argument("--min_top1_agreement", type=float, help="Override the per-type top-1 agreement floor.")
    parser.add_argument("--max_logprob_diff", type=float, help="Override the per-type mean |logprob diff| ceiling.")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: all cores, at most 16).")
    parser.add_argument("--push_to_hub", action="store_true", help="Publish the verified files to the Hub.")
    parser.add_argument("--hub_model_id", help="Target repo, e.g. <you>/my-model-GGUF.")
    parser.add_argument("--hub_private_repo", action=argparse.BooleanOptionalAction, default=True,
                        help="Create the repo private (default) or public (--no-hub_private_repo).")
    parser.add_argument("--llama_cpp_dir", help=f"Cache folder of the pinned llama.cpp tools (default: ${TOOLS_ENV} "
                                                "or ~/.cache/hf-trainer/llama.cpp).")
    parser.add_argument("--llama_quantize", help="Use this llama-quantize binary instead of building one.")
    parser.add_argument("--setup_only", action="store_true",
                        help="Only fetch the converter and build llama-quantize into the cache, then exit.")
    parser.add_argument("--keep_intermediate", action="store_true", help="Keep the merged model and work files.")
    parser.add_argument("--json", action="store_true", help="Print one JSON summary on stdout.")
    args = parser.parse_args(argv)
    if not args.setup_only and not args.model_name_or_path:
        parser.error("--model_name_or_path is required (or --setup_only)")
    if args.push_to_hub and not args.hub_model_id:
        parser.error("--push_to_hub needs --hub_model_id (e.g. <you>/my-model-GGUF)")
    return args


def main(args: argparse.Namespace) -> int:
    started = time.time()
    if args.setup_only:
        tools = prepare_tools(args, need_quantize=True)
        tools["source"] = str(tools["source"])
        seconds = tools["llama_quantize_build_seconds"]
        built = f"built now in {seconds} s" if seconds is not None else "cached"
        print(json.dumps(tools) if args.json else f"llama.cpp tools ready in {tools['root']} (llama-quantize: "
              f"{tools['llama_quantize']}, {built})")
        return 0
    types = parse_types(args.quantization_types)
    if args.max_new_tokens < 1 or args.top_k < 1:
        raise ScriptError("--max_new_tokens and --top_k must be at least 1.")
    name = args.model_name or (args.hub_model_id.split("/")[-1].removesuffix("-GGUF") if args.hub_model_id else
                               Path(args.model_name_or_path.rstrip("/")).name)
    found = resolve_input(args)
    output_dir = Path(args.output_dir or Path("gguf") / name).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    work = output_dir / ".work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    tools = prepare_tools(args, need_quantize=any(t not in CONVERTER_TYPES for t in types))
    loaded = load_model(args, found, work)
    tokenizer = loaded["tokenizer"]
    prompt_text, prompt_ids = verification_prompt(tokenizer, args.prompt)
    log("computing the HF reference (greedy generation and log-probabilities)")
    reference, ref_logprobs = hf_reference(loaded["model"], tokenizer, prompt_ids, args.max_new_tokens)
    files, fallback = convert_all(loaded, types, tools, args, output_dir, work, name)
    # The HF model is no longer needed: free its memory before llama.cpp loads each file.
    loaded["model"] = None
    gc.collect()

    results = []
    banned = incomplete_utf8_tokens(tokenizer)
    for qtype, path in files.items():
        log(f"verifying {path.name} in llama.cpp")
        results.append(verify_file(path, qtype, prompt_text, prompt_ids, tokenizer, reference, ref_logprobs, banned,
                                   args))
    passed = all(item["passed"] for item in results)
    import xllamacpp

    summary = {
        "model_name_or_path": args.model_name_or_path, "kind": loaded["kind"],
        "base_model_name_or_path": loaded["base"], "dtype": loaded["dtype"],
        "pre_tokenizer_fallback": fallback or None,
        "llama_cpp": {"converter": f"llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} (vendored llama.cpp)",
                      "xllamacpp": xllamacpp.__version__, "llama_quantize": tools["llama_quantize"],
                      "llama_quantize_build_seconds": tools["llama_quantize_build_seconds"]},
        "verification": {"prompt": prompt_text, "reference_tokens": reference,
                         "reference_text": tokenizer.decode(reference), "positions": len(reference),
                         "top_k": args.top_k},
        "files": results, "passed": passed, "output_dir": str(output_dir),
        "published": False, "hub_model_id": args.hub_model_id, "hub_private_repo": args.hub_private_repo,
        "hub_url": None,
    }
    preferred = next((p.name for t, p in files.items() if t == "Q4_K_M"), None) or next(iter(files.values())).name
    summary["modelfile"] = write_modelfile(output_dir / "Modelfile", preferred, tokenizer)
    write_model_card(output_dir / "README.md", summary, args.hub_model_id, preferred, name)
    summary["model_card"] = str(output_dir / "README.md")
    if not args.keep_intermediate:
        shutil.rmtree(work, ignore_errors=True)
    # The verification record published beside the files: what was checked and how it went, no local paths.
    record = {key: summary[key] for key in ("model_name_or_path", "kind", "base_model_name_or_path", "dtype",
                                            "pre_tokenizer_fallback", "verification", "files", "passed")}
    record["llama_cpp"] = {k: v for k, v in summary["llama_cpp"].items() if k in ("converter", "xllamacpp")}
    (output_dir / "verification.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    if args.push_to_hub:
        if passed:
            log(f"publishing to {args.hub_model_id} ({'private' if args.hub_private_repo else 'public'})")
            summary["hub_url"] = publish(output_dir, list(files.values()), args.hub_model_id, args.hub_private_repo)
            summary["published"] = True
        else:
            failed = ", ".join(item["quantization"] for item in results if not item["passed"])
            summary["publish_skipped"] = (f"verification failed for {failed}; nothing was published. Fix the cause "
                                          "or drop those types and run again.")
    summary["seconds"] = round(time.time() - started, 1)
    print(json.dumps(summary) if args.json else render_text(summary), flush=True)
    return 0 if passed else 1


def run_main() -> None:
    args = parse_args()
    try:
        code = main(args)
    except ScriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - top level: one line instead of a traceback, unless debugging
        if os.environ.get("HF_TRAINER_DEBUG"):
            raise
        print(f"error: unexpected failure ({type(exc).__name__}: {exc}). Re-run with HF_TRAINER_DEBUG=1 for the "
              "traceback.", file=sys.stderr)
        sys.exit(1)
    sys.exit(code)


if __name__ == "__main__":
    run_main()
