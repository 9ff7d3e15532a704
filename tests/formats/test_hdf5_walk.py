"""The HDF5 metadata walk (issue 17): h5py's low-level API, each object visited once.

The reference here is the walk as it was written with h5py's high-level objects
(``Group.get``, ``obj.attrs``, ``dataset[()]``), kept verbatim: on real STXM files, NeXus
samples and a corpus of damaged files the low-level walk must give every item with the
same value and the same type.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap

import h5py
import numpy as np

from stonerimg import Metadata
from stonerimg.errors import FormatMismatch
from stonerimg.formats import nexus
from stonerimg.formats._hdf5 import check_global_heaps
from stonerimg.formats.nexus import MAX_METADATA_NDIM, MAX_METADATA_SIZE, _metadata_value, hdf5_metadata

from .test_bad_input import TOKENS, _write_nexus, corrupt
from .test_nexus import write_odd

_SKIP = nexus._SKIP


# ------------------------------------------------------------- the high-level reference walk
def _ref_dataset_value(dataset):
    shape = dataset.shape
    if shape is None:
        return _SKIP
    size = int(np.prod(shape, dtype=np.int64))
    if size != 1 and (len(shape) > MAX_METADATA_NDIM or size > MAX_METADATA_SIZE):
        return _SKIP
    try:
        value = dataset[()]
    except Exception:
        return _SKIP
    return _metadata_value(value)


def _ref_attribute(obj, name):
    try:
        return obj.attrs.get(name)
    except Exception:
        return None


def _ref_attribute_names(obj):
    try:
        return list(obj.attrs.keys())
    except Exception:
        return []


def _ref_member_names(group):
    try:
        return list(group.keys())
    except Exception:
        return []


def _ref_member(group, name):
    try:
        link = group.get(name, getlink=True)
        if link is None or isinstance(link, h5py.ExternalLink):
            return None
        return group.get(name)
    except Exception:
        return None


def _ref_put_attributes(obj, key, separator, metadata, members=()):
    for name in _ref_attribute_names(obj):
        value = _metadata_value(_ref_attribute(obj, name))
        if value is _SKIP:
            continue
        joined = f"{key}@{name}" if name in members or separator == "@" else f"{key}{separator}{name}"
        metadata[joined] = value


def _ref_collect(group, start, metadata, ancestors, budget):
    for name in _ref_member_names(group):
        if budget[0] <= 0:
            return
        budget[0] -= 1
        obj = _ref_member(group, name)
        if obj is None:
            continue
        key = f"{start}{name}"
        if isinstance(obj, h5py.Dataset):
            value = _ref_dataset_value(obj)
            if value is not _SKIP:
                metadata[key] = value
            _ref_put_attributes(obj, key, "@", metadata)
        elif isinstance(obj, h5py.Group):
            identity = obj.id
            if identity in ancestors:
                continue
            _ref_put_attributes(obj, key, ".", metadata, set(_ref_member_names(obj)))
            _ref_collect(obj, f"{key}.", metadata, ancestors | {identity}, budget)


def reference_metadata(group):
    """``hdf5_metadata(group)`` as the high-level walk computed it."""
    metadata = Metadata()
    members = set(_ref_member_names(group))
    for name in _ref_attribute_names(group):
        value = _metadata_value(_ref_attribute(group, name))
        if value is not _SKIP:
            metadata[f"@{name}" if name in members else name] = value
    _ref_collect(group, "", metadata, {group.id}, [nexus.MAX_METADATA_OBJECTS])
    return metadata


def reference_file_metadata(root, entry):
    metadata = Metadata()
    _ref_put_attributes(root, "file", ".", metadata)
    if entry is not None:
        metadata.update(reference_metadata(entry))
    else:
        _ref_collect(root, "", metadata, {root.id}, [nexus.MAX_METADATA_OBJECTS])
    return metadata


# ------------------------------------------------------------------------------ comparison
def assert_identical(expected: dict, actual: dict, where: str) -> None:
    """Every item present in both, with equal values of identical types (dtypes too)."""
    assert list(expected) == list(actual) or set(expected) == set(actual), (
        f"{where}: keys differ: only old {sorted(set(expected) - set(actual))[:5]}, "
        f"only new {sorted(set(actual) - set(expected))[:5]}"
    )
    for key, old in expected.items():
        new = actual[key]
        _assert_same(old, new, f"{where}[{key!r}]")


def _assert_same(old, new, where):
    assert type(old) is type(new), f"{where}: {type(old).__name__} != {type(new).__name__}"
    if isinstance(old, (np.ndarray, np.generic)):
        assert old.dtype == new.dtype, f"{where}: dtype {old.dtype} != {new.dtype}"
        assert np.array_equal(old, new, equal_nan=old.dtype.kind in "fc"), where
    elif isinstance(old, dict):
        assert old.keys() == new.keys(), where
        for k in old:
            _assert_same(old[k], new[k], f"{where}.{k}")
    elif isinstance(old, (list, tuple)):
        assert len(old) == len(new), where
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _assert_same(a, b, f"{where}[{i}]")
    else:
        assert old == new or (old != old and new != new), f"{where}: {old!r} != {new!r}"


def _outcome(read):
    try:
        return read()
    except Exception as err:  # on a damaged file both walks must fail alike
        return type(err)


def _compare(old, new, where) -> int:
    old, new = _outcome(old), _outcome(new)
    if isinstance(old, type) or isinstance(new, type):
        assert old is new, f"{where}: old {old if isinstance(old, type) else 'read'}, new {new}"
        return 0
    assert_identical(old, new, where)
    return len(new)


def compare_readers(path, *, groups: bool = True) -> int:
    """Compare both walks on ``path`` (root, each top-level group, the file-level forms); items compared."""
    with h5py.File(path, "r") as handle:
        compared = _compare(lambda: reference_metadata(handle), lambda: hdf5_metadata(handle), f"{path.name}:/")
        for name in _ref_member_names(handle) if groups else ():
            group = _ref_member(handle, name)
            if isinstance(group, h5py.Group):
                where = f"{path.name}:/{name}"
                compared += _compare(lambda g=group: reference_metadata(g), lambda g=group: hdf5_metadata(g), where)
                compared += _compare(
                    lambda g=group: reference_file_metadata(handle, g),
                    lambda g=group: nexus._file_metadata(h5py, handle, g),
                    f"{where} (file level)",
                )
        compared += _compare(
            lambda: reference_file_metadata(handle, None),
            lambda: nexus._file_metadata(h5py, handle, None),
            f"{path.name} (file level)",
        )
    return compared


def test_stxm_samples_give_identical_items(stxm_dir):
    files = sorted(stxm_dir.glob("*.hdf5"))
    assert len(files) == 2
    for path in files:
        assert compare_readers(path) > 500


def test_nexus_samples_give_identical_items(tmp_path):
    odd, plain = tmp_path / "odd.h5", tmp_path / "plain.nxs"
    write_odd(odd)
    _write_nexus(plain)
    assert compare_readers(odd) > 10
    assert compare_readers(plain) > 5


def _damaged_corpus(raw: bytes, seed: int, count: int):
    """``count`` files damaged as the fuzzer damages them (test_bad_input.corrupt), reproducibly."""
    rng = random.Random(seed)
    for _ in range(count):
        damages = []
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(0, 1024) if rng.random() < 0.5 else rng.randrange(0, len(raw))
            kind = rng.choice(["truncate", "flip", "overwrite", "insert", "duplicate"])
            if kind == "truncate":
                damages.append((kind, at))
            elif kind == "flip":
                damages.append((kind, at, rng.randint(1, 255)))
            elif kind == "duplicate":
                damages.append((kind, at, rng.randint(1, 4096), rng.randrange(0, len(raw))))
            else:
                payload = rng.choice(TOKENS) if rng.random() < 0.5 else rng.randbytes(rng.randint(1, 24))
                damages.append((kind, at, payload))
        yield corrupt(raw, damages)


def test_damaged_heap_corpus_gives_identical_items(stxm_dir, tmp_path):
    plain = tmp_path / "plain.nxs"
    _write_nexus(plain)
    sources = [(stxm_dir / "Sample_Image_2017-10-15_100.hdf5").read_bytes(), plain.read_bytes()]
    opened = items = 0
    for number, raw in enumerate(sources):
        for index, damaged in enumerate(_damaged_corpus(raw, seed=17 + number, count=30)):
            path = tmp_path / f"damaged_{number}_{index}.h5"
            path.write_bytes(damaged)
            try:
                check_global_heaps(path)  # files that would hang libhdf5 are declined before h5py opens them
                handle = h5py.File(path, "r")
            except (FormatMismatch, OSError):
                continue
            handle.close()
            opened += 1
            items += compare_readers(path, groups=False)
    assert opened >= 20 and items > 5000  # most damage leaves a file h5py still opens and reads


def test_a_dataset_reached_by_two_links_is_recorded_under_both(tmp_path):
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as f:
        f["a/value"] = np.arange(3.0)
        f["a/value"].attrs["units"] = "mm"
        f["b/alias"] = f["a/value"]  # a hard link
        f["c"] = h5py.SoftLink("/a/value")
    with h5py.File(path, "r") as f:
        md = hdf5_metadata(f)
    for key in ("a.value", "b.alias", "c"):
        assert md[key].tolist() == [0.0, 1.0, 2.0] and md[f"{key}@units"] == "mm"


WALK_SCRIPT = textwrap.dedent(
    """
    import sys, h5py
    from stonerimg.formats import nexus
    visits = []
    original = nexus._Walk.collect
    def counted(self, gid, start, names):
        visits.append(hash(gid))
        return original(self, gid, start, names)
    nexus._Walk.collect = counted
    with h5py.File(sys.argv[1], "r") as f:
        md = nexus.hdf5_metadata(f)
    print(len(visits), len(set(visits)), len(md))
    """
)


def test_groups_linked_twice_to_the_next_are_walked_once(tmp_path):
    """14 levels, each group linking twice to the next: 2**14 paths, 15 groups; each walked once."""
    path = tmp_path / "doubly_linked.h5"
    levels = 14
    with h5py.File(path, "w") as f:
        groups = [f.create_group(f"level{i}") for i in range(levels + 1)]
        for i in range(levels):
            groups[i]["left"] = groups[i + 1]
            groups[i]["right"] = groups[i + 1]
            groups[i]["value"] = float(i)
            groups[i].attrs["depth"] = i
    done = subprocess.run([sys.executable, "-c", WALK_SCRIPT, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    walked, distinct, items = (int(n) for n in done.stdout.split())
    assert walked == distinct == levels + 2  # the root and every group, once each
    assert items < 10 * levels  # metadata bounded by the objects, not by the paths
