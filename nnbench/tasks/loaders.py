"""Readers of the local dataset formats: MNIST IDX files, CIFAR-10 pickle batches, CSV and Parquet tables.

Every reader checks what it reads; a missing, truncated or malformed file is one
:class:`~nnbench.errors.DataError` that names the file and says what was expected. CIFAR-10 batches are
pickles, and unpickling can run arbitrary code, so they are read with :class:`RestrictedUnpickler`, which
builds numpy arrays and nothing else.
"""

from __future__ import annotations

import codecs
import functools
import gzip
import io
import math
import pickle
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnbench.errors import DataError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import pandas as pd

# IDX type byte -> numpy dtype (big-endian), after LeCun's format description on the MNIST page.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
CIFAR_FOLDER = "cifar-10-batches-py"  # the folder the official archive unpacks to
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_PIXELS = 3 * 32 * 32
MAX_CATEGORIES = 100  # distinct values a text column may have before one-hot encoding it is refused


def find_file(folder: Path, names: Sequence[str], what: str) -> Path:
    """The first of ``names`` that is a file in ``folder``; otherwise a DataError naming what was expected."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (expected {what})")
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: missing {what}: expected a file named {' or '.join(names)}")


# -- MNIST-style IDX files ------------------------------------------------------------------------


def idx_names(stem: str) -> tuple[str, ...]:
    """The accepted names of one IDX file: ``stem``, ``stem.gz`` and the ``.idx`` spelling some mirrors use."""
    dotted = stem.replace("-idx", ".idx")
    return (stem, f"{stem}.gz", dotted, f"{dotted}.gz")


def read_idx(path: Path) -> np.ndarray:
    """The array held by IDX file ``path`` (gzipped when its name ends in ``.gz``), checked against its header.

    Header: two zero bytes, a type byte (0x08 unsigned byte, ...), the number of dimensions, then each
    dimension as a big-endian 32-bit count; the data must fill the rest of the file exactly.
    """
    import numpy as np

    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file (expected an IDX file)") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: not a readable {'gzip ' if path.suffix == '.gz' else ''}file ({exc})"
        ) from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in IDX_TYPES:
        raise DataError(
            f"{path}: not an IDX file (expected two zero bytes, a type byte and a dimension count; "
            f"found {raw[:4].hex() or 'an empty file'})"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header (expected {ndim} dimension sizes, {header} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{path}: {'truncated' if len(raw) < expected else 'over-long'} IDX file: its header says shape "
            f"{shape} of {dtype.name}, {expected} bytes, but the file has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx_pair(folder: Path, prefix: str, *, image_shape: tuple[int, int], num_classes: int = 10):
    """Images ``(N, H, W)`` uint8 and labels ``(N,)`` int64 from ``{prefix}-images-idx3-ubyte`` and
    ``{prefix}-labels-idx1-ubyte`` (``prefix`` is ``train`` or ``t10k``), each gzipped or not."""
    import numpy as np

    images_path = find_file(folder, idx_names(f"{prefix}-images-idx3-ubyte"), f"the {prefix} images")
    labels_path = find_file(folder, idx_names(f"{prefix}-labels-idx1-ubyte"), f"the {prefix} labels")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != image_shape:
        raise DataError(
            f"{images_path}: expected unsigned-byte images shaped (N, {image_shape[0]}, {image_shape[1]}), "
            f"found {images.dtype.name} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected unsigned-byte labels shaped (N,), found {labels.dtype.name} {labels.shape}"
        )
    if len(labels) != len(images):
        raise DataError(
            f"{labels_path}: {len(labels)} labels for the {len(images)} images of {images_path.name}"
        )
    if len(labels) and int(labels.max()) >= num_classes:
        raise DataError(f"{labels_path}: expected labels 0..{num_classes - 1}, found {int(labels.max())}")
    return images, labels.astype(np.int64)


# -- CIFAR-10 pickle batches -----------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _allowed_globals() -> dict[tuple[str, str], Any]:
    import numpy as np

    try:  # numpy >= 2 (numpy.core is a deprecated alias of numpy._core)
        from numpy._core import multiarray, numeric
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for package in ("numpy.core", "numpy._core"):  # pickles name whichever their numpy had
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct  # protocols 0-4
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer  # protocol 5
    allowed[("_codecs", "encode")] = codecs.encode  # how Python 3 writes bytes at protocol <= 2
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can build numpy arrays (and the dicts, lists, strings and numbers around them)
    and nothing else: any other global a pickle names, such as ``os.system``, is refused with a
    DataError before it is looked up, so it is never called."""

    def __init__(self, file: io.BufferedIOBase, path: Path):
        super().__init__(file, encoding="bytes")  # the official batches were pickled by Python 2
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        """The allowed numpy reconstructors, or a DataError naming the refused global."""
        allowed = _allowed_globals()
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise DataError(
            f"{self.path}: refused to unpickle {module}.{name}: a CIFAR-10 batch holds only numpy arrays, "
            f"lists and strings (this file is not one, or has been tampered with)"
        )


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(N, 3072)`` uint8 and labels ``(N,)`` int64 of one CIFAR-10 batch, unpickled safely."""
    import numpy as np

    path = Path(path)
    try:
        with path.open("rb") as handle:
            batch = RestrictedUnpickler(handle, path).load()
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: no such file (expected a CIFAR-10 batch)") from None
    except Exception as exc:  # truncated or corrupt pickles raise many types
        raise DataError(
            f"{path}: not a readable CIFAR-10 batch pickle ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(batch, dict):
        raise DataError(
            f"{path}: expected a CIFAR-10 batch (a dict with data and labels), found {type(batch).__name__}"
        )
    batch = {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != CIFAR_PIXELS
    ):
        found = f"{data.dtype.name} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: expected 'data' as uint8 (N, {CIFAR_PIXELS}), found {found}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{path}: expected 'labels' as a list of integers") from None
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {labels.size} labels for {len(data)} images")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: expected labels 0..9, found {labels.min()}..{labels.max()}")
    return data, labels


def cifar_folder(data_dir: Path) -> Path:
    """``data_dir/cifar-10-batches-py`` when it exists, else ``data_dir`` itself."""
    nested = Path(data_dir) / CIFAR_FOLDER
    return nested if nested.is_dir() else Path(data_dir)


def read_cifar10(data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (x, y), "test": (x, y)}``: pixels ``(N, 3, 32, 32)`` uint8 and labels, from the five
    training batches and the test batch."""
    import numpy as np

    folder = cifar_folder(data_dir)
    train = [
        read_cifar_batch(find_file(folder, [name], f"CIFAR-10 batch {name}")) for name in CIFAR_TRAIN_BATCHES
    ]
    test = read_cifar_batch(find_file(folder, [CIFAR_TEST_BATCH], f"CIFAR-10 batch {CIFAR_TEST_BATCH}"))
    x_train = np.concatenate([x for x, _ in train]).reshape(-1, 3, 32, 32)  # rows are R, G, B planes
    y_train = np.concatenate([y for _, y in train])
    return {"train": (x_train, y_train), "test": (test[0].reshape(-1, 3, 32, 32), test[1])}


# -- CSV and Parquet tables ---------------------------------------------------------------------


def read_table(path: Path, file_format: str) -> pd.DataFrame:
    """The table in ``path``, read by pandas (``file_format``: ``csv`` or ``parquet``, the latter via pyarrow)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a {file_format.upper()} table)")
    try:
        frame = pd.read_csv(path) if file_format == "csv" else pd.read_parquet(path)
    except ImportError as exc:
        raise DataError(f"{path}: reading Parquet needs pyarrow ({exc}); pip install pyarrow") from None
    except Exception as exc:  # pandas and pyarrow raise many types for a malformed file
        raise DataError(
            f"{path}: not a readable {file_format.upper()} table ({type(exc).__name__}: {exc})"
        ) from None
    if frame.empty or frame.shape[1] < 2:
        raise DataError(
            f"{path}: expected a table with rows, a target column and at least one feature column"
        )
    return frame


def table_arrays(
    frame: pd.DataFrame, path: Path, *, target: str, task_kind: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features ``(N, F)`` float64 (NaN where missing), targets and the class names (empty for regression).

    Numeric and boolean columns are kept as they are; any other column is one-hot encoded over the sorted
    values of the whole column (the schema, not the labels, so no split leaks into another). A
    classification target becomes class indices in the sorted order of its values; a regression
    target must be numeric.
    """
    import numpy as np
    import pandas as pd

    if target not in frame.columns:
        raise DataError(
            f"{path}: no target column {target!r}; the columns are {', '.join(map(str, frame.columns))}"
        )
    labels = frame[target]
    if labels.isna().any():
        raise DataError(f"{path}: target column {target!r} has {int(labels.isna().sum())} missing values")
    columns = []
    for name in frame.columns:
        if name == target:
            continue
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            columns.append(column.astype("float64").to_numpy()[:, None])
        else:
            categories = sorted(column.dropna().astype(str).unique())
            if len(categories) > MAX_CATEGORIES:
                raise DataError(
                    f"{path}: column {name!r} has {len(categories)} distinct non-numeric values; one-hot "
                    f"encoding takes at most {MAX_CATEGORIES} (drop the column or encode it as numbers)"
                )
            values = column.astype(str).where(column.notna())
            one_hot = [(values == c).to_numpy(dtype="float64") for c in categories]
            columns.append(np.stack(one_hot, axis=1) if one_hot else np.zeros((len(frame), 0)))
    features = np.concatenate(columns, axis=1)  # (N, F)
    if features.shape[1] == 0:
        raise DataError(f"{path}: no feature columns besides the target {target!r}")
    if task_kind == "classification":
        codes, classes = pd.factorize(labels, sort=True)
        if len(classes) < 2:
            raise DataError(
                f"{path}: target column {target!r} has a single class; classification needs two or more"
            )
        return features, codes.astype(np.int64), [str(c) for c in classes]
    try:
        values = pd.to_numeric(labels).to_numpy(dtype="float64")
    except (TypeError, ValueError):
        raise DataError(f"{path}: regression target {target!r} must be numeric") from None
    return features, values, []
