"""File access that a hostile repository cannot redirect.

sgplan runs on checkouts written by others (CI on pull requests): any name in the tree may be a
committed symlink pointing anywhere. The rules here:
- never open for writing a path that is or could become a symlink: new files are created with
  O_CREAT|O_EXCL|O_NOFOLLOW under a random name inside an already-opened directory, then
  renamed over the target (a rename replaces a symlink, it never writes through it);
- directories sgplan writes into are opened component by component with O_NOFOLLOW and must be
  owned by the user running sgplan;
- anything that is loaded as trusted data (a pickle, a MAC key) lives only in a directory that
  no other user can write (`private_dir`).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import tempfile
from pathlib import Path

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted where a file is expected must not hang a read


class UnsafePath(OSError):
    """A path sgplan refuses to use: a symlink, not a regular file or directory, or not ours."""


def euid() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else 0


def open_dir(name: str | os.PathLike, *, dir_fd: int | None = None, create: bool = False,
             mode: int = 0o700, owned: bool = True) -> int:
    """A directory fd for `name` (one component when `dir_fd` is given), never through a symlink
    at the last component; created with `mode` when missing and `create`. With `owned`, the
    directory must belong to this user. Raises OSError (UnsafePath for refusals)."""
    flags = os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(name, mode, dir_fd=dir_fd)
        except FileExistsError:
            pass  # made by a concurrent run meanwhile: checked below like any other
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePath(exc.errno, f"{name}: not a directory (or a symlink)") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISDIR(st.st_mode) or (owned and st.st_uid != euid()):
        os.close(fd)
        raise UnsafePath(errno.EPERM, f"{name}: not a directory owned by this user")
    return fd


def read_bytes(name: str | os.PathLike, *, dir_fd: int | None = None, limit: int | None = None) -> bytes:
    """The bytes of a regular file, never through a symlink at the last component; at most
    `limit` bytes (more raises FileTooLarge)."""
    try:
        fd = os.open(name, os.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(exc.errno, f"{name}: is a symlink") from None
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(errno.EINVAL, f"{name}: not a regular file")
        if limit is not None and st.st_size > limit:
            raise FileTooLarge(st.st_size, limit)
        data = f.read() if limit is None else f.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise FileTooLarge(len(data), limit)
    return data


class FileTooLarge(OSError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"file is larger than {limit} bytes")
        self.size, self.limit = size, limit


def write_atomic(dir_fd: int, name: str, data: bytes, mode: int = 0o644, *, durable: bool = True) -> None:
    """Replace `name` in the directory `dir_fd` with `data`: a new file under a random name
    (O_EXCL|O_NOFOLLOW, so nothing planted is opened), then a rename over `name`. A symlink
    at `name` is replaced, never written through; readers see the old or the new file."""
    tmp = create_temp(dir_fd, name, mode)
    try:
        fd = os.open(tmp, os.O_WRONLY | O_NOFOLLOW | O_CLOEXEC, dir_fd=dir_fd)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:  # a cache entry may be lost in a crash; a user's file may not
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise


def create_temp(dir_fd: int, name: str, mode: int) -> str:
    """Create an empty file with a fresh random name next to `name`; returns that name."""
    for _ in range(100):
        tmp = f".{name[:64]}.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode, dir_fd=dir_fd)
        except FileExistsError:
            continue
        os.fchmod(fd, mode)  # the umask must not widen or narrow what the caller asked for
        os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name")


def create_new(dir_fd: int, name: str, data: bytes, mode: int = 0o644) -> bool:
    """Create `name` with `data` only when nothing (not even a dangling symlink) is there.
    Returns False when something already exists."""
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode, dir_fd=dir_fd)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return True


def is_inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Whether `path`, with every symlink resolved, is `root` (resolved) or below it."""
    real = os.path.realpath(path)
    base = os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def _safe_ancestor(st: os.stat_result) -> bool:
    """A directory on the way to a private one: owned by root or us, and not writable by
    others unless sticky (as /tmp is, where others cannot rename what we own)."""
    if st.st_uid not in (0, euid()):
        return False
    return not (st.st_mode & 0o022) or bool(st.st_mode & stat.S_ISVTX)


def private_dir(path: str | os.PathLike, *, create: bool = True) -> Path | None:
    """`path` as a directory that only this user can change (created 0700 if missing), or None.

    Checked: the directory is a real directory (no symlink) owned by this user and not
    writable by group or others, and every ancestor is owned by root or this user and not
    writable by others (or sticky). Data read from such a directory can be trusted as much as
    the user's own files; anything else may have been planted."""
    path = Path(os.path.abspath(path))
    parent = Path(os.path.realpath(path.parent))
    try:
        if create:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        current = Path(parent.anchor)
        for part in parent.parts[1:]:
            current = current / part
            if not _safe_ancestor(os.stat(current)):
                return None
        target = parent / path.name
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            if not create:
                return None
            try:
                os.mkdir(target, 0o700)
            except FileExistsError:
                pass
            st = os.lstat(target)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != euid() or st.st_mode & 0o022:
        return None
    return target


def user_cache_dir(*, fallback: bool = False) -> Path | None:
    """sgplan's private cache directory `$XDG_CACHE_HOME/sgplan` (or `~/.cache/sgplan`); with
    `fallback`, else `<tmp>/sgplan-<uid>` made by and private to this user. None when no safe
    directory can be had."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    found = private_dir(Path(base) / "sgplan")
    if found is None and fallback:
        found = private_dir(Path(tempfile.gettempdir()) / f"sgplan-{euid()}")
    return found


def read_private(path: Path, limit: int | None = None) -> bytes:
    """Bytes of a file in a private directory, only if it is a regular file owned by us."""
    fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != euid() or st.st_mode & 0o022:
            raise UnsafePath(errno.EPERM, f"{path}: not a private file")
        return f.read() if limit is None else f.read(limit)


def write_output(path: str | os.PathLike, text: str) -> None:
    """Write a command's output file (`--sarif FILE`): the directory is the operator's choice, but
    the name inside it may be a symlink a repository committed (CI writes into the checkout), so
    the file is replaced through a fresh temp file, never written through a link."""
    from sgplan.diagnostics import UserError

    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        dir_fd = os.open(directory, os.O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try:
            write_atomic(dir_fd, path.name, text.encode("utf-8"))
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None
