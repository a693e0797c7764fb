"""One archive holds what a node needs to come back: the database, the job queue and the
registrations (SQLite files, copied with SQLite's online backup API while the PBX runs; or a
``pg_dump`` that has all three), the server key and its fallbacks (without them no SIP or
provisioning password decrypts), and the embedded CA with its certificates.

The archive is a tar file, 0600, optionally encrypted with a passphrase (scrypt + Fernet).
Restoring writes only the members it knows, into an empty data dir.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import re
import secrets
import sqlite3
import subprocess
import tarfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from cloudpbx import __version__
from cloudpbx.config import Config
from cloudpbx.core import certificates, jobs
from cloudpbx.sip import kamailio, kamailio_config

FORMAT = 1
ENCRYPTED = b"cloudpbx-backup-encrypted-1\n"
_SALT_BYTES = 16
_TLS_MEMBER = re.compile(r"^tls/[A-Za-z0-9._-]+$")
# Debian's wrappers pick the client version that suits the server.
PG_DUMP, PG_RESTORE = "/usr/bin/pg_dump", "/usr/bin/pg_restore"


class BackupError(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class Contents:
    manifest: dict[str, Any]
    members: dict[str, bytes]

    @property
    def keys(self) -> dict[str, Any]:
        keys: dict[str, Any] = json.loads(self.members["keys.json"])
        return keys


# --- writing ----------------------------------------------------------------------------------


def write(config: Config, target: Path, passphrase: bytes | None = None) -> None:
    """Write the archive to ``target``, which must not exist."""
    usrloc = kamailio_config.usrloc_file(config)
    if usrloc is not None and kamailio.answers(config, timeout=2.0) is None:
        # Registrations made before the backup started reach the file within one write-back.
        time.sleep(kamailio_config.USRLOC_WRITE_BACK_SECONDS + 1)
    members: dict[str, bytes] = {}
    if connection.vendor == "postgresql":
        members["database.pgdump"] = _pg_dump()
    else:
        database = Path(str(connection.settings_dict["NAME"]))
        members["database.sqlite3"] = _sqlite_copy(database)
        if jobs.queue_file(database).exists():
            members["jobs.sqlite3"] = _sqlite_copy(jobs.queue_file(database))
    if usrloc is not None and usrloc.exists():
        members["usrloc.sqlite"] = _sqlite_copy(usrloc)
    tls = certificates.directory(config)
    for path in sorted(tls.iterdir()) if tls.is_dir() else ():
        if path.is_file() and _TLS_MEMBER.match(f"tls/{path.name}"):
            members[f"tls/{path.name}"] = path.read_bytes()
    members["keys.json"] = json.dumps(
        {"secret_key": config.secret_key, "fallbacks": config.secret_key_fallbacks}
    ).encode()
    manifest = {
        "format": FORMAT,
        "version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": connection.vendor,
        "migrations": latest_migrations(),
        "members": sorted(members),
    }
    data = _tar({"manifest.json": json.dumps(manifest, indent=1).encode(), **members})
    if passphrase:
        salt = secrets.token_bytes(_SALT_BYTES)
        data = ENCRYPTED + salt + Fernet(_key(passphrase, salt)).encrypt(data)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _sqlite_copy(source: Path) -> bytes:
    """A consistent copy of a database other processes are writing (the online backup API),
    as the bytes of a database file."""
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(":memory:")) as copy:
        live.backup(copy)
        return copy.serialize()


def _pg_environment() -> dict[str, str]:
    db = connection.settings_dict
    values = {
        "PGHOST": db["HOST"],
        "PGPORT": db["PORT"],
        "PGUSER": db["USER"],
        "PGPASSWORD": db["PASSWORD"],
        "PGDATABASE": db["NAME"],
    }
    return {**os.environ, **{name: str(value) for name, value in values.items() if value}}


def _pg_dump() -> bytes:
    done = subprocess.run(  # noqa: S603 (fixed arguments)
        [PG_DUMP, "--format=custom", "--no-owner", "--no-privileges"],
        env=_pg_environment(), capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode:
        raise BackupError(f"pg_dump failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def latest_migrations() -> dict[str, str]:
    """The last migration applied per app: the schema a backup holds."""
    latest: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        latest[app] = max(latest.get(app, ""), name)
    return dict(sorted(latest.items()))


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _key(passphrase: bytes, salt: bytes) -> bytes:
    derived = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase)
    return base64.urlsafe_b64encode(derived)


# --- reading and restoring --------------------------------------------------------------------


def read(source: Path, passphrase: bytes | None = None) -> Contents:
    data = source.read_bytes()
    if data.startswith(ENCRYPTED):
        if not passphrase:
            raise BackupError("this backup is encrypted: give its passphrase")
        salt = data[len(ENCRYPTED) : len(ENCRYPTED) + _SALT_BYTES]
        try:
            data = Fernet(_key(passphrase, salt)).decrypt(data[len(ENCRYPTED) + _SALT_BYTES :])
        except InvalidToken:
            raise BackupError("wrong passphrase, or the file is damaged") from None
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for info in archive.getmembers():
                handle = archive.extractfile(info) if info.isfile() else None
                if handle is not None:
                    members[info.name] = handle.read()
        manifest = json.loads(members.pop("manifest.json"))
    except (tarfile.TarError, KeyError, ValueError, OSError) as error:
        raise BackupError(f"not a cloudpbx backup: {error}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')} is not {FORMAT}")
    return Contents(manifest, members)


def restore(config: Config, contents: Contents, *, key_from_environment: bool) -> list[str]:
    """Restore into this node's empty data dir and database; return notes for the operator."""
    notes = []
    keys = contents.keys
    if key_from_environment:
        if keys["secret_key"] not in (config.secret_key, *config.secret_key_fallbacks):
            raise BackupError(
                "the backup's data is encrypted with another server key: set "
                "CLOUDPBX_SECRET_KEY to the backup's (see --print-keys), or add it to "
                "CLOUDPBX_SECRET_KEY_FALLBACKS"
            )
    if keys["fallbacks"] and not set(keys["fallbacks"]) <= set(config.secret_key_fallbacks):
        notes.append(
            f"the backup was made with {len(keys['fallbacks'])} old key(s) in "
            "CLOUDPBX_SECRET_KEY_FALLBACKS: set them again (see --print-keys)"
        )
    vendor = contents.manifest["database"]
    if vendor != connection.vendor:
        raise BackupError(
            f"the backup holds a {vendor} database; this node uses {connection.vendor}"
        )
    _refuse_unless_empty(config)
    if vendor == "postgresql":
        _pg_restore(contents.members["database.pgdump"])
    else:
        database = Path(str(connection.settings_dict["NAME"]))
        connection.close()
        for suffix in ("", "-wal", "-shm"):  # the empty file the check above opened
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        _write(database, contents.members["database.sqlite3"])
        if "jobs.sqlite3" in contents.members:
            _write(jobs.queue_file(database), contents.members["jobs.sqlite3"])
    usrloc = kamailio_config.usrloc_file(config)
    if usrloc is not None and "usrloc.sqlite" in contents.members:
        _write(usrloc, contents.members["usrloc.sqlite"])
    for name, data in contents.members.items():
        if _TLS_MEMBER.match(name):
            _write(certificates.directory(config) / name.split("/", 1)[1], data)
    if not key_from_environment:
        key_file = config.data_dir / "secret_key"
        key_file.unlink(missing_ok=True)  # the one this start generated
        _write(key_file, (keys["secret_key"] + "\n").encode())
    return notes


def _refuse_unless_empty(config: Config) -> None:
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    if tables:
        raise BackupError(
            f"the database already has {len(tables)} tables: restore into an empty one"
        )
    usrloc = kamailio_config.usrloc_file(config)
    if usrloc is not None and usrloc.exists():
        raise BackupError(f"{usrloc} exists: restore into an empty data dir")


def _pg_restore(dump: bytes) -> None:
    done = subprocess.run(  # noqa: S603 (fixed arguments)
        [PG_RESTORE, "--no-owner", "--no-privileges", "--exit-on-error",
         f"--dbname={connection.settings_dict['NAME']}"],
        input=dump, env=_pg_environment(), capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode:
        raise BackupError(f"pg_restore failed: {done.stderr.decode(errors='replace').strip()}")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
