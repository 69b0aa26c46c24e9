"""Artifact transfers (streamed uploads and verified downloads) and Sign-In with Ethereum."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
from eth_account.messages import encode_defunct

from service.api.schemas import (
    NoncePublic,
    SessionPublic,
)
from service.client.base import (
    ArtifactSource,
    ClientBase,
    Download,
    ProgressCallback,
    Signer,
    _load,
)
from service.client.errors import ClientFailure, InvalidArgument, VerificationFailed
from service.errors import LedgerError
from service.ml.sniff import unsafe_to_load
from service.store.chunker import iter_chunks
from service.store.cid import CHUNK_SIZE, CID, parse_cid
from service.store.unixfs import compute_cid


class TransferCalls(ClientBase):
    # ------------------------------------------------------------ artifacts

    def download_artifact(
        self, cid: str, dest: str | os.PathLike[str], *, progress: ProgressCallback | None = None
    ) -> Download:
        """Download content by CID into ``dest`` (a file, or a directory to put ``<cid>`` in),
        verified against the CID asked for and the one the service names."""
        try:
            expected = parse_cid(cid)
        except LedgerError as exc:
            raise InvalidArgument(str(exc)) from exc
        return self._download(f"/v1/artifacts/{expected}", Path(dest), expected, None, progress)

    def _download(
        self,
        path: str,
        dest: Path,
        expected_cid: CID | None,
        expected_digest: bytes | None,
        progress: ProgressCallback | None,
    ) -> Download:
        response = self._request("GET", path, stream=True)
        with contextlib.closing(response):
            try:
                claimed = parse_cid(response.headers.get("x-content-cid", ""))
            except LedgerError:
                raise VerificationFailed(
                    f"the service sent no valid X-Content-CID header for {path}"
                ) from None
            if dest.is_dir():
                dest = dest / str(claimed)
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{dest.name}.", suffix=".part", dir=dest.parent
            )
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as out:

                    def received() -> Iterator[bytes]:
                        done = 0
                        for piece in response.iter_bytes():
                            out.write(piece)
                            done += len(piece)
                            if progress:
                                progress("downloading", done, total)
                            yield piece

                    actual, size = compute_cid(iter_chunks(received()))
                _verify(actual, claimed, expected_cid, expected_digest)
                os.replace(tmp, dest)
            except httpx.HTTPError as exc:
                tmp.unlink(missing_ok=True)
                raise ClientFailure(f"the download of {path} was interrupted: {exc}") from exc
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        with dest.open("rb") as f:  # the file as written: what whoever loads it will read
            warning = unsafe_to_load(dest.name, iter(lambda: f.read(1 << 20), b""))
        return Download(path=dest, cid=str(actual), size=size, warning=warning)

    # ------------------------------------------------------------ sign-in

    def nonce(self) -> NoncePublic:
        return _load(NoncePublic, self._get("/v1/auth/nonce"))

    def login(self, signer: Signer, *, ttl_s: int = 3600) -> SessionPublic:
        """Sign in with Ethereum (EIP-4361) and keep the session token for later requests."""
        from service.domain.auth import siwe_message

        n = self.nonce()
        message = siwe_message(
            domain=n.domain,
            uri=n.uri,
            address=signer.address,
            chain_id=n.chain_id,
            nonce=n.nonce,
            ttl_s=ttl_s,
        )
        signature = signer.sign_message(encode_defunct(text=message)).signature
        body = {"message": message, "signature": "0x" + bytes(signature).hex()}
        session = _load(
            SessionPublic, self._json(self._request("POST", "/v1/auth/login", json=body))
        )
        self.session_token = session.token
        return session

    def logout(self) -> None:
        """End the current session on the service and forget its token."""
        try:
            self._request("DELETE", "/v1/auth/session")
        finally:
            self.session_token = None


def _verify(
    actual: CID, claimed: CID, expected_cid: CID | None, expected_digest: bytes | None
) -> None:
    if actual != claimed:
        raise VerificationFailed(
            f"the downloaded bytes have CID {actual}, but the service said {claimed}; the file "
            "was not kept"
        )
    if expected_cid is not None and actual != expected_cid:
        raise VerificationFailed(
            f"the downloaded bytes have CID {actual}, not the {expected_cid} asked for; the file "
            "was not kept"
        )
    if expected_digest is not None and actual.digest != expected_digest:
        raise VerificationFailed(
            f"the downloaded bytes have digest 0x{actual.digest.hex()}, but the chain records "
            f"0x{expected_digest.hex()}; the file was not kept"
        )


def _read(path: Path, phase: str, total: int, progress: ProgressCallback | None) -> Iterator[bytes]:
    """The file in 256 KiB chunks, reporting progress."""
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            done += len(chunk)
            if progress:
                progress(phase, done, total)
            yield chunk
    if progress and total == 0:
        progress(phase, 0, 0)


@contextlib.contextmanager
def _as_file(source: ArtifactSource) -> Iterator[Path]:
    """A path to the artifact's bytes: the file itself, or a temporary spool of them."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no artifact file at {path}")
        yield path
        return
    pieces: Iterable[bytes] = [source] if isinstance(source, bytes | bytearray) else source
    fd, name = tempfile.mkstemp(prefix="govledger-upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            for piece in pieces:
                f.write(piece)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
