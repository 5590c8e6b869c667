"""``nnbench data fetch``, end to end against a loopback HTTP server: verified, resumed, refused, contained.

The server (``http.server`` in a thread on 127.0.0.1) serves files the tests write; their sizes and
SHA-256 sums are injected by replacing entries of ``nnbench.datasets.DATASETS``, the registry no user
input reaches. Nothing here leaves the machine.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnbench
from nnbench import datasets
from nnbench.datasets import Dataset, RemoteFile
from nnbench.errors import ConfigError, DataError
from nnbench.plan import expand
from nnbench.suite import load_suite

from .conftest import tiny_cifar_batches, tiny_mnist_files


class Files:
    """What the loopback server serves, how it misbehaves, and the requests it saw."""

    def __init__(self):
        self.bodies: dict[str, bytes] = {}
        self.drops: dict[str, int] = {}  # file name -> requests to cut off halfway
        self.ranges = True  # honour Range requests
        self.requests: list[tuple[str, str | None]] = []  # (file name, Range header)


@pytest.fixture
def server():
    """A loopback HTTP server in a thread; yields ``(base URL, Files)``."""
    files = Files()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

        def do_GET(self):
            name = self.path.rsplit("/", 1)[-1]
            wanted = self.headers.get("Range")
            files.requests.append((name, wanted))
            body = files.bodies.get(name)
            if body is None:
                self.send_error(404)
                return
            if wanted and files.ranges:
                start = int(wanted.split("=", 1)[1].split("-", 1)[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if files.drops.get(name, 0) > 0:  # half the file, then the socket closes under the client
                files.drops[name] -= 1
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/files/", files
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def pin(monkeypatch, name: str, base: str, published: dict[str, bytes], *, archive: bool = False, ready=None):
    """Replace dataset ``name`` in the registry by one whose pinned files are ``published``."""
    original = datasets.DATASETS[name]
    files = tuple(RemoteFile(n, len(b), hashlib.sha256(b).hexdigest()) for n, b in published.items())
    dataset = Dataset(
        name=name,
        title=original.title,
        mirrors=(base,),
        files=files,
        ready=ready or original.ready,
        checksums_from="the test",
        archive=archive,
    )
    monkeypatch.setitem(datasets.DATASETS, name, dataset)
    return dataset


def fetch_cli(group, *args):
    """``nnbench data fetch ARGS`` in this process (the registry the test pinned is the one used)."""
    return CliRunner().invoke(group, ["data", "fetch", *args])


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if not p.is_dir()) if root.exists() else []


def cifar_archive(members: dict[str, bytes], extra=None) -> bytes:
    """A gzipped tar of ``members`` (name -> bytes); ``extra(tar)`` may add hostile members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        if extra is not None:
            extra(tar)
    return buffer.getvalue()


def cifar_members() -> dict[str, bytes]:
    return {f"cifar-10-batches-py/{name}": body for name, body in tiny_cifar_batches().items()}


# -- a good fetch, then a suite reads it -------------------------------------------------------------
def test_fetch_verifies_each_file_then_tasks_mnist_runs_from_the_cache(server, monkeypatch, group, tmp_path):
    base, served = server
    served.bodies = tiny_mnist_files()
    pin(monkeypatch, "mnist", base, served.bodies)
    cache = datasets.cache_root()

    result = fetch_cli(group, "mnist")
    assert result.exit_code == 0, result.output
    folder = cache / "mnist"
    assert result.stdout.strip() == str(folder)
    for name, body in served.bodies.items():
        assert (folder / name).read_bytes() == body
    assert "\x1b[" not in result.stderr  # off a terminal: plain lines, no bar redraws
    assert "mnist/train-images-idx3-ubyte.gz: downloading" in result.stderr
    assert "sha256 " + hashlib.sha256(served.bodies["t10k-labels-idx1-ubyte.gz"]).hexdigest() in result.stderr
    manifest = json.loads((folder / datasets.MANIFEST).read_text())
    assert {f["name"] for f in manifest["files"]} == set(served.bodies)
    assert not (cache / datasets.STAGING).exists()

    # a second fetch finds it verified and asks the server for nothing
    requests = len(served.requests)
    again = fetch_cli(group, "mnist")
    assert again.exit_code == 0 and "already in the cache, verified" in again.stderr
    assert len(served.requests) == requests

    # tasks: [mnist] with no data_dir now reads the cache
    suite = tmp_path / "mnist.yaml"
    suite.write_text(
        textwrap.dedent(
            """
            name: m
            device: cpu
            seeds: [0]
            threads: 1
            budget: {steps: 5}
            training: {batch_size: 16, eval_every: 5, warmup_steps: 1}
            executor: {kind: inline}
            tasks: [mnist]
            architectures: [mlp]
            """
        )
    )
    summary = nnbench.run_suite(suite, db=tmp_path / "r.db", quiet=True)
    assert summary.counts == {"ok": 1}, [r.get("error") for r in summary.records]
    [record] = summary.records
    assert record["task_config"]["data_dir"] is None


def test_fetch_dir_option_fetches_elsewhere(server, monkeypatch, group, tmp_path):
    base, served = server
    served.bodies = tiny_mnist_files()
    pin(monkeypatch, "fashion-mnist", base, served.bodies)
    result = fetch_cli(group, "fashion-mnist", "--dir", str(tmp_path / "elsewhere"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "elsewhere" / "fashion-mnist").iterdir()) == sorted(
        [*served.bodies, datasets.MANIFEST]
    )
    assert files_under(datasets.cache_root()) == []  # NNBENCH_DATA untouched


def test_a_mirror_serves_the_same_files(server, monkeypatch, group):
    base, served = server
    served.bodies = tiny_mnist_files()
    pin(monkeypatch, "mnist", "http://127.0.0.1:9/nowhere/", served.bodies)  # the pinned mirror is down
    result = fetch_cli(group, "mnist", "--mirror", base)
    assert result.exit_code == 0, result.output
    assert datasets.is_fetched("mnist")


# -- refused files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["tampered", "truncated", "longer"])
def test_a_damaged_file_is_refused_with_both_checksums_and_nothing_is_kept(
    server, monkeypatch, group, damage
):
    base, served = server
    published = tiny_mnist_files()
    pin(monkeypatch, "mnist", base, published)
    served.bodies = dict(published)
    name = "t10k-images-idx3-ubyte.gz"
    body = published[name]
    served.bodies[name] = {
        "tampered": body[:100] + bytes([body[100] ^ 0xFF]) + body[101:],
        "truncated": body[: len(body) - 50],
        "longer": body + b"\0" * 200_000,
    }[damage]

    result = fetch_cli(group, "mnist")
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()[-1:]
    expected, actual = hashlib.sha256(body).hexdigest(), hashlib.sha256(served.bodies[name]).hexdigest()
    if damage == "longer":  # the download stops one chunk past the pinned size: that prefix is hashed
        assert "checksum mismatch" in line and f"expected sha256 {expected}" in line
    else:
        assert f"error: mnist/{name}: checksum mismatch: expected sha256 {expected}" in line
        assert f"got {actual}" in line
    assert files_under(datasets.cache_root()) == []  # the good files of the same fetch are gone too
    assert not datasets.is_fetched("mnist")


# -- resume ------------------------------------------------------------------------------------------
def test_a_connection_dropped_mid_file_is_resumed_with_a_range_request(server, monkeypatch, group):
    base, served = server
    served.bodies = tiny_mnist_files()
    pin(monkeypatch, "mnist", base, served.bodies)
    name = "train-images-idx3-ubyte.gz"
    served.drops[name] = 1

    result = fetch_cli(group, "mnist")
    assert result.exit_code == 0, result.output
    asked = [wanted for requested, wanted in served.requests if requested == name]
    assert asked == [None, f"bytes={len(served.bodies[name]) // 2}-"]
    assert (datasets.cache_root() / "mnist" / name).read_bytes() == served.bodies[name]


def test_an_interrupted_fetch_keeps_its_partial_file_and_the_next_one_resumes(server, monkeypatch, group):
    base, served = server
    served.bodies = tiny_mnist_files()
    pin(monkeypatch, "mnist", base, served.bodies)
    name = "train-images-idx3-ubyte.gz"
    half = len(served.bodies[name]) // 2
    served.drops[name] = datasets.ATTEMPTS  # every attempt of the first fetch is cut off
    served.ranges = False  # ... and this server ignores Range, so no attempt gets further than half

    first = fetch_cli(group, "mnist")
    assert first.exit_code == 2
    assert f"download stopped at {half} of {len(served.bodies[name])} bytes" in first.stderr
    assert "run the same command again to resume" in first.stderr
    partial = datasets.cache_root() / datasets.STAGING / "mnist" / f"{name}.part"
    assert partial.stat().st_size == half and not datasets.is_fetched("mnist")

    served.ranges = True
    served.requests.clear()
    second = fetch_cli(group, "mnist")
    assert second.exit_code == 0, second.output
    assert (name, f"bytes={half}-") in served.requests
    assert (datasets.cache_root() / "mnist" / name).read_bytes() == served.bodies[name]
    assert not (datasets.cache_root() / datasets.STAGING).exists()


# -- archives ----------------------------------------------------------------------------------------
def test_cifar10_archive_is_verified_unpacked_and_read_by_the_task(server, monkeypatch, group):
    from nnbench.tasks.local_images import CIFAR10

    base, served = server
    served.bodies = {"cifar-10-python.tar.gz": cifar_archive(cifar_members())}
    pin(monkeypatch, "cifar10", base, served.bodies, archive=True)
    result = fetch_cli(group, "cifar10")
    assert result.exit_code == 0, result.output
    folder = datasets.cache_root() / "cifar10"
    assert sorted(p.name for p in folder.iterdir()) == ["cifar-10-batches-py", datasets.MANIFEST]
    task = CIFAR10(CIFAR10.Config())  # no data_dir: the cache
    assert task.spec().input_shape == (3, 32, 32)
    data = task.make_data(0)
    assert data["train"][0].shape[1:] == (3, 32, 32) and len(data["test"][0]) == 4


def _escape_relative(tar):
    info = tarfile.TarInfo("cifar-10-batches-py/../../escaped.txt")
    info.size = 4
    tar.addfile(info, io.BytesIO(b"evil"))


def _escape_absolute(tar):
    info = tarfile.TarInfo("/tmp/nnbench-escaped.txt")
    info.size = 4
    tar.addfile(info, io.BytesIO(b"evil"))


def _escape_symlink(tar):
    info = tarfile.TarInfo("cifar-10-batches-py/link")
    info.type, info.linkname = tarfile.SYMTYPE, "../../.."
    tar.addfile(info)


def _escape_hardlink(tar):
    info = tarfile.TarInfo("cifar-10-batches-py/hard")
    info.type, info.linkname = tarfile.LNKTYPE, "../../outside.txt"
    tar.addfile(info)


@pytest.mark.parametrize(
    "hostile, reason",
    [
        (_escape_relative, "a path that climbs out with '..'"),
        (_escape_absolute, "an absolute path"),
        (_escape_symlink, "a symbolic link"),
        (_escape_hardlink, "a hard link"),
    ],
)
def test_an_archive_member_that_escapes_is_refused_and_nothing_is_written(
    server, monkeypatch, group, tmp_path, hostile, reason
):
    base, served = server
    served.bodies = {"cifar-10-python.tar.gz": cifar_archive(cifar_members(), extra=hostile)}
    pin(monkeypatch, "cifar10", base, served.bodies, archive=True)  # its checksum matches: the tar is hostile
    root = tmp_path / "deep" / "cache"
    result = fetch_cli(group, "cifar10", "--dir", str(root))
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: cifar10/cifar-10-python.tar.gz: refused to unpack") and reason in line
    assert files_under(tmp_path) == []  # nothing inside the cache, nothing beside it
    assert not Path("/tmp/nnbench-escaped.txt").exists()


def test_safe_extract_checks_every_member_before_writing_any(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(cifar_archive({"ok/first.txt": b"fine"}, extra=_escape_relative))
    with pytest.raises(DataError, match="climbs out"):
        datasets.safe_extract(archive, tmp_path / "out", what="a.tar.gz")
    assert files_under(tmp_path / "out") == []  # the good member before the bad one was not written


# -- without a fetch, and listing ----------------------------------------------------------------------
def test_without_a_fetch_the_error_names_the_command(tmp_path, group):
    suite = tmp_path / "s.yaml"
    suite.write_text("name: m\nbudget: {steps: 5}\ntasks: [mnist]\narchitectures: [mlp]\n")
    with pytest.raises(ConfigError, match=r"s.yaml:3: tasks.0: .*`nnbench data fetch mnist`"):
        expand(load_suite(suite), "cpu")
    result = CliRunner().invoke(group, ["run", str(suite), "--db", str(tmp_path / "r.db")])
    assert result.exit_code == 2
    assert "nnbench data fetch mnist" in result.stderr and "Traceback" not in result.output


def test_data_list_shows_the_pinned_datasets_and_what_is_fetched(fetched_datasets, group):
    result = CliRunner().invoke(group, ["data", "list", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["cache"] == str(fetched_datasets)
    rows = {row["name"]: row for row in listing["datasets"]}
    assert set(rows) == {"mnist", "fashion-mnist", "cifar10"}
    for row in rows.values():
        assert row["fetched"]  # the stand-in files are there...
        assert not row["verified"]  # ... but no fetch verified them against the pins
        assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in row["files"])
    assert rows["cifar10"]["download_bytes"] == 170498071
    table = CliRunner().invoke(group, ["data", "list"])
    assert table.exit_code == 0 and "files present" in table.stdout


def test_the_pins_are_sha256_of_the_published_files():
    """Every pinned sum is a SHA-256 (64 hex digits) with a size, and says where it comes from."""
    for dataset in datasets.DATASETS.values():
        assert dataset.files and dataset.checksums_from and dataset.mirrors
        for file in dataset.files:
            assert len(file.sha256) == 64 and int(file.sha256, 16) >= 0 and file.size > 0
        assert all(m.endswith("/") for m in dataset.mirrors)


def test_an_unknown_dataset_has_a_did_you_mean(group):
    result = fetch_cli(group, "mnits")
    assert result.exit_code == 2 and "did you mean 'mnist'" in result.stderr


def test_list_tasks_says_how_to_fetch_a_dataset_not_in_the_cache(group):
    result = CliRunner().invoke(group, ["list", "tasks", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["mnist"]["fetch"] == "nnbench data fetch mnist" and rows["mnist"]["modality"] is None
    assert rows["digits"]["modality"] == "image"


def test_data_commands_do_not_import_torch(group):
    code = (
        "import sys; from nnbench.cli import cli; cli(['data', 'list'], standalone_mode=False); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")
    help_text = CliRunner().invoke(group, ["data", "fetch", "--help"]).stdout
    assert "--mirror URL" in help_text and "--dir" in help_text


def test_on_a_terminal_the_download_is_a_progress_bar():
    from rich.console import Console

    from nnbench.cli_data import RichReporter

    out = io.StringIO()
    reporter = RichReporter(Console(file=out, force_terminal=True, width=100))
    reporter.start("mnist/train-images-idx3-ubyte.gz", 9_912_422, 4_956_211)  # resumed at half
    reporter.advance(4_956_211)
    reporter.finish()
    text = out.getvalue()
    assert "mnist/train-images-idx3-ubyte.gz" in text and "9.9/9.9 MB" in text
    assert "\x1b[" in text  # drawn with terminal control codes, not printed as lines
