"""Pull replies on disk between their arrival and their commit.

The hub counts a reply as held by the device once the device's next pull acknowledges it. The
agent sends that next pull before it has committed the reply (so the hub works on the next page
while the device commits this one), so a reply must be durable first: it is written here, and
removed once committed. Files are numbered in the order the replies came; a file is renamed
into place only when whole, so a reader never sees half a reply.
"""

from __future__ import annotations

import os
from pathlib import Path

_SUFFIX = ".json"


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def put(self, seq: int, body: bytes) -> None:
        """Keep ``body`` as reply ``seq``, durably, before this returns."""
        final = self._path(seq)
        partial = final.with_suffix(".part")
        with open(partial, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, final)
        self._sync_folder()

    def seqs(self) -> list[int]:
        """The replies held, in the order they came."""
        return sorted(int(path.stem) for path in self.folder.glob(f"*{_SUFFIX}"))

    def read(self, seq: int) -> bytes:
        return self._path(seq).read_bytes()

    def drop(self, seq: int) -> None:
        self._path(seq).unlink(missing_ok=True)

    def _path(self, seq: int) -> Path:
        return self.folder / f"{seq:012d}{_SUFFIX}"

    def _sync_folder(self) -> None:
        # The rename is durable only once the folder's entry is on disk.
        descriptor = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
