"""The checks every HDF5 file passes before any HDF5 library reads it.

Two things in an HDF5 file can hurt the process that reads it, whatever library
(h5py, RosettaSciIO, ...) does the reading, so every HDF5 path of stonerimg goes
through :func:`check_hdf5` (the loaders through :func:`open_hdf5`):

- **Hangs.** libhdf5 (1.14 and 2.0 alike) loops forever when a global heap
  collection - where variable-length strings such as NeXus ``NX_class``
  attributes live - holds a free-space object of size zero, as a few stray NUL
  bytes make it.  Nothing can interrupt that loop from Python, so
  :func:`check_global_heaps` walks every global heap the way the library will
  and declines a damaged file before the library touches it.  It reads the file
  with ordinary reads in blocks (never a map of the whole file, so a file
  truncated while it is scanned is just a short read) and skips the holes of
  sparse files, so it costs one read of the file's data whatever its size.
- **Data stored outside the file.** External links, external raw storage and
  virtual datasets make the library read other files, named by the file.
  :func:`check_external` finds every one of them (in the file and, recursively,
  in the files they name) and applies the ``external`` policy: ``"below"``
  (default) allows only regular files in the file's own folder or below it,
  ``"none"`` allows nothing, ``"any"`` everything.  A file that breaks the
  policy is refused with a :class:`~stonerimg.FormatError` naming the target.
  Relative names are resolved exactly as libhdf5 resolves them (for external
  links and virtual datasets: the file's folder, then the current folder; for
  raw storage: the current folder), so the file checked is the file read.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import stat

import numpy as np

from ..errors import FormatError, FormatMismatch

__all__ = ["EXTERNAL_POLICIES", "check_external", "check_global_heaps", "check_hdf5", "external_policy", "open_hdf5"]

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_HEAP = b"GCOL"
#: Bytes read at once by the heap scan.
BLOCK_BYTES = 16 << 20
#: The values of the ``external`` option.
EXTERNAL_POLICIES = ("below", "none", "any")
#: How many files deep external links and virtual datasets are followed before a file is refused.
MAX_EXTERNAL_DEPTH = 8

_policy: contextvars.ContextVar[str | None] = contextvars.ContextVar("stonerimg_external", default=None)
#: Files that passed every check during the current ``load``/``open`` call (so the next format tried does not
#: scan them again): (path, inode, size, mtime, policy).  None outside such a call: nothing is remembered.
_passed: contextvars.ContextVar[set | None] = contextvars.ContextVar("stonerimg_hdf5_passed", default=None)


# --------------------------------------------------------------------------- the policy


def external_policy(value: str | None = None) -> str:
    """Return the ``external`` policy in force: ``value``, else the one :func:`using_external` set, else the config's.

    Raises
    ------
    ValueError
        If the policy is not one of :data:`EXTERNAL_POLICIES`.
    """
    from .. import config

    chosen = value if value is not None else _policy.get()
    chosen = chosen if chosen is not None else config.external
    if chosen not in EXTERNAL_POLICIES:
        source = "external" if value is not None or _policy.get() is not None else "stonerimg.config.external"
        raise ValueError(f"{source}: must be one of {', '.join(map(repr, EXTERNAL_POLICIES))}, not {chosen!r}")
    return chosen


@contextlib.contextmanager
def using_external(value: str | None):
    """Make ``value`` (checked; None keeps the config's) the ``external`` policy inside the block."""
    if value is not None:
        external_policy(value)
    token = _policy.set(value)
    passed = _passed.set(set())
    try:
        yield
    finally:
        _passed.reset(passed)
        _policy.reset(token)


# --------------------------------------------------------------------------- global heaps


class _Reader:
    """Reads a file in cached blocks with ordinary reads (a short read at a truncated end, never a SIGBUS)."""

    def __init__(self, fd: int, size: int, window: int = 1 << 20):
        self.fd, self.size, self.window = fd, size, window
        self.start, self.data = 0, b""

    def read(self, position: int, count: int) -> bytes:
        if not (self.start <= position and position + count <= self.start + len(self.data)):
            self.start = position
            self.data = os.pread(self.fd, max(count, self.window), position)
        offset = position - self.start
        return self.data[offset : offset + count]


def _length_size(reader: _Reader) -> int:
    """Return the superblock's "size of lengths" (8 in nearly every file), or 0 without a superblock."""
    position = 0
    while position + 16 <= reader.size:
        head = reader.read(position, 16)
        if len(head) < 16:
            return 0
        if head[:8] == _SIGNATURE:
            version = head[8]
            return head[14 if version < 2 else 10]
        position = 512 if position == 0 else position * 2
    return 0


def _walk(reader: _Reader, start: int, length_size: int) -> str | None:
    """Walk one global heap collection as libhdf5 does; return what is wrong, or None."""
    header = 8 + length_size  # "GCOL", version, 3 reserved bytes, collection size
    object_header = 8 + length_size  # index, reference count, 4 reserved bytes, object size
    head = reader.read(start, header)
    if len(head) < header or head[4] != 1:
        return None  # not a heap collection, just the same four bytes in some data
    size = int.from_bytes(head[8 : 8 + length_size], "little")
    end = start + size
    if size < header or end > reader.size:
        return None
    position = start + header
    while position < end:
        if position + object_header > end:
            break  # the library treats a too-small tail as free space
        item = reader.read(position, object_header)
        if len(item) < object_header:
            break  # the file ends here (truncated while we read it)
        index = int.from_bytes(item[0:2], "little")
        object_size = int.from_bytes(item[8 : 8 + length_size], "little")
        step = object_header + ((object_size + 7) & ~7) if index else object_size
        if step <= 0:
            return f"global heap at byte {start} has an empty free-space object at byte {position}"
        position += step
    return None


def _data_regions(fd: int, size: int):
    """Yield ``(start, end)`` of the parts of the file that hold data (the holes of a sparse file read as zeros)."""
    seek_data, seek_hole = getattr(os, "SEEK_DATA", None), getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        yield 0, size
        return
    position = 0
    while position < size:
        try:
            start = os.lseek(fd, position, seek_data)
            end = os.lseek(fd, start, seek_hole)
        except OSError as err:
            if err.errno != errno.ENXIO:  # ENXIO: no data after position; anything else: no hole support
                yield position, size
            return
        if start >= size:
            return
        yield start, min(end, size)
        position = end


def _heap_candidates(fd: int, size: int):
    """Yield every offset where ``b"GCOL"`` starts, ascending, reading the file's data in blocks.

    NumPy compares each block as 16-bit words at both byte offsets (about 3x
    faster than ``bytes.find``, which matters because the scan reads every byte).
    """
    first = int.from_bytes(_HEAP[:2], "little")
    for region_start, region_end in _data_regions(fd, size):
        position = region_start
        while position < region_end:
            block = os.pread(fd, min(BLOCK_BYTES + 3, region_end - position), position)
            if len(block) < 4:
                break
            starts = [
                2 * np.flatnonzero(np.frombuffer(block, "<u2", (len(block) - k) // 2, k) == first) + k for k in (0, 1)
            ]
            for s in np.sort(np.concatenate(starts)).tolist():
                if s < BLOCK_BYTES and block[s : s + 4] == _HEAP:
                    yield position + s
            position += BLOCK_BYTES


def check_global_heaps(path) -> int:
    """Raise :class:`~stonerimg.errors.FormatMismatch` if a global heap would hang libhdf5; else count the heaps.

    Every byte of the file's data is read once, in blocks (holes of sparse files
    are skipped); nothing is mapped.  Returns how many places carry the global
    heap signature (0: the file has no global heap, so no virtual dataset).
    """
    with open(path, "rb") as handle:
        fd = handle.fileno()
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        reader = _Reader(fd, size)
        length_size = _length_size(reader)
        if length_size not in (2, 4, 8):
            return 1  # no HDF5 superblock: the library will say what is wrong (assume heaps: check everything)
        heaps = 0
        for position in _heap_candidates(fd, size):
            problem = _walk(reader, position, length_size)
            if problem:
                raise FormatMismatch(f"a damaged HDF5 file: {problem}")
            heaps += 1
        return heaps


# --------------------------------------------------------------------------- data outside the file


def _is_hdf5(path: str) -> bool:
    """Whether ``path`` carries the HDF5 signature where libhdf5 looks for it (0, 512, 1024, ...)."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            position = 0
            while position + 8 <= size:
                handle.seek(position)
                if handle.read(8) == _SIGNATURE:
                    return True
                position = 512 if position == 0 else position * 2
    except OSError:
        return False
    return False


def _inside(real: str, folder: str) -> bool:
    return real == folder or real.startswith(folder.rstrip(os.sep) + os.sep)


def _candidates(kind: str, name: str, parent: str) -> list[str]:
    """List the files libhdf5 tries, in order, for ``name`` written in file ``parent``."""
    folder = os.path.dirname(os.path.abspath(parent))
    if kind == "external raw storage":
        prefix = os.environ.get("HDF5_EXTFILE_PREFIX", "")
        prefix = folder if prefix.startswith("${ORIGIN}") else prefix
        return [os.path.abspath(os.path.join(prefix, name) if prefix else name)]
    variable = "HDF5_EXT_PREFIX" if kind == "external link" else "HDF5_VDS_PREFIX"
    found = [name] if os.path.isabs(name) else []
    base = os.path.basename(name) if os.path.isabs(name) else name
    prefixes = [p for p in os.environ.get(variable, "").split(os.pathsep) if p]
    found += [os.path.join(folder if p.startswith("${ORIGIN}") else p, base) for p in prefixes]
    found += [os.path.join(folder, base), os.path.abspath(base)]
    return found


def _judge(kind: str, where: str, name: str, parent: str, root: str, policy: str, path) -> str | None:
    """Apply ``policy`` to one item stored outside the file; return the HDF5 file the library will read, if any."""
    said = f"{kind} {where} -> {name!r}"
    if policy == "none":
        raise FormatError(path, reason=f"its data are stored outside the file ({said}) and external='none'")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise FormatError(path, reason=f"{said}: a name with '..' is refused (external='below')")
    if kind == "virtual dataset" and "%" in name.replace("%%", ""):
        raise FormatError(path, reason=f"{said}: a source file name pattern is refused (external='below')")
    for candidate in _candidates(kind, name, parent):
        if not os.path.lexists(candidate):
            continue
        real = os.path.realpath(candidate)
        if not _inside(real, root):
            raise FormatError(
                path,
                reason=f"{said} resolves to {real!r}, outside the file's folder {root!r} "
                "(external='below'; pass external='any' only for files you trust)",
            )
        try:
            regular = stat.S_ISREG(os.stat(real).st_mode)
        except OSError:
            regular = False
        if not regular:
            raise FormatError(path, reason=f"{said} resolves to {real!r}, which is not a regular file")
        if kind == "external raw storage":
            return None
        if _is_hdf5(real):
            return candidate  # the library opens the first candidate that is an HDF5 file
    return None


#: Bit of the external data files message (``H5O_EFL_ID``, 0x0007) in an object header's message mask.
_EXTERNAL_FILES_MESSAGE = 1 << 0x0007


def _items_outside(handle, virtual: bool = True) -> list[tuple[str, str, str]]:
    """``(kind, where, name)`` of every external link, external raw file and virtual source file in an open file.

    One pass over the objects (each once, with its header's message mask) and one
    over the links with their types.  A dataset is opened only where it can keep
    data outside the file: its header has an external data files message, or
    ``virtual`` is true (the file has a global heap, where the layout of a virtual
    dataset keeps its source mapping: without one no dataset can be virtual).
    """
    from h5py import h5d, h5l, h5o

    found: list[tuple[str, str, str]] = []
    fid = handle.id

    def text(value) -> str:
        return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)

    def visit_object(name, info):
        if info.type != h5o.TYPE_DATASET or not (virtual or info.hdr.mesg.present & _EXTERNAL_FILES_MESSAGE):
            return None
        plist = h5o.open(fid, name).get_create_plist()
        for i in range(plist.get_external_count()):
            found.append(("external raw storage", f"of dataset /{text(name)}", text(plist.get_external(i)[0])))
        if virtual and plist.get_layout() == h5d.VIRTUAL:
            for i in range(plist.get_virtual_count()):
                source = text(plist.get_virtual_filename(i))
                if source != ".":
                    found.append(("virtual dataset", f"/{text(name)}", source))
        return None

    def visit_link(name, info):
        if info.type == h5l.TYPE_EXTERNAL:
            target, inside = fid.links.get_val(name)
            found.append(("external link", f"/{text(name)} (to {text(inside)!r})", text(target)))
        return None

    h5o.visit(fid, visit_object, info=True)
    fid.links.visit(visit_link, info=True)
    return found


def check_external(
    handle, path, policy: str | None = None, *, heaps: bool = True, _root=None, _seen=None, _depth=0
) -> None:
    """Apply the ``external`` policy to an open HDF5 file and, recursively, to the HDF5 files it names.

    Parameters
    ----------
    handle : h5py.File
        The open file.
    path : str or os.PathLike
        Its name (the file the user asked for; errors name it).
    policy : {"below", "none", "any"}, optional
        Default: :func:`external_policy`.
    heaps : bool
        False when :func:`check_global_heaps` found no global heap in the file:
        then no dataset can be virtual, and only datasets whose header lists
        external files are opened.

    Raises
    ------
    stonerimg.FormatError
        If the file keeps data where the policy does not allow (the message names the target).
    stonerimg.errors.FormatMismatch
        If the file's links cannot be walked (a damaged file).
    """
    policy = external_policy(policy)
    if policy == "any":
        return
    parent = os.fspath(handle.filename)
    root = _root or os.path.realpath(os.path.dirname(os.path.abspath(os.fspath(path))))
    seen = _seen if _seen is not None else {os.path.realpath(parent)}
    try:
        items = _items_outside(handle, virtual=heaps)
    except (OSError, RuntimeError, KeyError, ValueError) as err:
        raise FormatMismatch(f"a damaged HDF5 file: its links cannot be walked: {err}") from err
    for kind, where, name in items:
        target = _judge(kind, where, name, parent, root, policy, path)
        if target is None or os.path.realpath(target) in seen:
            continue
        seen.add(os.path.realpath(target))
        if _depth >= MAX_EXTERNAL_DEPTH:
            raise FormatError(
                path, reason=f"{kind} {where}: files name other files more than {MAX_EXTERNAL_DEPTH} deep"
            )
        _check_regular(target, path)
        heaps = check_global_heaps(target)
        import h5py

        try:
            other = h5py.File(target, "r")
        except OSError:
            continue  # the library cannot open it either: nothing will be read from it
        with other:
            check_external(other, path, policy, heaps=heaps > 0, _root=root, _seen=seen, _depth=_depth + 1)


# --------------------------------------------------------------------------- opening


def _check_regular(target, path) -> None:
    """Refuse anything but a regular file (a FIFO or device would block or never end)."""
    mode = os.stat(target).st_mode
    if not stat.S_ISREG(mode):
        raise FormatError(path, reason=f"{os.fspath(target)!r} is not a regular file")


def check_hdf5(path, external: str | None = None) -> None:
    """Run every check of this module on the HDF5 file ``path`` (for readers other than :func:`open_hdf5`).

    Raises
    ------
    stonerimg.FormatError
        If the file keeps data outside itself where ``external`` does not allow.
    stonerimg.errors.FormatMismatch
        If the file is not HDF5, is damaged, or has a global heap that would hang libhdf5.
    """
    open_hdf5(path, external).close()


def open_hdf5(path, external: str | None = None):
    """Open an HDF5 file read-only for a loader, declining files h5py cannot (or must not) read.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    external : {"below", "none", "any"}, optional
        Where data stored outside the file may come from (default:
        :func:`external_policy`).

    Returns
    -------
    h5py.File
        The open file (use it as a context manager so it is always closed).

    Raises
    ------
    stonerimg.FormatError
        If the file is not a regular file, or keeps data outside itself where
        ``external`` does not allow (the message names the target).
    stonerimg.errors.FormatMismatch
        If the file is not HDF5, is damaged, or has a global heap that would hang libhdf5.
    PermissionError, FileNotFoundError
        If the file cannot be opened.
    """
    import h5py

    policy = external_policy(external)
    _check_regular(path, path)
    facts = os.stat(path)
    key = (os.path.realpath(path), facts.st_ino, facts.st_size, facts.st_mtime_ns, policy)
    passed = _passed.get()
    known = passed is not None and key in passed
    heaps = check_global_heaps(path) if not known else 1
    try:
        handle = h5py.File(path, "r")
    except (PermissionError, FileNotFoundError):
        raise
    except OSError as err:
        raise FormatMismatch(f"not a readable HDF5 file: {err}") from err
    if not known:
        try:
            check_external(handle, path, policy, heaps=heaps > 0)
        except BaseException:
            handle.close()
            raise
        if passed is not None:
            passed.add(key)
    return handle
