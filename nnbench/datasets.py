"""Public datasets nnbench can fetch: pinned files, verified downloads, and the cache the tasks read.

``nnbench data fetch NAME`` downloads each pinned file of a dataset into a staging folder inside the
cache (``$NNBENCH_DATA``, default the user's cache folder, e.g. ``~/.cache/nnbench``), resuming a
partial file with an HTTP Range request, checks its size and SHA-256 against the pinned values, and
only then moves it (or, for an archive, what it unpacks to) into ``<cache>/<name>``. A file that does
not match is refused with one error naming it and both checksums, and the staging folder is removed:
nothing unverified is ever left in the cache. An archive is unpacked with ``tarfile``'s ``data``
filter where Python has it, after nnbench's own check that no member is absolute, climbs out with
``..``, is a link or a device, or resolves outside the folder.

The pinned values live in :data:`DATASETS`, in code: no user input (option, suite, environment) can
change a checksum. ``--mirror URL`` only changes where the same files are fetched from.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from nnbench.errors import DataError

CHUNK = 1 << 16  # bytes read per call while streaming
TIMEOUT_S = 60.0  # seconds a connection may stay silent before it counts as dropped
ATTEMPTS = 4  # connections tried per file and mirror (the later ones resume where the last stopped)
MANIFEST = "nnbench-fetch.json"  # written in a dataset's folder once every file is verified and in place
STAGING = ".partial"  # the cache's staging folder: downloads in progress, never read by tasks


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name, its size in bytes and the SHA-256 of its bytes."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Dataset:
    """A public dataset: where its files are published and what they must hash to."""

    name: str  # as in `nnbench data fetch NAME`; the task of the same name reads its folder
    title: str
    mirrors: tuple[str, ...]  # base URLs tried in order; a file's URL is the base followed by its name
    files: tuple[RemoteFile, ...]
    ready: tuple[str, ...]  # paths in the dataset's folder that must exist once it is fetched
    checksums_from: str  # where the pinned SHA-256 sums were taken from
    archive: bool = False  # the files are tar archives, unpacked into the folder and then removed

    @property
    def download_bytes(self) -> int:
        """Bytes to download."""
        return sum(f.size for f in self.files)


_MNIST_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# The registry of fetchable datasets: sizes and SHA-256 sums of the published files. Tests replace it
# (monkeypatch) to serve their own files from a loopback server; nothing a user passes can reach it.
DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        name="mnist",
        title="MNIST handwritten digits (LeCun et al., 1998): the four gzipped IDX files",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
            "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow Datasets' mirror
        ),
        files=(
            RemoteFile(
                _MNIST_NAMES[0], 9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
            ),
            RemoteFile(
                _MNIST_NAMES[1], 28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
            ),
            RemoteFile(
                _MNIST_NAMES[2], 1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
            ),
            RemoteFile(
                _MNIST_NAMES[3], 4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
            ),
        ),
        ready=_MNIST_NAMES,
        checksums_from="TensorFlow Datasets, url_checksums/mnist.txt (sizes match LeCun's page)",
    ),
    "fashion-mnist": Dataset(
        name="fashion-mnist",
        title="Fashion-MNIST (Xiao et al., 2017): the four gzipped IDX files",
        mirrors=(
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # Keras' mirror
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's own (http only)
        ),
        files=(
            RemoteFile(
                _MNIST_NAMES[0], 26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
            ),
            RemoteFile(
                _MNIST_NAMES[1], 29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
            ),
            RemoteFile(
                _MNIST_NAMES[2], 4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
            ),
            RemoteFile(
                _MNIST_NAMES[3], 5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
            ),
        ),
        ready=_MNIST_NAMES,
        checksums_from=(
            "TensorFlow Datasets, url_checksums/fashion_mnist.txt; the same sums in Keras' fashion_mnist.py"
        ),
    ),
    "cifar10": Dataset(
        name="cifar10",
        title="CIFAR-10 (Krizhevsky, 2009): the python version, unpacked to cifar-10-batches-py/",
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files=(
            RemoteFile(
                "cifar-10-python.tar.gz",
                170498071,
                "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
            ),
        ),
        ready=tuple(
            f"cifar-10-batches-py/{n}"
            for n in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4")
        )
        + ("cifar-10-batches-py/data_batch_5", "cifar-10-batches-py/test_batch"),
        checksums_from=(
            "Keras' cifar10.py (file_hash of cifar-10-python.tar.gz); its size and the MD5 on the CIFAR "
            "page (c58f30108f718f92721af3b95e74349a) were checked against other public records"
        ),
        archive=True,
    ),
}


# -- the cache ------------------------------------------------------------------------------------
def cache_root() -> Path:
    """``$NNBENCH_DATA``, else the user's cache folder: ``$XDG_CACHE_HOME/nnbench`` or ``~/.cache/nnbench``
    (``~/Library/Caches/nnbench`` on macOS, ``%LOCALAPPDATA%\\nnbench`` on Windows)."""
    if os.environ.get("NNBENCH_DATA"):
        return Path(os.environ["NNBENCH_DATA"]).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "nnbench"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "nnbench"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nnbench"


def get(name: str) -> Dataset:
    """The dataset called ``name``; a DataError with a did-you-mean otherwise."""
    if name in DATASETS:
        return DATASETS[name]
    from nnbench.registry import did_you_mean

    raise DataError(
        f"unknown dataset {name!r}{did_you_mean(name, list(DATASETS))} (known: {', '.join(DATASETS)})"
    )


def folder(name: str, root: Path | None = None) -> Path:
    """Where dataset ``name`` lives in the cache (whether or not it is there)."""
    return (root or cache_root()) / name


def is_fetched(name: str, root: Path | None = None) -> bool:
    """Whether every file the dataset's task reads is in its cache folder."""
    dataset, where = get(name), folder(name, root)
    return all((where / path).is_file() for path in dataset.ready)


def cached(name: str) -> Path:
    """The cache folder of dataset ``name`` for a task with no ``data_dir``; a DataError naming the
    command that fetches it when it is not there."""
    where = folder(name)
    if not is_fetched(name):
        raise DataError(
            f"task {name} needs data_dir (a folder with its files) or a fetched copy in the data cache, "
            f"and {where} has none: fetch it with `nnbench data fetch {name}` (NNBENCH_DATA sets the cache)"
        )
    return where


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- progress ---------------------------------------------------------------------------------------
class Reporter:
    """What a fetch tells its user; the default says nothing (the CLI's shows a bar or plain lines)."""

    def line(self, text: str) -> None:
        """A message of its own."""

    def start(self, name: str, total: int, done: int) -> None:
        """A file's download starts (``done`` bytes already there, resumed)."""

    def advance(self, count: int) -> None:
        """``count`` more bytes arrived."""

    def finish(self) -> None:
        """The file's download ended (complete or not)."""


# -- fetching ---------------------------------------------------------------------------------------
class _Dropped(Exception):
    """The connection ended before the file was complete."""


class Refused(DataError):
    """A downloaded file or archive failed its checks: it and everything staged with it are removed."""


def fetch(
    name: str,
    *,
    mirror: str | None = None,
    root: str | os.PathLike | None = None,
    reporter: Reporter | None = None,
) -> Path:
    """Fetch dataset ``name`` into ``root`` (default :func:`cache_root`); return its folder.

    Files already in place with the pinned checksum are not downloaded again. ``mirror`` is a base URL
    to fetch the same file names from instead of the dataset's mirrors.
    """
    dataset = get(name)
    reporter = reporter or Reporter()
    root = Path(root).expanduser() if root is not None else cache_root()
    target = root / dataset.name
    if is_fetched(dataset.name, root) and _manifest_matches(dataset, target):
        reporter.line(f"{dataset.name}: already in the cache, verified ({target})")
        return target
    staging = root / STAGING / dataset.name
    staging.mkdir(parents=True, exist_ok=True)
    bases = (mirror,) if mirror else dataset.mirrors
    sources: dict[str, str] = {}
    try:
        for file in dataset.files:
            if not dataset.archive and _has(target / file.name, file):
                reporter.line(f"{dataset.name}/{file.name}: already in the cache, verified")
                sources[file.name] = "cache"
                continue
            if _has(staging / file.name, file):  # verified by an earlier, interrupted fetch
                sources[file.name] = "staged"
                continue
            sources[file.name] = _download(dataset, file, bases, staging, reporter)
            _verify(dataset, file, staging)
            reporter.line(f"{dataset.name}/{file.name}: sha256 {file.sha256} verified")
        if dataset.archive:
            for file in dataset.files:
                safe_extract(staging / file.name, staging / "unpacked", what=f"{dataset.name}/{file.name}")
            _install_unpacked(dataset, staging / "unpacked", target)
        else:
            target.mkdir(parents=True, exist_ok=True)
            for file in dataset.files:
                if (staging / file.name).is_file():
                    os.replace(staging / file.name, target / file.name)
    except _Dropped as exc:  # keep the partial file: running the command again resumes it
        raise DataError(f"{exc}; run the same command again to resume") from None
    except Refused:
        _discard(staging)  # a refused file or archive: nothing of this fetch stays in the cache
        raise
    except BaseException:  # Ctrl-C, a mirror that does not answer: keep a partial file to resume
        if not any(staging.iterdir()):
            _discard(staging)
        raise
    _discard(staging)
    manifest = {
        "dataset": dataset.name,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": [
            {"name": f.name, "size": f.size, "sha256": f.sha256, "source": sources.get(f.name)}
            for f in dataset.files
        ],
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    reporter.line(f"{dataset.name}: ready in {target}")
    return target


def _has(path: Path, file: RemoteFile) -> bool:
    """Whether ``path`` is a file with ``file``'s pinned size and SHA-256."""
    return path.is_file() and path.stat().st_size == file.size and sha256_of(path) == file.sha256


def _manifest_matches(dataset: Dataset, target: Path) -> bool:
    """Whether the folder's manifest records the pinned checksums (an archive's files are gone after
    unpacking, so the manifest is what says which archive they came from)."""
    try:
        manifest = json.loads((target / MANIFEST).read_text())
        recorded = {f["name"]: f["sha256"] for f in manifest["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all(recorded.get(f.name) == f.sha256 for f in dataset.files)


def _discard(staging: Path) -> None:
    """Remove a dataset's staging folder, and the staging root when it is left empty."""
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):  # another dataset's download is staged there, or it is gone
        staging.parent.rmdir()


def _download(dataset: Dataset, file: RemoteFile, bases, staging: Path, reporter: Reporter) -> str:
    """Download ``file`` to ``staging/<name>.part``, resuming, from the first base that serves it; then
    rename it to ``staging/<name>``. Return the URL it came from."""
    part = staging / f"{file.name}.part"
    failures = []
    for base in bases:
        url = base.rstrip("/") + "/" + file.name
        try:
            _stream(url, part, file, reporter, f"{dataset.name}/{file.name}")
        except urllib.error.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
            continue
        except (urllib.error.URLError, ValueError) as exc:  # unreachable host, a malformed mirror URL
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
            continue
        os.replace(part, staging / file.name)
        return url
    if part.is_file() and part.stat().st_size:
        raise _Dropped(
            f"{dataset.name}/{file.name}: download stopped at {part.stat().st_size} of {file.size} bytes "
            f"({'; '.join(failures)})"
        )
    raise DataError(f"{dataset.name}/{file.name}: could not download it ({'; '.join(failures)})")


def _stream(url: str, part: Path, file: RemoteFile, reporter: Reporter, what: str) -> None:
    """Append the rest of ``url`` to ``part`` until it holds ``file.size`` bytes (or the server has no
    more), reconnecting with a Range request after a dropped connection, ``ATTEMPTS`` times at most."""
    from nnbench import __version__

    last_error = None
    for _attempt in range(ATTEMPTS):
        have = part.stat().st_size if part.is_file() else 0
        if have > file.size:  # a partial longer than the file: start again
            part.unlink()
            have = 0
        if have == file.size:
            return
        headers = {"User-Agent": f"nnbench/{__version__}", "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing past what we have: let the checksum judge it
                return
            raise
        except (urllib.error.URLError, OSError) as exc:
            if isinstance(exc, urllib.error.URLError) and not have and _attempt == 0:
                raise  # the host does not answer at all: try the next mirror
            last_error = exc
            continue
        with response:
            resumed = bool(have) and response.status == 206 and _range_start(response) == have
            mode = "ab" if resumed else "wb"  # a server that ignores Range sends the whole file again
            start = have if resumed else 0
            reporter.start(what, file.size, start)
            written = start
            try:
                with open(part, mode) as out:
                    # Never more than the pinned size (and one chunk): a server cannot fill the disk.
                    while written <= file.size:
                        chunk = response.read(CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        written += len(chunk)
                        reporter.advance(len(chunk))
            except (http.client.HTTPException, OSError) as exc:  # the connection dropped mid-file
                last_error = exc
                continue
            finally:
                reporter.finish()
        if written >= file.size:
            return
        last_error = ConnectionError(f"the server closed the connection after {written} bytes")
    raise _Dropped(
        f"{what}: download stopped at {part.stat().st_size if part.is_file() else 0} of {file.size} bytes "
        f"({last_error})"
    )


def _range_start(response) -> int | None:
    """The first byte of a 206 response's ``Content-Range: bytes START-END/TOTAL``."""
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _verify(dataset: Dataset, file: RemoteFile, staging: Path) -> None:
    """Check a downloaded file's size and SHA-256; a mismatch is one DataError naming both sums."""
    path = staging / file.name
    actual = sha256_of(path)
    size = path.stat().st_size
    if actual != file.sha256 or size != file.size:
        raise Refused(
            f"{dataset.name}/{file.name}: checksum mismatch: expected sha256 {file.sha256} "
            f"({file.size} bytes), "
            f"got {actual} ({size} bytes); refused, nothing was added to the cache"
        )


# -- archives ---------------------------------------------------------------------------------------
def _check_member(member: tarfile.TarInfo, dest: Path, what: str) -> None:
    """Refuse a member that could write outside ``dest``: absolute, ``..``, a link, a device."""
    name = member.name
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise Refused(f"{what}: refused to unpack {name!r}: an absolute path")
    if ".." in path.parts or ".." in name.replace("\\", "/").split("/"):
        raise Refused(f"{what}: refused to unpack {name!r}: a path that climbs out with '..'")
    if not (member.isfile() or member.isdir()):
        kind = (
            "a symbolic link"
            if member.issym()
            else "a hard link"
            if member.islnk()
            else "not a file or folder"
        )
        raise Refused(
            f"{what}: refused to unpack {name!r}: {kind} (the archive may hold files and folders only)"
        )
    resolved = (dest / name).resolve()
    if resolved != dest.resolve() and dest.resolve() not in resolved.parents:
        raise Refused(f"{what}: refused to unpack {name!r}: it resolves outside {dest}")


def safe_extract(archive: Path, dest: Path, *, what: str) -> None:
    """Unpack tar ``archive`` into ``dest``: every member checked first (nothing is written if one is
    refused), then ``tarfile``'s ``data`` filter where this Python has it."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, dest, what)
            if hasattr(tarfile, "data_filter"):  # Python 3.12, and 3.8.17+/3.9.17+/3.10.12+/3.11.4+
                tar.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - older Pythons: the checks above are the whole defence
                tar.extractall(dest, members=members)
    except tarfile.TarError as exc:
        raise Refused(f"{what}: not a readable tar archive ({exc})") from None


def _install_unpacked(dataset: Dataset, unpacked: Path, target: Path) -> None:
    """Move what an archive unpacked to into the dataset's folder, after checking it has every file."""
    missing = [path for path in dataset.ready if not (unpacked / path).is_file()]
    if missing:
        raise Refused(f"{dataset.name}: the archive lacks {', '.join(missing)}; refused")
    target.mkdir(parents=True, exist_ok=True)
    for entry in unpacked.iterdir():
        destination = target / entry.name
        if destination.is_dir() and not destination.is_symlink():
            shutil.rmtree(destination)  # an older copy in the cache: replaced by the verified one
        elif destination.exists() or destination.is_symlink():
            destination.unlink()
        os.replace(entry, destination)


def describe() -> list[dict[str, Any]]:
    """Every fetchable dataset with its files, size and whether it is in the cache (for ``data list``)."""
    rows = []
    for dataset in DATASETS.values():
        where = folder(dataset.name)
        rows.append(
            {
                "name": dataset.name,
                "title": dataset.title,
                "download_bytes": dataset.download_bytes,
                "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in dataset.files],
                "fetched": is_fetched(dataset.name),
                "verified": is_fetched(dataset.name) and _manifest_matches(dataset, where),
                "folder": str(where),
                "checksums_from": dataset.checksums_from,
            }
        )
    return rows
