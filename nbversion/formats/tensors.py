"""Named tensors: what a version stores, checked and put in canonical form, and how two differ.

A tensor is kept as its raw C-order, little-endian bytes plus a typed entry (dtype name, shape,
byte order): the safetensors idea, with no code execution anywhere on the way back. Only plain
numeric dtypes are accepted (and the ml_dtypes ones such as bfloat16 when ml_dtypes is installed);
object, string and structured arrays are refused with a clear error.
"""

from __future__ import annotations

import functools
import math
from typing import Any, List, Mapping, Tuple

import numpy as np

from ..errors import FormatError, TensorError
from . import records  # (records imports this module too: its names are looked up when called)

NUMPY_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
}  # fmt: skip
ML_DTYPES = {
    "bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
    "float8_e4m3b11fnuz", "int4", "uint4",
}  # fmt: skip


def dtype_from_name(name: str) -> np.dtype:
    """The little-endian NumPy dtype a manifest's dtype name stands for."""
    if name in NUMPY_DTYPES:
        return np.dtype(name).newbyteorder("<")
    if name in ML_DTYPES:
        try:
            import ml_dtypes  # noqa: F401  (registers the dtypes with NumPy)
        except ImportError as exc:
            raise FormatError(f"Tensors of dtype {name} need the ml_dtypes package: pip install ml_dtypes") from exc
        return np.dtype(getattr(ml_dtypes, name))
    raise FormatError(f"Unknown tensor dtype {name!r} in a manifest.")


@functools.lru_cache(maxsize=None)  # a few dtypes, asked once per tensor: 50,000 times for some models
def dtype_name(dtype: np.dtype) -> str:
    """The manifest name of a NumPy dtype, or :class:`TensorError` for one nbversion can't store."""
    if dtype.name in NUMPY_DTYPES or dtype.name in ML_DTYPES:
        return dtype.name
    raise TensorError(f"dtype {dtype} cannot be stored: only numeric tensors are versioned.")


def as_tensor(name: str, value: Any) -> np.ndarray:
    """``value`` as a C-contiguous little-endian ndarray, or :class:`TensorError` naming ``name``.

    ``name`` follows the rule every manifest is held to (:func:`.records.tensor_name_problem`:
    a relative ``/``-separated path, nothing that could leave a folder it is joined to). A masked
    array is refused: storing its data alone would silently lose the mask."""
    problem = records.tensor_name_problem(name)
    if problem is not None:
        shown = repr(name[:100]) if isinstance(name, str) else repr(name)
        raise TensorError(f"Tensor name {shown} is not allowed: {problem}.")
    # The common case, asked 50,000 times by some models: an array of a dtype already taken.
    if type(value) is np.ndarray and value.dtype in _TAKEN and value.flags.c_contiguous:
        return value
    if isinstance(value, np.ma.MaskedArray):
        raise TensorError(
            f"Tensor {name!r} is a masked array, and its mask cannot be stored. Commit value.filled(FILL) "
            "(masked entries replaced by FILL) or value.data (the raw values under the mask)."
        )
    if isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, np.generic) or hasattr(value, "__array__"):
        array = np.asarray(value)
    else:
        raise TensorError(
            f"Value for {name!r} is a {type(value).__name__}, not a tensor. "
            "Pass NumPy arrays (or framework tensors that convert with numpy.asarray)."
        )
    if array.dtype.hasobject or array.dtype.kind in "OUSV" and array.dtype.name not in ML_DTYPES:
        raise TensorError(f"Tensor {name!r} has dtype {array.dtype}; only numeric tensors can be stored.")
    dtype_name(array.dtype)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    elif type(array) is np.ndarray:
        _TAKEN.add(array.dtype)
    return array if array.flags.c_contiguous else array.copy(order="C")


_TAKEN: set = set()  # dtypes of plain arrays that as_tensor returned as they were (not big-endian)




def prepare(tensors: Mapping[str, Any]) -> List[Tuple[str, np.ndarray]]:
    """Every tensor of ``tensors`` checked and canonical, sorted by name."""
    if not isinstance(tensors, Mapping):
        raise TensorError(f"commit() wants a mapping of name -> tensor, got {type(tensors).__name__}.")
    if not tensors:
        raise TensorError("There are no tensors to commit.")
    return [(name, as_tensor(name, tensors[name])) for name in sorted(tensors)]


#: Start of every array :func:`empty_aligned` allocates: a multiple of this (what TensorFlow's
#: kernels require of memory they are handed without a copy; it is also a cache line).
ALIGNMENT = 64


def empty_aligned(shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A new uninitialised C-order array whose data starts on an :data:`ALIGNMENT`-byte boundary
    (so a framework may adopt its memory as it is, see ``Adapter.write_donated``)."""
    size = math.prod(shape) * dtype.itemsize
    raw = np.empty(size + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + size].view(dtype).reshape(shape)


def same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays hold the same bytes (in C order), compared in slices that grow from
    4 KiB to 1 MiB, stopping at the first that differs (so two different tensors cost almost
    nothing, and equal ones one pass)."""
    fa, fb = a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8)
    if fa.size != fb.size:
        return False
    start, step = 0, 4096
    while start < fa.size:
        if not np.array_equal(fa[start : start + step], fb[start : start + step]):
            return False
        start, step = start + step, min(step * 2, 1 << 20)
    return True


def tensor_bytes(array: np.ndarray) -> memoryview:
    """The stored bytes of a canonical tensor (see :func:`as_tensor`), without a copy."""
    try:
        return memoryview(array).cast("B")
    except (ValueError, TypeError):  # dtypes with no buffer format (bfloat16, float8: ml_dtypes)
        return memoryview(array.reshape(-1).view(np.uint8))


def difference(a: np.ndarray, b: np.ndarray, step: int = 1 << 20) -> Tuple[float, float]:
    """L2 norm and max abs of ``b - a``, in float64 slices of ``step`` elements (never a
    full-size float64 copy)."""
    fa, fb = a.reshape(-1), b.reshape(-1)
    wide = np.complex128 if np.iscomplexobj(fa) or np.iscomplexobj(fb) else np.float64
    total = peak = 0.0
    for i in range(0, fa.size, step):
        mag = np.abs(fb[i : i + step].astype(wide) - fa[i : i + step])
        total += float(np.dot(mag, mag))
        if mag.size:
            peak = max(peak, float(mag.max()))
    return math.sqrt(total), peak


def max_abs_difference(a: np.ndarray, b: np.ndarray, step: int = 1 << 16) -> float:
    """max |b - a|, in slices of ``step`` elements through one reused buffer small enough to stay
    in cache (so each element is fetched from memory once), in the tensors' own floating type (at
    least float32; integers and booleans in float64)."""
    fa, fb = a.reshape(-1), b.reshape(-1)
    if fa.dtype == bool:
        fa, fb = fa.view(np.uint8), fb.view(np.uint8)
    kind = np.result_type(fa.dtype, fb.dtype)
    wide = np.result_type(kind, np.float32) if kind.kind in "fc" else np.dtype(np.float64)
    buf = np.empty(min(step, fa.size), wide)
    real = np.empty(buf.shape, buf.real.dtype) if wide.kind == "c" else buf  # |complex| is real
    peak = 0.0
    for i in range(0, fa.size, step):
        n = min(step, fa.size - i)
        out = buf[:n]
        np.subtract(fb[i : i + n], fa[i : i + n], out=out, dtype=wide)
        mag = np.abs(out, out=real[:n])
        peak = max(peak, float(mag.max()))
    return peak
