"""A content-addressed cache of built executables, shared by the processes of one test run (or a user's
repeated verifies): ``$QSNN_BUILD_CACHE`` names its folder. Unset, every build runs as it always did.

An executable is filed under the sha256 of everything that determines it: the bytes of every file in its
input folders and files (the generated model, the harness), the compiler command with the per-run paths (the
model folder, the build folder, the executable) written as placeholders, the compilers' version strings and
the environment variables a compiler or make reads. A source changed in one byte (a mutation test) is a
different key, so it builds, and fails, as before.

A hit copies the cached executable to where the build would have put it (a copy, not a link, so that nothing
done to the build folder's file can reach the cache). A miss builds under an ``flock`` on the key's lock file,
so that two processes building the same key build it once: the second waits and then finds the first's
executable. The executable enters the cache as a temporary file renamed into place, so no reader sees half of
one, and a failed build stores nothing.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from qsnn_deploy.errors import QsnnError

ENV_VAR = "QSNN_BUILD_CACHE"
FORMAT = 1  # bump when the key's recipe changes, so that an old cache folder is never read with a new recipe
# Variables that change what gcc, g++, make or Verilator produce without appearing on the command line (the
# last row: those Verilator's makefiles take from the environment).
COMPILER_ENV = (
    "CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "CPATH", "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH", "LIBRARY_PATH", "GCC_EXEC_PREFIX", "COMPILER_PATH", "VERILATOR_ROOT",
    "MAKEFLAGS", "OBJCACHE", "OPT", "OPT_FAST", "OPT_SLOW", "OPT_GLOBAL", "USER_CPPFLAGS", "USER_LDFLAGS",
    "USER_LDLIBS", "M32",
)  # fmt: skip


class BuildCacheError(QsnnError):
    """``$QSNN_BUILD_CACHE`` names something that cannot be a cache folder."""


def cache_folder() -> Path | None:
    """The folder ``$QSNN_BUILD_CACHE`` names, or None when it is unset or empty (no caching)."""
    value = os.environ.get(ENV_VAR, "")
    return Path(value) if value else None


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_digest(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's every file (relative name and bytes, in name order)."""
    path = Path(path)
    if not path.is_dir():
        return _file_digest(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{_file_digest(file)}\n".encode())
    return digest.hexdigest()


@functools.cache
def _version(command: tuple[str, ...]) -> str:
    """What ``command`` (a compiler's ``--version``) prints; asked once per process."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return f"{done.returncode}\n{done.stdout}{done.stderr}"


def _placeholders(arg: str, scratch: Sequence[tuple[str, str]]) -> str:
    for path, name in scratch:  # longest path first: a folder inside another is replaced as itself
        arg = arg.replace(path, f"<{name}>")
    return arg


def build_key(
    kind: str,
    command: Sequence[str],
    *,
    inputs: Mapping[str, Path],
    scratch: Mapping[str, Path] | None = None,
    tools: Sequence[Sequence[str]] = (),
) -> str:
    """The cache key (hex sha256) of a build.

    ``kind``: which builder (its name keeps two builders' keys apart). ``command``: the compiler command as it
    will run. ``inputs``: name -> a file or folder whose bytes the build reads; its path in the command is
    written ``<name>``. ``scratch``: name -> a per-run path (the build folder, the executable) written
    ``<name>`` too; its contents are outputs, not inputs. ``tools``: commands whose output identifies a
    compiler (``[gcc, --version]``)."""
    named = {**{k: Path(v) for k, v in (scratch or {}).items()}, **{k: Path(v) for k, v in inputs.items()}}
    spellings = {(str(path), name) for name, path in named.items()}
    spellings |= {(str(path.resolve()), name) for name, path in named.items()}
    ordered = sorted(spellings, key=lambda item: -len(item[0]))
    recipe = {
        "format": FORMAT,
        "kind": kind,
        "command": [_placeholders(str(arg), ordered) for arg in command],
        "inputs": {name: content_digest(path) for name, path in sorted(inputs.items())},
        "tools": [_version(tuple(map(str, tool))) for tool in tools],
        "env": {name: os.environ[name] for name in COMPILER_ENV if name in os.environ},
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


@contextmanager
def locked(lock: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``lock`` for the block (waits while another process holds it). A file system
    without ``flock`` (some network mounts) gives no lock: two processes may then both build one key, and the
    renames still leave one whole executable."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
        yield
    finally:
        os.close(fd)  # releases the lock


def _copy_atomic(source: Path, dest: Path) -> None:
    """Copy ``source`` (its mode too) to ``dest`` through a temporary file beside it and a rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)  # a fresh modification time: make takes an object newer than its source
        shutil.copymode(source, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def log_lookup(cache: Path, key: str, kind: str, event: str) -> None:
    """One line per lookup in ``cache/log.txt`` (appends of one short line do not interleave)."""
    with open(cache / "log.txt", "a") as f:
        f.write(f"{event} {kind} {key[:16]} pid {os.getpid()}\n")


def make_cache_folder(cache: Path) -> None:
    """Create the cache folder; BuildCacheError, in one line, where it cannot be one."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildCacheError(
            f"{ENV_VAR}={cache} cannot hold a build cache ({exc.strerror}); name a writable folder or unset it"
        ) from None


def cached_build(exe: Path, key: Callable[[], str], kind: str, build: Callable[[], object]) -> Path:
    """``exe`` made by ``build()``, or copied from the cache when ``$QSNN_BUILD_CACHE`` holds an executable
    of the same ``key()`` (computed only when a cache is set). Returns ``exe``."""
    exe = Path(exe)
    cache = cache_folder()
    if cache is None:
        build()
        return exe
    make_cache_folder(cache)
    digest = key()
    stored = cache / digest
    with locked(cache / f"{digest}.lock"):
        if stored.is_file():
            _copy_atomic(stored, exe)
            log_lookup(cache, digest, kind, "hit")
            return exe
        exe.unlink(missing_ok=True)  # a stale file here would let make skip the link
        build()
        _copy_atomic(exe, stored)
        log_lookup(cache, digest, kind, "miss")
    return exe
