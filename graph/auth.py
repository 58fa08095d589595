"""Who is asking: a Bearer JWT verified into a `Principal(sub, role, unit, areas)`.

Development signs with HS256 and JANGKAU_JWT_SECRET; production verifies RS256/ES256 against a
PEM public key (JANGKAU_JWT_PUBLIC_KEY) or a JSON Web Key Set file (JANGKAU_JWKS_FILE), the key
picked by the token's `kid`. The algorithm is taken from the header only if it is one this
server accepts *and* has a key of the matching kind, so neither `alg: none` nor an HS256 token
"signed" with the public key gets through. Signature, `exp` (required), `nbf`, and `iss`/`aud`
when configured are checked; any failure is UNAUTHENTICATED, never a 500.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from geo.errors import JangkauError
from geo.settings import Settings
from graph.errors import ApiError

ROLES = ("staff", "supervisor", "planner", "admin")
HMAC = ("HS256", "HS384", "HS512")
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY_S = 30      # clock skew tolerated on exp and nbf
VERIFIED_TOKENS = 4096    # tokens remembered once verified (forgotten all at once when full)
MIN_SECRET_BYTES = 32   # RFC 7518 3.2: an HS256 key at least as long as the hash
CHALLENGE = 'Bearer realm="jangkau"'
# The areas a supervisor's token may scope them to: kecamatan or kelurahan Kemendagri codes.
AREA_CODE_RE = re.compile(r"[0-9]{2}\.[0-9]{2}\.[0-9]{2}(\.[0-9]{4})?")
MAX_AREAS = 200


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    code = "FORBIDDEN"


@dataclass(frozen=True)
class Principal:
    """A verified caller. `sub` is the staff member's UUID for staff and supervisors; `areas`
    (supervisors only) the kecamatan and kelurahan whose every unit's figures they see, a camat's
    or a lurah's scope (graph.permissions)."""

    sub: str
    role: str
    unit: str | None
    areas: frozenset[str] = field(default=frozenset())   # an area-scoped supervisor's areas
    read_only: bool = False          # an API key: no mutation
    key_areas: tuple[str, ...] = ()  # an API key confined to these areas (Kemendagri codes)
    expires_at: float | None = None  # the token's `exp`: a live socket closes then

    @cached_property      # read several times a request (context, permissions, ledger)
    def staff_id(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(self.sub)
        except ValueError:
            return None


def _default_algorithms(settings: Settings) -> tuple[str, ...]:
    hmac = ("HS256",) if settings.jwt_secret else ()
    keyed = ("RS256", "ES256") if settings.jwt_public_key or settings.jwks_file else ()
    return hmac + keyed


class Verifier:
    """The keys and rules of one app, loaded once: a bad key file stops the start, not a request."""

    def __init__(self, settings: Settings) -> None:
        self.secret = settings.jwt_secret
        if self.secret is not None and len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise JangkauError(f"JANGKAU_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes "
                               "(RFC 7518 3.2); `python -c 'import secrets; "
                               "print(secrets.token_urlsafe(32))'` makes one", code="BAD_CONFIG")
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.algorithms = settings.jwt_algorithms or _default_algorithms(settings)
        unknown = set(self.algorithms) - set(HMAC) - set(ASYMMETRIC)
        if unknown:
            raise JangkauError(f"JANGKAU_JWT_ALGORITHMS: unsupported {sorted(unknown)}; "
                               f"use some of {', '.join(HMAC + ASYMMETRIC)}", code="BAD_CONFIG")
        self._verified: dict[str, Principal] = {}
        self.public_key: Any = None
        self.jwks: jwt.PyJWKSet | None = None
        try:
            if settings.jwt_public_key is not None:
                self.public_key = load_pem_public_key(settings.jwt_public_key.read_bytes())
            if settings.jwks_file is not None:
                self.jwks = jwt.PyJWKSet.from_json(settings.jwks_file.read_text())
        except (OSError, ValueError, TypeError, jwt.PyJWTError) as exc:
            raise JangkauError(f"cannot load the JWT verification key: {exc}",
                               code="BAD_CONFIG") from None

    @property
    def configured(self) -> bool:
        return bool(self.secret or self.public_key is not None or self.jwks is not None)

    def _key(self, alg: str, kid: object) -> Any:
        if alg in HMAC and self.secret:
            return self.secret
        if alg in ASYMMETRIC and self.jwks is not None:
            keys = self.jwks.keys
            match = [k for k in keys if k.key_id == kid] if kid is not None else keys
            if len(match) != 1:
                raise Unauthenticated("the token's key (kid) is not in the configured key set")
            if match[0].algorithm_name != alg:
                raise Unauthenticated(f"the token's key is for {match[0].algorithm_name}, "
                                      f"not {alg}")
            return match[0].key
        if alg in ASYMMETRIC and self.public_key is not None:
            return self.public_key
        raise Unauthenticated(f"tokens signed with {alg} cannot be verified here")

    def verify(self, token: str) -> Principal:
        """The token's caller. A token verified once is remembered until its `exp` (with the
        same leeway): its signature and claims cannot change, and checking them again was a
        measurable share of a one-row lookup (issue 13)."""
        known = self._verified.get(token)
        if known is not None and known.expires_at is not None \
                and time.time() < known.expires_at + LEEWAY_S:
            return known
        principal = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = principal
        return principal

    def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if alg not in self.algorithms:
                accepted = ", ".join(self.algorithms) or "none configured"
                raise Unauthenticated(f"tokens signed with {alg!r:.20} are not accepted; "
                                      f"accepted: {accepted}")
            claims = jwt.decode(
                token, self._key(alg, header.get("kid")), algorithms=[alg],
                audience=self.audience, issuer=self.issuer, leeway=LEEWAY_S,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None})
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        except (ValueError, TypeError, KeyError):
            raise Unauthenticated("invalid token: malformed") from None
        return principal_of(claims)


def principal_of(claims: dict[str, Any]) -> Principal:
    sub, role, unit = claims.get("sub"), claims.get("role"), claims.get("unit")
    if not isinstance(sub, str) or not sub:
        raise Unauthenticated("invalid token: `sub` must be a non-empty string")
    if role not in ROLES:
        raise Unauthenticated(f"invalid token: `role` must be one of {', '.join(ROLES)}")
    if unit is not None and (not isinstance(unit, str) or not unit):
        raise Unauthenticated("invalid token: `unit` must be a unit code")
    if unit is None and role != "admin":
        raise Unauthenticated(f"invalid token: a {role} token needs `unit` (a unit code)")
    exp = claims.get("exp")
    p = Principal(sub=sub, role=role, unit=unit, areas=_areas(claims.get("areas"), role),
                  expires_at=float(exp) if isinstance(exp, int | float) else None)
    if role in ("staff", "supervisor") and p.staff_id is None:
        raise Unauthenticated(f"invalid token: a {role}'s `sub` must be their staff UUID")
    return p


def _areas(value: object, role: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if role != "supervisor":
        raise Unauthenticated(f"invalid token: `areas` scopes supervisors only, not a {role}")
    if (not isinstance(value, list) or not value or len(value) > MAX_AREAS
            or not all(isinstance(c, str) and AREA_CODE_RE.fullmatch(c) for c in value)):
        raise Unauthenticated(f"invalid token: `areas` must be a list of 1..{MAX_AREAS} kecamatan "
                              "or kelurahan codes, e.g. [\"35.78.01\", \"35.78.02.1001\"]")
    return frozenset(value)


def mint(secret: str, *, role: str, sub: str, unit: str | None = None, ttl_s: int = 3600,
         issuer: str | None = None, audience: str | None = None,
         areas: Sequence[str] | None = None) -> str:
    """A development token (HS256), with the claims this server requires, checked as it would."""
    if ttl_s <= 0:
        raise JangkauError(f"the time to live must be positive, got {ttl_s} s")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "role": role, "iat": now, "nbf": now,
                              "exp": now + ttl_s}
    for name, value in (("unit", unit), ("iss", issuer), ("aud", audience)):
        if value is not None:
            claims[name] = value
    if areas:
        claims["areas"] = list(areas)
    principal_of(claims)
    return jwt.encode(claims, secret, algorithm="HS256")


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None without the header."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <token>`")
    return token.strip()


def authenticate(verifier: Verifier, authorization: str | None) -> Principal | None:
    """The caller, None when anonymous; a token that does not verify is UNAUTHENTICATED."""
    token = bearer(authorization)
    return None if token is None else verifier.verify(token)
