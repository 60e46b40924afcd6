"""Astra secure connect bundles, checked before any connection is tried.

A bundle is a zip holding ``config.json`` (where the metadata service is), ``ca.crt``, ``cert`` and ``key``.
The cassandra-driver opens it only inside ``Cluster(cloud=...)``, after a network round trip, and reports a
broken bundle as a generic error; checked here instead, a missing or corrupt bundle is a one-line error
naming the setting. The check does what the driver does with the files (parse ``config.json``, build the
TLS context from the certificates) without contacting anything.

Nothing read from the bundle is printed: the key is a secret.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pytest_zdm.errors import SettingError

MEMBERS = ("config.json", "ca.crt", "cert", "key")


@dataclass(frozen=True)
class BundleInfo:
    """What a valid bundle says about where it leads (for display only)."""

    path: Path
    metadata_host: str
    metadata_port: int

    def __str__(self) -> str:
        where = f"{self.metadata_host}:{self.metadata_port}"
        return f"secure connect bundle {self.path.name} (metadata service {where})"


#: A bundle is about 10 KB; the file, its entries and each member read are bounded before anything is
#: unpacked (a 2 MB zip bomb unpacked to gigabytes before its one-line error).
MAX_BUNDLE_BYTES = 16 << 20
MAX_ENTRIES = 64
MAX_MEMBER_BYTES = 1 << 20


def check_bundle(path: Path, setting: str) -> BundleInfo:
    """The bundle's metadata-service address; a :class:`SettingError` naming ``setting`` if it is unusable."""

    def bad(what: str) -> SettingError:
        return SettingError(
            f"{setting}: expected an Astra secure connect bundle (zip with {', '.join(MEMBERS)}), {what}"
        )

    if not path.is_file():
        raise bad(f"but {path} does not exist")
    if path.stat().st_size > MAX_BUNDLE_BYTES:
        raise bad(f"but {path} is {path.stat().st_size:,} bytes (a bundle is about 10 KB)")
    if not zipfile.is_zipfile(path):
        raise bad(f"but {path} is not a zip file")
    try:
        with zipfile.ZipFile(path) as bundle:
            entries = bundle.infolist()
            if len(entries) > MAX_ENTRIES:
                raise bad(f"but {path} holds {len(entries):,} entries (a bundle holds about 8)")
            by_name = {entry.filename: entry for entry in entries}
            missing = [m for m in MEMBERS if m not in by_name]
            if missing:
                raise bad(f"but {path} has no {', '.join(missing)}")
            for name in MEMBERS:  # the sizes its directory declares, before unpacking anything
                if by_name[name].file_size > MAX_MEMBER_BYTES:
                    size = by_name[name].file_size
                    raise bad(f"but its {name} would unpack to {size:,} bytes (at most {MAX_MEMBER_BYTES:,})")
            files = {m: _read_member(path, bundle, by_name[m], bad) for m in MEMBERS}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise bad(f"but {path} cannot be read ({type(exc).__name__})") from None
    try:
        config = json.loads(files["config.json"])
        host, port = str(config["host"]), int(config["port"])
    except (ValueError, KeyError, TypeError):
        raise bad(f"but its config.json is not JSON with a host and a port ({path})") from None
    if not host or not 0 < port < 65536:
        raise bad(f"but its config.json has no usable host and port ({path})")
    problem = _tls_problem(files)
    if problem:
        raise bad(f"but its certificates cannot be used ({problem}) ({path})")
    return BundleInfo(path=path, metadata_host=host, metadata_port=port)


def _read_member(
    path: Path, bundle: zipfile.ZipFile, entry: zipfile.ZipInfo, bad: Callable[[str], SettingError]
) -> bytes:
    """One member, never more than its bound whatever its header says; its checksum checked at the end."""
    try:
        with bundle.open(entry) as member:
            data = member.read(MAX_MEMBER_BYTES + 1)
    except zipfile.BadZipFile:
        raise bad(f"but {path} is damaged ({entry.filename} fails its checksum)") from None
    if len(data) > MAX_MEMBER_BYTES:
        raise bad(f"but its {entry.filename} unpacks to more than {MAX_MEMBER_BYTES:,} bytes")
    return data


def _tls_problem(files: dict[str, bytes]) -> str | None:
    """Build the TLS context the driver builds from the bundle; None when it works, else why not.

    The certificate and key go to a private temporary directory only for ``load_cert_chain`` (it reads
    files) and are deleted at once, as the driver itself does.
    """
    with tempfile.TemporaryDirectory(prefix="pytest-zdm-bundle-") as tmp:
        os.chmod(tmp, 0o700)
        for name in ("ca.crt", "cert", "key"):
            Path(tmp, name).write_bytes(files[name])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_verify_locations(os.path.join(tmp, "ca.crt"))
        except (ssl.SSLError, OSError):
            return "ca.crt is not a PEM certificate"
        try:
            context.load_cert_chain(certfile=os.path.join(tmp, "cert"), keyfile=os.path.join(tmp, "key"))
        except (ssl.SSLError, OSError):
            return "cert and key are not a matching PEM certificate and private key"
    return None
