"""Signing and verifying traceability records: Ed25519 over the canonical JSON of the record.

Why Ed25519 over canonical JSON rather than JWS: a lot record is read by people (a buyer, an
inspector, a supermarket's quality desk), so the signed file stays plain, readable JSON with the
signature beside the content, instead of a base64url blob that needs decoding before anyone can
see what was signed. The price is a canonical form, which is kept simple on purpose: keys sorted,
no insignificant whitespace, UTF-8 (not ``\\u`` escapes), integral numbers written without a
fraction, other numbers rounded when the record is built (at most 4 decimals). For the values a
record holds this is the JSON Canonicalization Scheme of RFC 8785, so any language with an
RFC 8785 library and Ed25519 can check a record without farmwatch.

The signed bytes are the canonical JSON of the record *without* its ``signature`` member. The
record names its key in the signed part (``issuer.key_fingerprint``: ``SHA256:`` and the hex
SHA-256 of the 32 raw public-key bytes), and the ``signature`` member carries the algorithm, the
public key itself (base64, so a record can be checked on its own) and the signature (base64).
A valid signature only proves that *the holder of that key* issued the record: who that is comes
from the published public key (``GET /trace/public-key.pem``, printed with its fingerprint on
the page) — :func:`verify` compares with a key the verifier trusts when given one.

    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> key = Ed25519PrivateKey.generate()
    >>> signed = sign({"lot": "LO-1", "value": 2.0, "name": "Vải thiều"}, key)
    >>> canonical({"lot": "LO-1", "value": 2.0, "name": "Vải thiều"})
    b'{"lot":"LO-1","name":"V\\xe1\\xba\\xa3i thi\\xe1\\xbb\\x81u","value":2}'
    >>> verify(signed, key.public_key()).ok
    True
    >>> tampered = {**signed, "value": 2.5}
    >>> verify(tampered).reason.split(":")[0]
    'the signature does not match the content'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "ALGORITHM",
    "PRIVATE_KEY_FILE",
    "PUBLIC_KEY_FILE",
    "Verification",
    "canonical",
    "fingerprint",
    "load_or_create_key",
    "load_public_key",
    "public_key_pem",
    "sign",
    "verify",
]

ALGORITHM = "Ed25519"
PRIVATE_KEY_FILE = "trace-ed25519.pem"
PUBLIC_KEY_FILE = "public-key.pem"


def _normalise(value: Any) -> Any:
    """Integral floats as ints (RFC 8785 writes 2.0 as 2); NaN and infinities are refused."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no JSON form")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return value


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8, integral numbers as integers."""
    return json.dumps(
        _normalise(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")  # fmt: skip


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public: Ed25519PublicKey) -> str:
    """``SHA256:`` and the hex SHA-256 of the raw public key: what a buyer compares."""
    return "SHA256:" + hashlib.sha256(_raw(public)).hexdigest()


def public_key_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_or_create_key(private_path: Path, public_path: Path) -> Ed25519PrivateKey:
    """The issuer's key pair, created on first use (private key readable by its owner only).

    The private key file is created with mode 0600 in one ``open`` (never world-readable, not
    even for an instant) in a 0700 folder; the public key is (re)written beside the published
    records so it can be served and printed.
    """
    if private_path.exists():
        mode = private_path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(
                f"{private_path} is readable by others (mode {mode:o}): chmod 600 it first"
            )
        loaded = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{private_path} is not an Ed25519 private key")
        key = loaded
    else:
        private_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    pem_public = public_key_pem(key.public_key())
    if not public_path.exists() or public_path.read_bytes() != pem_public:
        public_path.write_bytes(pem_public)
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key from a PEM file, or from a file holding its 32 raw bytes in base64."""
    data = path.read_bytes()
    if b"BEGIN" in data:
        loaded = serialization.load_pem_public_key(data)
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError(f"{path} is not an Ed25519 public key")
        return loaded
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(data.strip(), validate=True))


def sign(document: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``document`` with ``issuer.key_fingerprint`` set and a ``signature`` member added."""
    public = key.public_key()
    body = {k: v for k, v in document.items() if k != "signature"}
    body["issuer"] = {**dict(body.get("issuer") or {}), "key_fingerprint": fingerprint(public)}
    body = _normalise(body)
    signature = key.sign(canonical(body))
    return {
        **body,
        "signature": {
            "alg": ALGORITHM,
            "public_key": base64.b64encode(_raw(public)).decode("ascii"),
            "value": base64.b64encode(signature).decode("ascii"),
        },
    }


@dataclass(frozen=True, slots=True)
class Verification:
    """Whether a record verifies; ``reason`` says exactly why not (or what was checked)."""

    ok: bool
    reason: str
    key_fingerprint: str | None = None
    trusted_key: bool = False  # checked against a key the verifier gave, not only the embedded one


def _fail(reason: str, key: str | None = None) -> Verification:
    return Verification(False, reason, key)


def verify(document: Any, trusted: Ed25519PublicKey | None = None) -> Verification:
    """Check a record's signature, and that it was made with ``trusted`` when given."""
    if not isinstance(document, Mapping):
        return _fail("not a record: the JSON is not an object")
    signature = document.get("signature")
    if not isinstance(signature, Mapping):
        return _fail("not signed: the record has no 'signature' member")
    if signature.get("alg") != ALGORITHM:
        return _fail(f"unsupported signature algorithm {signature.get('alg')!r} (want Ed25519)")
    issuer = document.get("issuer")
    claimed = issuer.get("key_fingerprint") if isinstance(issuer, Mapping) else None
    if not isinstance(claimed, str):
        return _fail("the record does not name its key (issuer.key_fingerprint is missing)")
    try:
        embedded = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(str(signature.get("public_key", "")), validate=True)
        )
        value = base64.b64decode(str(signature.get("value", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        return _fail(
            f"the signature or its public key is not valid base64 of the right size: {exc}"
        )
    if len(value) != 64:
        return _fail(f"the signature is {len(value)} bytes; an Ed25519 signature is 64", claimed)
    if fingerprint(embedded) != claimed:
        return _fail(
            f"the embedded public key ({fingerprint(embedded)}) is not the key the record names "
            f"({claimed})",
            claimed,
        )
    if trusted is not None and fingerprint(trusted) != claimed:
        return _fail(
            f"signed with key {claimed}, not with the trusted key {fingerprint(trusted)}: "
            "this record was not issued by the holder of that key",
            claimed,
        )
    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        signed_bytes = canonical(body)
    except ValueError as exc:
        return _fail(f"the record holds a value with no canonical form: {exc}", claimed)
    try:
        (trusted or embedded).verify(value, signed_bytes)
    except InvalidSignature:
        return _fail(
            "the signature does not match the content: the record or its signature was changed "
            "after signing",
            claimed,
        )
    if trusted is None:
        return Verification(
            True,
            f"valid signature by key {claimed} (embedded in the record: compare this fingerprint "
            "with the issuer's published one, or pass --public-key)",
            claimed,
        )
    return Verification(True, f"valid signature by the trusted key {claimed}", claimed, True)
