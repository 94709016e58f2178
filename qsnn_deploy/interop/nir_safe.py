"""A ``.nir`` file is read as data only: its HDF5 structure is checked before ``nir.read`` reads a byte of it.

HDF5 can make a dataset read another file: external storage (raw data kept in a named file), external links (an
object of another HDF5 file), virtual datasets (mappings onto datasets of other files), and filter plugins (a
shared library loaded by filter id). Followed blindly, a NIR file could copy any local file into the weights of
the IR it becomes (issue 23, item 3). ``check_nir_file`` walks every link and dataset with h5py's low-level
calls, which read only the file's own metadata, and refuses, in one line naming the object:

- a link that is not a hard link (external, soft or user-defined);
- a dataset with external storage, a virtual layout, or a filter that is not built into HDF5 or h5py;
- a dataset that is not a plain numeric array (int, uint, float, bool), except the strings NIR itself writes:
  a node's ``type``, the graph's ``edges``, the file's ``version`` and the values under a ``metadata`` group;
- more objects, deeper nesting or larger arrays than any network this tool imports (docs/trust-model.md).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from qsnn_deploy.errors import QsnnError

STRING_FIELDS = frozenset({"type", "edges", "version"})  # the string datasets nir.write creates
NUMERIC_KINDS = frozenset("iufb")
# Filters compiled into HDF5 (deflate, shuffle, fletcher32, szip, nbit, scaleoffset) and h5py (lzf); any
# other id makes HDF5 look for a plugin library on its search path.
BUILTIN_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})
MAX_OBJECTS = 100_000
MAX_DEPTH = 32
MAX_ELEMENTS = 1 << 27  # per dataset: 128 Mi values, far beyond any layer the targets take


class UnsafeNirError(QsnnError):
    """A NIR file asks HDF5 to read something other than its own plain data."""


def _refuse(path: Path, where: str, why: str) -> UnsafeNirError:
    return UnsafeNirError(
        f"{path}: {where} {why}; a NIR file is read as plain data only (no external files, links, virtual "
        "datasets or non-numeric arrays): re-export it with nir.write"
    )


def _check_dataset(path: Path, where: str, name: str, dset, in_metadata: bool) -> None:
    import h5py

    plist = dset.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        raise _refuse(path, where, "is a virtual dataset (it maps data of other files)")
    if plist.get_external_count() > 0:
        raise _refuse(path, where, "keeps its data in an external file")
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in BUILTIN_FILTERS:
            raise _refuse(path, where, f"needs HDF5 filter {code}, a plugin library")
    dtype = dset.dtype
    if h5py.check_string_dtype(dtype) is not None:
        if name in STRING_FIELDS or in_metadata:
            return
        raise _refuse(path, where, "holds strings where NIR keeps numbers")
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _refuse(path, where, f"holds {dtype} values, not a plain int, uint, float or bool array")
    shape = dset.shape or ()
    size = 1
    for n in shape:
        size *= int(n)
    if size > MAX_ELEMENTS:
        raise _refuse(path, where, f"holds {size:,} values (at most {MAX_ELEMENTS:,})")


def check_nir_file(path: Path | str) -> None:
    """Raise ``UnsafeNirError`` (one line) unless ``path`` is a regular HDF5 file whose every object is plain
    data of this file; nothing but HDF5 metadata is read."""
    import h5py

    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise QsnnError(f"{path}: cannot read the NIR file ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise QsnnError(f"{path}: not a regular file; pass a .nir file")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise QsnnError(f"{path}: not a NIR file ({exc})") from None
    try:
        with handle:
            _walk(path, handle)
    except (KeyError, RuntimeError, ValueError, OSError) as exc:  # h5py's errors on a damaged file
        raise QsnnError(f"{path}: a damaged NIR (HDF5) file ({type(exc).__name__}: {exc})") from None


def _walk(path: Path, handle) -> None:
    """Check every link and dataset below ``handle`` (see ``check_nir_file``)."""
    import h5py

    seen = 0
    stack = [(handle, "", 0, False)]
    while stack:
        group, prefix, depth, in_metadata = stack.pop()
        if depth > MAX_DEPTH:
            raise _refuse(path, prefix or "/", f"nests groups more than {MAX_DEPTH} deep")
        for name in group.keys():
            seen += 1
            if seen > MAX_OBJECTS:
                raise _refuse(path, "the file", f"holds more than {MAX_OBJECTS:,} objects")
            where = f"{prefix}/{name}"
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                kind = {h5py.ExternalLink: "an external link", h5py.SoftLink: "a soft link"}.get(
                    type(link), "a user-defined link"
                )
                raise _refuse(path, where, f"is {kind}")
            obj = group[name]
            if isinstance(obj, h5py.Group):
                stack.append((obj, where, depth + 1, in_metadata or name == "metadata"))
            elif isinstance(obj, h5py.Dataset):
                _check_dataset(path, where, name, obj, in_metadata)
            else:
                raise _refuse(path, where, "is neither a group nor a dataset")


__all__ = ["UnsafeNirError", "check_nir_file"]
