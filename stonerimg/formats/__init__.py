"""The format registry: which code reads and writes which files.

A :class:`Format` names its loader (and optionally saver) as ``"module:function"``
strings, imported only when the format is used, so registering the built-in
formats costs nothing at ``import stonerimg``.  Third-party packages add formats
through the entry-point group ``stonerimg.formats``: each entry point gives a
:class:`Format` (or a callable returning one).

:func:`load` asks for candidates: formats whose extension matches (lower
priority number first), then every other format whose ``sniff`` accepts the
first bytes of the file.  A loader that finds the file is not its kind raises
:class:`~stonerimg.errors.FormatMismatch`; any other exception is recorded and
the search goes on.  When nothing reads the file, :class:`~stonerimg.FormatError`
lists every format tried and why.  Nothing read from a file chooses code to import.
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import functools
import glob
import importlib
import inspect
import itertools
import os
import re
import secrets
import socket
import stat
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import FormatError, FormatMismatch

__all__ = [
    "Format",
    "KeyFact",
    "accepted_options",
    "atomic_path",
    "remove_stale_temp_files",
    "available",
    "candidates",
    "check_options",
    "get",
    "key_facts",
    "load",
    "register",
    "unregister",
    "save",
]


def _logger():
    import logging  # on first use: import stonerimg stays light

    return logging.getLogger(__name__)


SNIFF_BYTES = 512  # how much of a file ``sniff`` functions see
DEFAULT_PRIORITY = 50


def _resolve(target):
    """Import ``"package.module:attribute"`` (a name we registered, never one read from a file)."""
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


class KeyFact(NamedTuple):
    """A metadata item people look for first in one format's images (shown at the top of a notebook repr).

    Parameters
    ----------
    label : str
        What the item is called for people (``"energy"``, ``"dwell"``).
    keys : str or tuple of str
        The metadata key, or several tried in turn (the first present is shown).
    units : str, optional
        Units used when the metadata has no ``"<key>.units"`` or ``"<key>@units"`` item.
    """

    label: str
    keys: str | tuple[str, ...]
    units: str = ""


@dataclasses.dataclass(frozen=True)
class Format:
    """One entry of the format registry.

    Parameters
    ----------
    name : str
        Unique short name (``"tiff"``, ``"png"``, ...); ``load(path, fmt=name)`` uses it.
    extensions : mapping of str to int
        File extensions (with the dot, lower case) and the priority of this format
        for each: lower numbers are tried first.
    load : callable or "module:function"
        ``load(path, **kwargs) -> ImageFile``; raises :class:`FormatMismatch` to decline.
    magic : tuple of bytes, optional
        Signatures one of which a file of this format starts with.
    sniff : callable or "module:function", optional
        ``sniff(head: bytes) -> bool`` on the first :data:`SNIFF_BYTES` bytes, for
        signatures that are not a fixed prefix.  Must be cheap.
    save : callable or "module:function", optional
        ``save(image: ImageArray, path, **kwargs)``.  It must write through
        :func:`atomic_path` (a temporary file renamed into place, so a failure
        never leaves a truncated file) and must not change ``image``.
    open : callable or "module:function", optional
        Lazy (disk-backed) opening, for formats that support it.
    cls : type or "module:Class", optional
        The :class:`~stonerimg.ImageFile` subclass ``load`` returns (default ImageFile).
    description : str
        One line for listings.
    key_facts : tuple of KeyFact
        The few metadata items a person looks for first in this format's images
        (energy, field, voltage, ...); see :func:`key_facts`.
    """

    name: str
    extensions: Mapping[str, int]
    load: Callable | str
    magic: tuple[bytes, ...] = ()
    sniff: Callable | str | None = None
    save: Callable | str | None = None
    open: Callable | str | None = None
    cls: type | str | None = None
    description: str = ""
    key_facts: tuple[KeyFact, ...] = ()

    def accepts(self, head: bytes) -> bool | None:
        """True/False when the format can tell from ``head`` whether a file is its kind, None if it cannot."""
        if self.magic and head.startswith(self.magic):
            return True
        if self.sniff is not None:
            try:
                return bool(_resolve(self.sniff)(head))
            except Exception as err:  # a broken sniffer must not stop the search
                _logger().warning("sniff of format %r failed: %s", self.name, err)
                return False
        return False if self.magic else None

    @property
    def image_class(self) -> type:
        """The ImageFile subclass this format returns."""
        if self.cls is None:
            from ..imagefile import ImageFile

            return ImageFile
        return _resolve(self.cls)

    def priority(self, extension: str) -> int:
        """Return the priority for ``extension`` (:data:`DEFAULT_PRIORITY` if the format does not claim it)."""
        return self.extensions.get(extension, min(self.extensions.values(), default=DEFAULT_PRIORITY))


_BUILTIN: dict[str, Format] = {}


def register(fmt: Format, *, replace: bool = False) -> Format:
    """Add ``fmt`` to the registry (``replace=True`` to override a format of the same name)."""
    if not isinstance(fmt, Format):
        raise TypeError(f"register() needs a Format, not {type(fmt).__name__}")
    if fmt.name in _BUILTIN and not replace:
        raise ValueError(f"a format named {fmt.name!r} is already registered")
    bad = [ext for ext in fmt.extensions if not ext.startswith(".") or ext != ext.lower()]
    if bad:
        raise ValueError(f"extensions must be lower case and start with '.', not {bad}")
    _BUILTIN[fmt.name] = fmt
    return fmt


def unregister(name: str) -> Format:
    """Take the format called ``name`` out of the registry (one added with :func:`register`) and return it.

    Formats that come from an installed plugin's entry point are found again on
    discovery; uninstall the plugin to remove them.

    Raises
    ------
    ValueError
        If no format of that name was registered with :func:`register`.
    """
    if name not in _BUILTIN:
        raise ValueError(f"fmt: no format named {name!r} was registered; registered: {', '.join(sorted(_BUILTIN))}")
    return _BUILTIN.pop(name)


@functools.cache
def _plugins() -> tuple[Format, ...]:
    """Discover (once) the formats of the ``stonerimg.formats`` entry-point group."""
    from importlib.metadata import entry_points

    found = []
    for entry in entry_points(group="stonerimg.formats"):
        try:
            fmt = entry.load()
            if not isinstance(fmt, Format) and callable(fmt):
                fmt = fmt()
            if not isinstance(fmt, Format):
                raise TypeError(f"it gave a {type(fmt).__name__}, not a stonerimg.formats.Format")
        except Exception as err:
            warnings.warn(f"stonerimg format plugin {entry.name!r} could not be loaded: {err}", stacklevel=2)
            continue
        found.append(fmt)
    return tuple(found)


def _all_formats() -> dict[str, Format]:
    formats = dict(_BUILTIN)
    for fmt in _plugins():
        formats.setdefault(fmt.name, fmt)
    return formats


def get(name: str) -> Format:
    """Return the registered format called ``name``."""
    if not isinstance(name, str):
        raise TypeError(f"fmt: a format's name (a str such as 'tiff'), not {name!r}")
    formats = _all_formats()
    if name not in formats:
        raise ValueError(f"fmt: no format named {name!r}; known formats: {', '.join(sorted(formats))}")
    return formats[name]


def key_facts(metadata: Mapping, fmt: str | None = None) -> list[tuple[str, Any, str]]:
    """Find the key facts of an image in its metadata.

    Parameters
    ----------
    metadata : mapping
        The image's metadata.
    fmt : str, optional
        The name of the format the image came from: its declared
        :attr:`Format.key_facts` are used.  Without it (an image made in memory,
        or an unknown name) the facts of every registered format that are present
        are used, in registry order.

    Returns
    -------
    list of (label, value, units)
        One entry per fact present in ``metadata``, units from the metadata's
        ``"<key>.units"`` or ``"<key>@units"`` item when it has one.
    """
    formats = _all_formats()
    chosen = [formats[fmt]] if fmt in formats else list(formats.values())
    found, seen = [], set()
    for one in chosen:
        for fact in one.key_facts:
            keys = (fact.keys,) if isinstance(fact.keys, str) else tuple(fact.keys)
            key = next((k for k in keys if k in metadata), None)
            if key is None or fact.label in seen:
                continue
            units = metadata.get(f"{key}.units", metadata.get(f"{key}@units", fact.units))
            seen.add(fact.label)
            found.append((fact.label, metadata[key], str(units).strip() if isinstance(units, str) else fact.units))
    return found


def available() -> list[dict]:
    """Describe every registered format.

    Returns
    -------
    list of dict
        One dict per format with ``name``, ``extensions`` (extension to priority),
        ``saves`` and ``lazy`` (whether it can open lazily) and ``description``.
    """
    return [
        {
            "name": fmt.name,
            "extensions": dict(fmt.extensions),
            "saves": fmt.save is not None,
            "lazy": fmt.open is not None,
            "description": fmt.description,
        }
        for fmt in _all_formats().values()
    ]


# ------------------------------------------------------------------ options
#: Parameters of ``open`` functions that :func:`stonerimg.open` fills itself.
_OPEN_OWN = ("mode",)


def accepted_options(fmt: Format, role: str = "load") -> tuple[str, ...] | None:
    """Return the keyword options the format's ``load`` (or ``open``) takes, or None if it cannot say.

    The options are the loader's parameters after the path (``mode`` of ``open``
    functions is :func:`stonerimg.open`'s own).  A loader that passes options on to
    another library (``**kwargs``) lists what it accepts in an ``accepted_options``
    attribute (a sequence, or a callable returning one); a third-party loader with
    ``**kwargs`` and no such attribute is trusted to check them itself (None).
    """
    target = fmt.load if role == "load" else fmt.open
    if target is None:
        return ()
    func = _resolve(target)
    declared = getattr(func, "accepted_options", None)
    if declared is not None:
        names = declared() if callable(declared) else declared
        return None if names is None else tuple(names)
    try:
        parameters = list(inspect.signature(func).parameters.values())[1:]  # after the path
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    own = _OPEN_OWN if role == "open" else ()
    return tuple(p.name for p in parameters if p.kind in keyword and p.name not in own)


def _unknown_options(fmt: Format, options: Mapping, role: str) -> list[str]:
    if not options:
        return []  # the common case costs nothing (no signature is read)
    accepted = accepted_options(fmt, role)
    return [] if accepted is None else sorted(set(options) - set(accepted))


def _option_error(fmt: Format, unknown: list[str], role: str, path: Path | None = None) -> TypeError:
    """Build the TypeError for options ``fmt`` does not take: each named, what it accepts, a likely intended name."""
    accepted = accepted_options(fmt, role) or ()
    chosen = f" (the format chosen for {path.name})" if path is not None else ""
    names = ", ".join(repr(name) for name in unknown)
    plural = "options" if len(unknown) > 1 else "option"
    takes = f"it accepts {', '.join(accepted)}" if accepted else "it takes no options"
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, accepted, n=1)
        if close:
            hints.append(f"{name!r} -> {close[0]!r}")
    hint = f"; did you mean {', '.join(hints)}?" if hints else ""
    verb = "open" if role == "open" else "load"
    return TypeError(f"{verb}: unknown {plural} {names} for format {fmt.name!r}{chosen}; {takes}{hint}")


def check_options(options: Mapping, *, fmt: str | None = None, paths=(), cls: type | None = None, role: str = "load"):
    """Raise TypeError unless every option in ``options`` is taken by a format that may read ``paths``.

    With ``fmt``, that format must take them all.  Otherwise each option must be
    taken by at least one format that claims the extension of one of ``paths``
    (every registered format when there are none).  Used where files are loaded
    later (:class:`~stonerimg.ImageFolder`) so a typo fails at once, not file by file.
    """
    options = {k: v for k, v in options.items() if k not in ("fmt", "cls", "external")}  # the registry's own
    if not options:
        return
    if fmt is not None:
        chosen = get(fmt)
        unknown = _unknown_options(chosen, options, role)
        if unknown:
            raise _option_error(chosen, unknown, role)
        return
    formats = list(_all_formats().values())
    if cls is not None:
        formats = [f for f in formats if issubclass(f.image_class, cls)]
    extensions = {_extension(Path(os.fspath(p))) for p in paths}
    claiming = [f for f in formats if extensions & set(f.extensions)] or formats
    accepted: dict[str, tuple[str, ...] | None] = {f.name: accepted_options(f, role) for f in claiming}
    if any(names is None for names in accepted.values()):
        return  # a format that checks its own options may take anything
    taken = set().union(*accepted.values()) if accepted else set()
    unknown = sorted(set(options) - taken)
    if unknown:
        each = "; ".join(f"{name}: {', '.join(names) or 'none'}" for name, names in sorted(accepted.items()))
        hints = [
            f"{name!r} -> {close[0]!r}" for name in unknown if (close := difflib.get_close_matches(name, taken, n=1))
        ]
        hint = f"; did you mean {', '.join(hints)}?" if hints else ""
        names = ", ".join(repr(name) for name in unknown)
        raise TypeError(f"{role}: unknown option(s) {names}: no format for these files takes them ({each}){hint}")


def _try_formats(formats, role: str, path: Path, options: dict, attempts: list, call: Callable, sniffed: bool):
    """``_first_that_works`` with the options checked against each format before it is used.

    A format chosen by name that does not take an option is a TypeError at once.
    A sniffed candidate that does not take one is tried with the options it does
    take, only to learn whether the file is its kind: if it declines, the search
    goes on (the option may be the next format's); if it reads the file, that
    format was the one chosen, and the TypeError says so and lists what it accepts.
    """
    for candidate in formats:
        unknown = _unknown_options(candidate, options, role)
        if not unknown:
            document = _first_that_works([candidate], lambda f: call(f, options), attempts, path)
            if document is not None:
                return document
            continue
        if not sniffed:
            raise _option_error(candidate, unknown, role)
        subset = {k: v for k, v in options.items() if k not in unknown}
        document = _first_that_works([candidate], lambda f, subset=subset: call(f, subset), attempts, path)
        if document is not None:
            close = getattr(document, "close", None)
            if callable(close):
                close()
            raise _option_error(candidate, unknown, role, path)
    return None


def _extension(path: Path) -> str:
    return path.suffix.lower()


def candidates(path, head: bytes = b"", cls: type | None = None) -> list[Format]:
    """List the formats to try for ``path``, best first.

    Formats claiming the file's extension come first (by priority, then name),
    except those whose signature check rejects ``head``; then the other formats
    whose signature check accepts ``head``.  With ``cls``, only formats returning
    that class (or a subclass) are considered.
    """
    claiming, others = _candidate_groups(path, head, cls)
    return claiming + list(others)


def _candidate_groups(path, head: bytes, cls: type | None) -> tuple[list[Format], Iterator[Format]]:
    """Return the candidates of :func:`candidates` in two parts: those claiming the extension, the others lazily.

    The other formats' signature checks (``sniff``) run only as the second part is
    consumed, so a load that the first part serves asks none of them.
    """
    ext = _extension(Path(path))
    formats = list(_all_formats().values())
    if cls is not None:
        formats = [f for f in formats if issubclass(f.image_class, cls)]
    by_ext = sorted((f for f in formats if ext in f.extensions), key=lambda f: (f.extensions[ext], f.name))

    def others():
        rest = sorted((f for f in formats if ext not in f.extensions), key=lambda f: (f.priority(ext), f.name))
        yield from (f for f in rest if f.accepts(head))

    return [f for f in by_ext if f.accepts(head) is not False], others()


def load(filename, *, fmt: str | None = None, cls: type | None = None, external: str | None = None, **kwargs):
    """Load an image file through the registry.

    Parameters
    ----------
    filename : str or os.PathLike
        The file (opened read-only, never changed).
    fmt : str, optional
        Try only the format of this name.
    cls : type, optional
        Try only formats returning this :class:`~stonerimg.ImageFile` subclass.
    external : {"below", "none", "any"}, optional
        Where an HDF5 file may keep data outside itself (external links, raw
        storage, virtual datasets): default :data:`stonerimg.config.external`
        (``"below"``: only regular files in the file's folder or below).
        ``"any"`` lets a file make the library read any file you can read; see
        :doc:`/safety`.
    **kwargs
        Passed to the loader.  An option the chosen format does not take is a
        TypeError that names it, the format (and the file, when the format was
        sniffed) and the options the format accepts; see :func:`accepted_options`.

    Returns
    -------
    ImageFile
        The loaded document (its class is the format's), with ``.filename`` and ``.format`` set.

    Raises
    ------
    FileNotFoundError, PermissionError
        If the file is missing or cannot be read.
    stonerimg.FormatError
        If it is a directory or no format could read it; the message lists each format tried.
        A loader that refuses the file outright (data outside the file, a size
        beyond the limits) stops the search with its own ``FormatError``.
    """
    from ._hdf5 import using_external

    with using_external(external):
        return _load(filename, fmt, cls, kwargs)


def _load(filename, fmt, cls, kwargs):
    path = Path(os.fspath(filename))
    head = _head(path)
    if fmt is not None:
        chosen = get(fmt)
        if cls is not None and not issubclass(chosen.image_class, cls):
            raise ValueError(f"fmt: format {fmt!r} gives {chosen.image_class.__name__}, not {cls.__name__}")
        claiming, others = [chosen], iter(())
    else:
        claiming, others = _candidate_groups(path, head, cls)
    ext = _extension(path)
    rejected = [
        f
        for f in _all_formats().values()
        if fmt is None and ext in f.extensions and f not in claiming and (cls is None or issubclass(f.image_class, cls))
    ]
    tried: list[Format] = []

    def trying():  # the other formats are sniffed only once those claiming the extension have declined
        for f in itertools.chain(claiming, others):
            tried.append(f)
            yield f

    attempts: list[tuple[str, str]] = [
        (f.name, f"the file's first bytes are not a {f.name} signature")
        for f in sorted(rejected, key=lambda f: (f.extensions[ext], f.name))
    ]
    document = _try_formats(
        trying(), "load", path, kwargs, attempts, lambda f, options: _resolve(f.load)(path, **options), fmt is None
    )
    if document is not None:
        document.filename = str(path.absolute())  # a later chdir must not change which file it names
        return document
    reason = "" if tried or attempts else f"no format recognises its extension {path.suffix!r} or its first bytes"
    if cls is not None:
        reason = (reason or "no format could read it") + f" (looking only for formats that give {cls.__name__})"
    raise FormatError(path, attempts, reason=reason)


def _head(path: Path) -> bytes:
    """Return the first :data:`SNIFF_BYTES` of the file to be read, after the checks that come before any format."""
    try:
        kind = os.stat(path).st_mode
    except OSError as err:  # as Path.exists() judged it: missing, or a loop of links
        if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            raise FileNotFoundError(2, "No such file", str(path)) from None
        raise
    if stat.S_ISDIR(kind):
        raise FormatError(path, reason="it is a directory, not a file")
    if not stat.S_ISREG(kind):
        what = "a FIFO" if stat.S_ISFIFO(kind) else "a socket" if stat.S_ISSOCK(kind) else "a device"
        raise FormatError(path, reason=f"it is {what}, not a regular file")
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        raise FormatError(path, reason="the file is empty")
    return head


def _first_that_works(formats, call: Callable, attempts: list, path: Path):
    """Return ``call(fmt)`` for the first format that does not decline or fail (its ``.format`` set), else None.

    Each format that declines (:class:`FormatMismatch`) or fails is recorded in
    ``attempts`` as ``(name, reason)``; a missing or unreadable file, a
    MemoryError or a :class:`FormatError` (a loader refusing the file outright:
    data outside the file, a size beyond the limits) stops the search.
    """
    for candidate in formats:
        try:
            document = call(candidate)
        except FormatMismatch as err:
            attempts.append((candidate.name, str(err) or "not this format"))
            continue
        except FormatError as err:  # refused outright: no other format may read what this one refused
            attempts.append((candidate.name, err.reason or str(err)))
            raise FormatError(path, attempts, reason="refused") from None
        except (MemoryError, PermissionError, FileNotFoundError):
            raise
        except Exception as err:
            attempts.append((candidate.name, f"{type(err).__name__}: {err}"))
            _logger().info("format %r failed on %s", candidate.name, path, exc_info=True)
            continue
        document.format = candidate.name
        return document
    return None


def _saver_for(path: Path, fmt: str | None) -> Format:
    if fmt is not None:
        chosen = get(fmt)
        if chosen.save is None:
            raise ValueError(f"fmt: format {fmt!r} cannot save")
        return chosen
    ext = _extension(path)
    savers = sorted(
        (f for f in _all_formats().values() if f.save is not None and ext in f.extensions),
        key=lambda f: (f.extensions[ext], f.name),
    )
    if not savers:
        known = sorted({e for f in _all_formats().values() if f.save is not None for e in f.extensions})
        raise ValueError(
            f"filename: no format saves {ext or 'files without an extension'!r} ({path}); "
            f"use one of {', '.join(known)} or pass fmt="
        )
    return savers[0]


#: What every temporary file of a save carries in its name (after ``.<target name>``).
TEMP_MARK = ".~stonerimg-"
#: A temporary file this old is stale whoever made it (a save on another machine sharing the folder).
STALE_SECONDS = 24 * 3600
_TEMP_NAME = re.compile(r"\.~stonerimg-(\d+)@(\w*)-[0-9a-f]{8}")
_cleaned_folders: set[str] = set()


def _host() -> str:
    return re.sub(r"\W", "_", socket.gethostname())[:32]


def temp_name(target: Path) -> str:
    """Return the name of a new temporary file for a save to ``target``: hidden, and recognisably ours.

    ``.<target name>.~stonerimg-<pid>@<host>-<random><suffix>``: the process and
    machine that write it are in the name, so a later save can tell a stale one
    (its process is gone) from one being written.
    """
    return f".{target.name[:120]}{TEMP_MARK}{os.getpid()}@{_host()}-{secrets.token_hex(4)}{target.suffix}"


def temp_files(target: Path) -> list[Path]:
    """Return the temporary files of saves to ``target`` that are in its folder (finished or not)."""
    target = Path(os.fspath(target))
    pattern = f".{glob.escape(target.name[:120])}{TEMP_MARK}*"
    return sorted(target.parent.glob(pattern))


def _is_stale(path: Path) -> bool:
    match = _TEMP_NAME.search(path.name)
    if match is None:
        return False
    try:
        age = time.time() - path.lstat().st_mtime
    except OSError:
        return False
    if age > STALE_SECONDS:
        return True
    pid, host = int(match.group(1)), match.group(2)
    if host != _host() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True  # its process is gone: it will never be finished
    except OSError:
        return False
    return False


def remove_stale_temp_files(folder, *, force: bool = False) -> list[Path]:
    """Remove the temporary files that interrupted saves left in ``folder``; return them.

    A temporary file is stale when the process that wrote it (named in the file
    name) is gone from this machine, or it is older than :data:`STALE_SECONDS`.
    :func:`atomic_path` calls this once per folder and process (``force=True``
    looks again).
    """
    folder = Path(os.fspath(folder))
    key = os.path.realpath(folder)
    if key in _cleaned_folders and not force:
        return []
    _cleaned_folders.add(key)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        if TEMP_MARK not in entry.name or not entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if _is_stale(path):
            try:
                path.unlink()
            except OSError:
                continue
            _logger().info("removed %s, left by an interrupted save", path)
            removed.append(path)
    return removed


@contextmanager
def library_log(name: str) -> Iterator[list[str]]:
    """Collect what the logger ``name`` (a library a loader calls, e.g. ``"tifffile"``) says in this thread.

    The messages (warnings and worse) are yielded as a list so a loader that then
    fails can give them as its reason; they still go on to the logging
    configuration (the ``stonerimg`` command shows them only with ``--verbose``).
    """
    import logging
    import threading

    messages: list[str] = []
    owner = threading.get_ident()

    class _Collect(logging.Handler):
        def emit(self, record):
            if threading.get_ident() == owner:
                messages.append(record.getMessage())

    handler = _Collect(logging.WARNING)
    target = logging.getLogger(name)
    target.addHandler(handler)
    try:
        yield messages
    finally:
        target.removeHandler(handler)


@contextmanager
def atomic_path(target) -> Iterator[Path]:
    """Give a temporary path beside ``target`` and put it in place of ``target`` if the block succeeds.

    The one way every saver of stonerimg writes a file:

    - the file is written in full under a temporary name (:func:`temp_name`) and
      renamed onto ``target``, so ``target`` is always the old file or the new
      one, never a part (a failure removes the temporary file; a killed process
      leaves it, and the next save to that folder removes it:
      :func:`remove_stale_temp_files`);
    - saving over a symbolic link writes the file it points to (the link stays);
    - the new file keeps the mode of the file it replaces, and a new file gets
      the mode the process umask gives (the umask is never changed);
    - a target with several hard links is rewritten in place once the new file
      is complete, so every name sees the new content (that last copy is not
      atomic: a kill during it leaves a mixed file, and the complete new file
      stays beside it under its temporary name).
    """
    target = Path(os.fspath(target))
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(2, "The folder to save into does not exist", str(folder))
    remove_stale_temp_files(folder)
    try:
        existing = os.stat(target)
    except FileNotFoundError:
        existing = None
    temp = folder / temp_name(target)
    # created with 0o666: the kernel applies the umask, so a new file gets the umask's mode
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666))
    try:
        yield temp
        if existing is not None and stat.S_ISREG(existing.st_mode):
            os.chmod(temp, stat.S_IMODE(existing.st_mode))
            if existing.st_nlink > 1:
                _write_in_place(temp, target)
                return
        os.replace(temp, target)
    finally:
        if os.path.lexists(temp):
            temp.unlink()


def file_mode(target) -> int:
    """Return the mode a save gives ``target``: its own if it exists, else what the umask gives a new file.

    The umask is found without changing it (a probe file is made and removed):
    ``os.umask`` would change it for every thread of the process for a moment.
    """
    target = Path(os.fspath(target))
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        pass
    probe = target.parent / temp_name(target)
    os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        return stat.S_IMODE(os.stat(probe).st_mode)
    finally:
        probe.unlink()


def _write_in_place(source: Path, target: Path) -> None:
    """Copy ``source`` over the content of ``target`` (same inode: its hard links see the new content)."""
    import shutil

    with open(source, "rb") as src, open(target, "r+b") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.truncate()


def save(image, filename, *, fmt: str | None = None, **kwargs) -> Path:
    """Save an image atomically; the format comes from the extension unless ``fmt`` names one.

    Parameters
    ----------
    image : ImageArray, ImageFile or array_like
        What to save; it is not changed.
    filename : str or os.PathLike
        The target file.  It is written in full to a temporary file beside it
        that is then renamed, so a failure never leaves a truncated file.
    fmt : str, optional
        The name of a registered format that can save.
    **kwargs
        Passed to the format's saver.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    from ..funcs._binding import as_image
    from ._payload import saving_document_format

    path = Path(os.fspath(filename))
    chosen = _saver_for(path, fmt)
    token = saving_document_format.set(document_format(image))
    try:
        _resolve(chosen.save)(as_image(image), path, **kwargs)
    finally:
        saving_document_format.reset(token)
    return path


def document_format(document) -> str | None:
    """Return the registered format name that stands for the class of ``document`` ("stxm" for STXMImage) or None.

    Recorded in the files stonerimg writes, so the class comes back on loading
    (only through the registry, see :func:`~stonerimg.formats._payload.recorded_class`).
    """
    from ..imagefile import ImageFile

    if not isinstance(document, ImageFile):
        return None
    for cls in type(document).__mro__:
        if cls is ImageFile:
            return None
        names = sorted(f.name for f in _all_formats().values() if f.cls is not None and f.image_class is cls)
        if names:
            return names[0]
    return None


HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _builtin(
    name,
    extensions,
    module,
    *,
    magic=(),
    sniff=None,
    saves=True,
    cls=None,
    load="load",
    open=None,
    description="",
    key_facts=(),
):
    register(
        Format(
            name=name,
            extensions=extensions,
            load=f"stonerimg.formats.{module}:{load}",
            magic=magic,
            sniff=f"stonerimg.formats.{module}:{sniff}" if sniff else None,
            save=f"stonerimg.formats.{module}:save" if saves else None,
            cls=f"stonerimg.formats.{module}:{cls}" if cls else None,
            open=open,
            description=description,
            key_facts=tuple(KeyFact(*fact) for fact in key_facts),
        )
    )


_builtin(
    "tiff",
    {".tif": 10, ".tiff": 10},
    "tiff",
    magic=(b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
    open="stonerimg.disk.openers:open_tiff",
    description="TIFF (tifffile); metadata, mask and dtype kept in the image description",
    key_facts=(
        ("ImageJ", "imagej.ImageJ"),
        ("ImageJ unit", "imagej.unit"),
        ("written by", ("tiff.writer", "tiff.Software")),
        ("voltage", "microscope.voltage", "V"),
    ),
)
_builtin(
    "png",
    {".png": 10},
    "png",
    magic=(b"\x89PNG\r\n\x1a\n",),
    description="PNG (Pillow); bool, 8- and 16-bit images; metadata and mask in an iTXt chunk",
)
_builtin(
    "npy",
    {".npy": 10},
    "npy",
    magic=(b"\x93NUMPY",),
    open="stonerimg.disk.openers:open_npy",
    description="NumPy .npy; metadata and mask in a '<file>.json' sidecar",
)
_builtin(
    "stxm",
    {".hdf5": 5, ".hdf": 5, ".h5": 5, ".nxs": 5},
    "stxm",
    magic=(HDF5_MAGIC,),
    cls="STXMImage",
    open="stonerimg.disk.openers:open_stxm",
    description="Swiss Light Source PolLux STXM (NeXus NXstxm, h5py) as STXMImage",
    key_facts=(
        ("energy", "energy", "eV"),
        ("polarization", "polarization"),
        ("dwell", "counter0.count_time", "s"),
        ("scan type", "counter0.stxm_scan_type"),
        ("started", "start_time"),
    ),
)
_builtin(
    "nexus",
    {".nxs": 20, ".nx5": 20, ".hdf5": 20, ".hdf": 20, ".h5": 20},
    "nexus",
    magic=(HDF5_MAGIC,),
    saves=False,
    open="stonerimg.disk.openers:open_nexus",
    description="NeXus NXdata (signal and axes) or any HDF5 file with one 2-D dataset (h5py)",
)
_builtin(
    "kerr",
    {".png": 5},
    "kerr",
    magic=(b"\x89PNG\r\n\x1a\n",),
    saves=False,
    cls="KerrImage",
    description="Kerr microscope PNG (NI IMAQ Vision typed metadata) as KerrImage",
    key_facts=(
        ("field", "field"),
        ("averaging", "Images to Average"),
        ("lens", "Lens", "x"),
        ("background images", "Background Images"),
    ),
)
_builtin(
    "maximus",
    {".hdr": 10, ".xim": 10},
    "maximus",
    sniff="sniff",
    saves=False,
    description="MAXYMUS (BESSY II) STXM scan: .hdr header and .xim text images",
    key_facts=(
        ("energy", "energy", "eV"),
        ("dwell", "dwell", "ms"),
        ("scan type", "ImageScan.ScanType"),
        ("stack axis", "stack.axis"),
        ("stack values", "stack.value"),
    ),
)

# DigitalMicrograph natively (before RosettaSciIO's reader, which stays the fallback at priority 40);
# recognised by the version number and byte-order flag of its header, whatever the extension.
_builtin(
    "dm",
    {".dm3": 10, ".dm4": 10},
    "dm",
    sniff="sniff",
    saves=False,
    open="stonerimg.formats.dm:open",
    description="Gatan DigitalMicrograph DM3/DM4 (native; every tag, calibrations, lazy open)",
    key_facts=(
        ("voltage", "microscope.voltage", "V"),
        ("magnification", "microscope.magnification", "×"),
        ("camera length", "microscope.camera_length", "mm"),
        ("mode", "microscope.mode"),
        ("exposure", "microscope.exposure", "s"),
        ("microscope", "microscope.name"),
    ),
)

#: Formats read through RosettaSciIO (extra ``em``): name -> (extensions, RosettaSciIO plugin name).
RSCIIO_FORMATS = {
    "digitalmicrograph": ((".dm3", ".dm4"), "DigitalMicrograph"),
    "emd": ((".emd",), "EMD"),
    "tia": ((".ser", ".emi"), "TIA"),
    "mrc": ((".mrc", ".ali"), "MRC"),
    "blockfile": ((".blo",), "Blockfile"),
    "semper": ((".unf",), "Semper"),
    "digitalsurf": ((".sur", ".pro"), "DigitalSurf"),
    "tvips": ((".tvips",), "TVIPS"),
}
for _name, (_extensions, _plugin) in RSCIIO_FORMATS.items():
    _builtin(
        _name,
        dict.fromkeys(_extensions, 40),
        "rsciio",
        load=f"load_{_name}",
        saves=False,
        description=f"{_plugin} through RosettaSciIO (pip install stonerimg[em])",
    )
