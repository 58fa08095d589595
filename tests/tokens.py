"""Real signed tokens for tests, minted here with PyJWT and `cryptography`, independently of the
server's own `graph.auth.mint`: HS256 with the test secret, RS256 / ES256 with keys made on the
spot, and the malformed kinds a server must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SECRET = "jangkau-tests-only-secret-0123456789abcdef"   # >= 32 bytes (RFC 7518 3.2)
ADMIN_SUB = "test-admin"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def claims(role: str, sub: str | None = None, unit: str | None = None, ttl: int = 3600,
           **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    c: dict[str, Any] = {"sub": sub or ADMIN_SUB, "role": role, "iat": now, "exp": now + ttl}
    if unit is not None:
        c["unit"] = unit
    return {**c, **extra}


def token(role: str, sub: str | None = None, unit: str | None = None, *, secret: str = SECRET,
          **extra: Any) -> str:
    """An HS256 token signed with the test secret (`settings_for` gives the server the same)."""
    return jwt.encode(claims(role, sub, unit, **extra), secret, algorithm="HS256")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def jwks(*keys: tuple[str, PrivateKey]) -> str:
    """A JSON Web Key Set of the public halves, each under its `kid`."""
    out = []
    for kid, key in keys:
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        algo = jwt.get_algorithm_by_name(alg)
        jwk = json.loads(algo.to_jwk(key.public_key()))
        out.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
    return json.dumps({"keys": out})


def signed(key: PrivateKey, body: dict[str, Any], kid: str | None = None) -> str:
    alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else None)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _part(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj).encode())


def unsigned(body: dict[str, Any]) -> str:
    """`alg: none`: a header, the claims, and no signature."""
    return f"{_part({'alg': 'none', 'typ': 'JWT'})}.{_part(body)}."


def hmac_forged(body: dict[str, Any], key: bytes) -> str:
    """HS256 "signed" with `key` by hand: with a server's public key, the key-confusion forgery
    (PyJWT itself refuses to sign so)."""
    head = f"{_part({'alg': 'HS256', 'typ': 'JWT'})}.{_part(body)}"
    return f"{head}.{_b64(hmac.new(key, head.encode(), hashlib.sha256).digest())}"
