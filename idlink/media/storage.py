"""Where media bytes live: the database (default, shared by every hub machine) or a directory
(which every machine must then share, e.g. a network volume)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from config import Settings
from core.private_files import private_directory
from idlink.media.models import Media, MediaBlob


class MediaStorage(Protocol):
    name: str

    def put(self, session: Session, media: Media, data: bytes) -> None: ...

    def get(self, session: Session, media: Media) -> bytes | None: ...

    def delete(self, session: Session, media: Media) -> None: ...


class DatabaseStorage:
    """Bytes in the ``media_blobs`` table, in the same transaction as the medium's row."""

    name = "database"

    def put(self, session: Session, media: Media, data: bytes) -> None:
        session.merge(MediaBlob(media_id=media.id, data=data))

    def get(self, session: Session, media: Media) -> bytes | None:
        blob = session.get(MediaBlob, media.id)
        return blob.data if blob is not None else None

    def delete(self, session: Session, media: Media) -> None:
        blob = session.get(MediaBlob, media.id)
        if blob is not None:
            session.delete(blob)


class FilesystemStorage:
    """One private file per medium under ``root/{shop}/``, written whole then renamed."""

    name = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, session: Session, media: Media, data: bytes) -> None:
        path = (self.root / str(media.shop_id) / f"{media.id}.bin").absolute()
        private_directory(self.root)
        private_directory(path.parent)
        partial = path.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        partial.replace(path)
        media.location = str(path)

    def get(self, session: Session, media: Media) -> bytes | None:
        if media.location is None:
            return None
        try:
            return Path(media.location).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, session: Session, media: Media) -> None:
        if media.location is not None:
            Path(media.location).unlink(missing_ok=True)


def configured(settings: Settings) -> MediaStorage:
    """The storage new media go to."""
    if settings.media_storage == FilesystemStorage.name:
        return FilesystemStorage(settings.media_dir or settings.data_dir / "media")
    return DatabaseStorage()


def of(media: Media) -> MediaStorage:
    """The storage a medium was kept in: it stays readable (and erasable) after the setting
    changes, and needs no settings (the file's place is on its row)."""
    if media.storage == FilesystemStorage.name:
        return FilesystemStorage(Path(media.location or ".").parent)
    return DatabaseStorage()
