"""All-or-nothing file writes: every file the library writes goes through :func:`atomic_path`.

A file is written to a unique temporary sibling (:func:`tempfile.mkstemp` in the same folder, so the final
:func:`os.replace` is a rename on one file system, atomic on POSIX and Windows) and moved over the target only
once it is complete and flushed to disk. On any error, ``KeyboardInterrupt`` included, the target is as it
was, the temporary file is removed, and so are the folders this call created. Standard library only: it sits
below every other module of the package.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "write_text"]


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (``os.umask`` is process-wide)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    """The permissions the target gets: those it has, else what ``open(target, "w")`` would have given."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones created, deepest first."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created: list[Path] = []
    try:
        for path in reversed(missing):
            path.mkdir()
            created.insert(0, path)
    except BaseException:
        _remove_folders(created)
        raise
    return created


def _remove_folders(folders: list[Path]) -> None:
    for path in folders:
        with contextlib.suppress(OSError):
            path.rmdir()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; on a clean exit, move it over ``path``.

    The body writes the whole file at the yielded path, by name (``open(tmp, "wb")``, or writers that take a
    file name such as ``safetensors.torch.save_model``). Missing parent folders are created, and removed
    again on failure. A symbolic link is written through (its target is replaced, not the link). An existing
    file keeps its permissions; a new one gets the umask's, as ``open`` would give it.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "weights.bin"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_bytes(b"complete")
    >>> target.read_bytes()
    b'complete'
    """
    target = Path(os.fspath(path))
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    created = _make_parents(target.parent)
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except BaseException:
        _remove_folders(created)
        raise
    tmp = Path(name)
    try:
        os.close(fd)
        yield tmp
        os.chmod(tmp, _mode_for(target))
        # flush the data before the rename: a crash must not leave a renamed but empty file
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        _remove_folders(created)
        raise


def write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """``Path(path).write_text(text)``, all or nothing; returns ``path`` as a :class:`~pathlib.Path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(os.fspath(path))
