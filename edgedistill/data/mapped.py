"""Rows of a `.npy` feature array read on demand, so resident memory does not grow with the cache
(a cache larger than RAM works).

`MappedRows.open(path)` reads only the `.npy` header; `rows[index]` (an int, a slice, an index
array or a boolean mask) reads exactly those rows from the file (`os.pread`, one call per run of
consecutive rows) into a new ndarray. `rows.take(index)` is a lazy view of a subset (a split)
that reads nothing until indexed; `np.asarray(rows)` reads everything.

Why not a memory map: reading 64 random rows (1 MB) of a 95 MB cache through `np.load(...,
mmap_mode="r")` raised the process's resident set by 70 MB on this machine (ext4 maps whole
large page-cache folios around each touched row; MADV_RANDOM did not help), and those pages
count against the process until unmapped. pread copies only the rows asked for; the OS page cache
still serves repeated reads. numpy + stdlib only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class MappedRows:
    """An (N, ...) C-ordered array in a `.npy` file, read by rows; `index` maps this view's rows to the file's."""

    def __init__(self, path: str | Path, offset: int, dtype: np.dtype, shape: tuple[int, ...],
                 index: np.ndarray | None = None) -> None:
        self.path, self._offset, self.dtype, self._base_shape = str(path), int(offset), np.dtype(dtype), tuple(shape)
        self._index = None if index is None else np.asarray(index, dtype=np.int64)
        self._row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._fd: int | None = None

    @classmethod
    def open(cls, path: str | Path) -> "MappedRows":
        """Read a C-ordered `.npy` file's header (ValueError naming the file when it is not one)."""
        path = Path(path)
        with open(path, "rb") as f:
            try:
                version = np.lib.format.read_magic(f)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read_header(f)
            except ValueError as err:
                raise ValueError(f"{path}: not a .npy array ({err})") from None
            offset = f.tell()
        if fortran or dtype.hasobject or len(shape) < 1:
            raise ValueError(f"{path}: a feature array read by rows must be C-ordered numbers with a row axis")
        size = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if path.stat().st_size < size:
            raise ValueError(f"{path}: file is truncated ({path.stat().st_size} bytes, header says {size})")
        return cls(path, offset, dtype, shape)

    # ndarray-like surface ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self),) + self._base_shape[1:]

    @property
    def ndim(self) -> int:
        return len(self._base_shape)

    def __len__(self) -> int:
        return self._base_shape[0] if self._index is None else len(self._index)

    def __repr__(self) -> str:
        return f"MappedRows({self.path}, shape={self.shape}, dtype={self.dtype})"

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None}  # a file descriptor does not travel to another process

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def _rows(self, key) -> np.ndarray | int:
        """File row numbers for `key` (an int, slice, index array or boolean mask of this view)."""
        if isinstance(key, (int, np.integer)):
            if not -len(self) <= key < len(self):
                raise IndexError(f"row {key} out of range for {len(self)} rows")
            key = int(key) % len(self)
            return key if self._index is None else int(self._index[key])
        if self._index is None:
            return np.arange(len(self))[key]
        return self._index[key]

    def _read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows),) + self._base_shape[1:], dtype=self.dtype)
        if not len(rows):
            return out
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        flat = out.reshape(len(rows), -1).view(np.uint8)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for start, stop in zip(np.r_[0, breaks], np.r_[breaks, len(rows)]):  # one read per run of consecutive rows
            view = memoryview(flat[start:stop]).cast("B")
            position, done = self._offset + int(rows[start]) * self._row_bytes, 0
            while done < len(view):
                n = os.preadv(self._fd, [view[done:]], position + done)
                if n <= 0:
                    raise ValueError(f"{self.path}: unexpected end of file")
                done += n
        return out

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        rows = self._rows(key)
        if isinstance(rows, int):
            out = self._read(np.array([rows]))[0]
            return out[rest] if rest else out
        out = self._read(np.asarray(rows, dtype=np.int64).reshape(-1))
        return out[(slice(None),) + rest] if rest else out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def take(self, index) -> "MappedRows":
        """A lazy view of this view's rows `index` (int array or boolean mask); nothing is read."""
        rows = self._rows(np.asarray(index))
        return MappedRows(self.path, self._offset, self.dtype, self._base_shape, index=rows)
