"""Authentication through HTTP with real signed tokens: HS256 with the development secret, RS256
against a PEM public key, ES256 against a JWKS file; every bad token is a 401 coded
UNAUTHENTICATED (never a 500); without a token only the public routes, the schema and the
public aggregate level are served; `jangkau token` mints what the server accepts."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from geo.errors import JangkauError
from geo.settings import Settings
from graph.app import create_app
from graph.auth import LEEWAY_S, Verifier, mint
from graph.cli import _development_auth
from tests.conftest import ApiAs, serve, settings_for
from tests.seed import K1, KEC1, S1, S3
from tests.test_tiles import tile_of, url
from tests.tokens import (
    SECRET,
    bearer,
    claims,
    ec_key,
    hmac_forged,
    jwks,
    public_pem,
    rsa_key,
    signed,
    token,
    unsigned,
)

UNITS = "{ units { code } }"
OCT = {"from": "2026-10-01", "to": "2026-10-31"}
COVERAGE = """query($l: AreaLevel!, $p: Period!) {
    coverage(level: $l, period: $p) { area { code } activities distinctStaff } }"""
JANGKAU = Path(sys.executable).parent / "jangkau"


async def gql(http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
              **headers: str) -> httpx.Response:
    return await http.post("/graphql", json={"query": query, "variables": variables or {}},
                           headers=headers)


def refused(r: httpx.Response) -> str:
    """A 401 with a GraphQL error coded UNAUTHENTICATED and a Bearer challenge; its message."""
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    (error,) = r.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    return str(error["message"])


def bad_tokens() -> dict[str, str]:
    now = int(time.time())
    return {
        "expired": token("admin", exp=now - 3600),
        "not yet valid": token("admin", nbf=now + 3600),
        "another secret": token("admin", secret="another-secret-of-at-least-32-bytes!!"),
        "alg none": unsigned(claims("admin")),
        "no exp": jwt.encode({"sub": "x", "role": "admin"}, SECRET, algorithm="HS256"),
        "no role": jwt.encode({"sub": "x", "exp": now + 60}, SECRET, algorithm="HS256"),
        "unknown role": token("mayor"),
        "staff without unit": token("staff", str(S1)),
        "staff sub not a UUID": token("staff", "budi", "DINKES"),
        "RS256 without a key": signed(rsa_key(), claims("admin")),
        "garbage": "not.a.jwt",
        "tampered": token("staff", str(S1), "DINKES")[:-4] + "AAAA",
        "areas on a planner": token("planner", unit="BAPPEDA", areas=["35.78.01"]),
        "areas not codes": token("supervisor", str(S1), "DINKES", areas=["Karang Pilang"]),
        "areas a city": token("supervisor", str(S1), "DINKES", areas=["35.78"]),
        "areas empty": token("supervisor", str(S1), "DINKES", areas=[]),
        "areas a string": token("supervisor", str(S1), "DINKES", areas="35.78.01"),
    }


async def test_a_valid_token_is_served(api_as: ApiAs) -> None:
    r = await gql(api_as("staff", S1, "DINKES").http, UNITS)
    assert r.status_code == 200
    assert {"code": "DINKES"} in r.json()["data"]["units"]


async def test_every_bad_token_is_a_401_never_a_500(api_as: ApiAs) -> None:
    http = api_as(None).http
    for name, bad in bad_tokens().items():
        message = refused(await gql(http, UNITS, **bearer(bad)))
        assert message.startswith("invalid token") or "not accepted" in message \
            or "cannot be verified" in message, (name, message)
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "token abc"):
        refused(await gql(http, UNITS, Authorization=header))


async def test_alg_none_and_expiry_say_why(api_as: ApiAs) -> None:
    http = api_as(None).http
    assert "'none' are not accepted" in refused(
        await gql(http, UNITS, **bearer(unsigned(claims("admin")))))
    assert "expired" in refused(await gql(
        http, UNITS, **bearer(token("admin", exp=int(time.time()) - 3600))))


async def test_issuer_and_audience_are_checked_when_configured(db_url: str) -> None:
    settings = settings_for(db_url, jwt_issuer="https://sso.surabaya.go.id",
                            jwt_audience="jangkau")
    async for api in serve(settings, role=None):
        good = token("admin", iss="https://sso.surabaya.go.id", aud="jangkau")
        assert (await gql(api.http, UNITS, **bearer(good))).status_code == 200
        for bad in (token("admin", iss="https://sso.surabaya.go.id", aud="other"),
                    token("admin", iss="https://evil.example", aud="jangkau"),
                    token("admin", iss="https://sso.surabaya.go.id"),
                    token("admin", aud="jangkau")):
            refused(await gql(api.http, UNITS, **bearer(bad)))


async def test_rs256_against_a_pem_public_key(db_url: str, tmp_path: Path) -> None:
    key = rsa_key()
    pem = tmp_path / "idp.pem"
    pem.write_bytes(public_pem(key))
    async for api in serve(settings_for(db_url, jwt_secret=None, jwt_public_key=pem), role=None):
        ok = await gql(api.http, UNITS, **bearer(signed(key, claims("planner", unit="BAPPEDA"))))
        assert ok.status_code == 200, ok.text
        refused(await gql(api.http, UNITS, **bearer(signed(rsa_key(), claims("admin")))))
        # The public key as an HMAC secret: the classic key-confusion forgery.
        forged = hmac_forged(claims("admin"), public_pem(key))
        refused(await gql(api.http, UNITS, **bearer(forged)))
        # Without a secret configured, HS256 is not even accepted.
        refused(await gql(api.http, UNITS, **bearer(token("admin"))))


async def test_es256_against_a_jwks_file_by_kid(db_url: str, tmp_path: Path) -> None:
    current, rotated, stranger = ec_key(), rsa_key(), ec_key()
    keys = tmp_path / "jwks.json"
    keys.write_text(jwks(("2026-11", current), ("2026-10", rotated)))
    async for api in serve(settings_for(db_url, jwt_secret=None, jwks_file=keys), role=None):
        for key, kid in ((current, "2026-11"), (rotated, "2026-10")):
            r = await gql(api.http, UNITS, **bearer(signed(key, claims("admin"), kid)))
            assert r.status_code == 200, (kid, r.text)
        refused(await gql(api.http, UNITS, **bearer(signed(stranger, claims("admin"), "2026-11"))))
        refused(await gql(api.http, UNITS, **bearer(signed(current, claims("admin"), "gone"))))
        refused(await gql(api.http, UNITS, **bearer(signed(current, claims("admin"), "2026-10"))))


def test_misconfiguration_stops_the_app_before_it_serves(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    for settings in (Settings(jwt_secret="short"), Settings(jwt_public_key=bad),
                     Settings(jwks_file=tmp_path / "missing.json"),
                     Settings(jwt_secret=SECRET, jwt_algorithms=("none",))):
        with pytest.raises(JangkauError) as exc:
            create_app(settings)
        assert exc.value.code == "BAD_CONFIG"


def test_settings_read_auth_from_the_environment(tmp_path: Path) -> None:
    s = Settings.from_env({"JANGKAU_JWT_SECRET": SECRET, "JANGKAU_JWT_PUBLIC_KEY": "/k.pem",
                           "JANGKAU_JWT_ALGORITHMS": "RS256, ES256", "JANGKAU_PUBLIC_LEVEL":
                           "kecamatan", "JANGKAU_K_ANONYMITY": "5", "JANGKAU_JWT_AUDIENCE": "a"})
    assert (s.jwt_secret, s.jwt_public_key, s.jwt_algorithms, s.public_level, s.k_anonymity,
            s.jwt_audience) == (SECRET, Path("/k.pem"), ("RS256", "ES256"), "KECAMATAN", 5, "a")
    assert SECRET not in repr(s)
    closed = Settings.from_env({})
    assert (closed.public_level, closed.jwt_secret, closed.k_anonymity) == (None, None, 3)
    assert not Verifier(closed).configured
    with pytest.raises(JangkauError, match="JANGKAU_PUBLIC_LEVEL"):
        Settings.from_env({"JANGKAU_PUBLIC_LEVEL": "PROVINSI"})


async def test_without_a_token_only_the_public_parts(api_as: ApiAs) -> None:
    http = api_as(None).http
    for path in ("/healthz", "/readyz", "/static/app.js", "/vendor/maplibre-gl/maplibre-gl.css"):
        assert (await http.get(path)).status_code == 200, path
    schema = await gql(http, "{ __schema { queryType { name } } }")
    assert schema.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert "needs a bearer token" in refused(await gql(http, UNITS))
    refused(await gql(http, COVERAGE, {"l": "CITY", "p": OCT}))     # public level: none
    tile = await http.get(url("areas", tile_of(K1, 12)))
    assert (tile.status_code, tile.json()["error"]["code"]) == (401, "UNAUTHENTICATED")
    assert tile.headers["www-authenticate"].startswith("Bearer")


@pytest.fixture
async def public(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """No token, with kecamatan figures public."""
    async for api in serve(settings_for(db_url, public_level="KECAMATAN"), role=None):
        yield api.http


async def test_the_public_level_and_coarser_are_served(public: httpx.AsyncClient) -> None:
    for level in ("CITY", "KECAMATAN"):
        r = await gql(public, COVERAGE, {"l": level, "p": OCT})
        assert r.status_code == 200, r.text
    kec = (await gql(public, COVERAGE, {"l": "KECAMATAN", "p": OCT})).json()["data"]["coverage"]
    one = next(c for c in kec if c["area"]["code"] == KEC1)
    assert (one["activities"], one["distinctStaff"]) == (5, 3)     # 3 staff: shown at k = 3
    assert all(c["distinctStaff"] is None for c in kec if c["area"]["code"] != KEC1)
    assert "only KECAMATAN figures" in refused(
        await gql(public, COVERAGE, {"l": "KELURAHAN", "p": OCT}))
    fc = await gql(public, "query($p: Period!) { coverageMap(level: KECAMATAN, period: $p) }",
                   {"p": OCT})
    assert len(fc.json()["data"]["coverageMap"]["features"]) == 31
    # Nested figures follow the same rule: no finer level through a kecamatan's children.
    nested = await gql(public, """query($p: Period!) { coverage(level: KECAMATAN, period: $p) {
        area { children { coverage(period: $p) { activities } } } } }""", {"p": OCT})
    assert nested.status_code == 401
    ok = await public.get(url("areas", tile_of(K1, 12)), params={"level": "KECAMATAN", **OCT})
    assert (ok.status_code, ok.headers["cache-control"]) == (200, "public, max-age=60")
    for path, params in ((url("areas", tile_of(K1, 12)), {"level": "KELURAHAN"}),
                         (url("activities", tile_of(K1, 14)), {}),
                         ("/tiles/activities.json", {})):
        assert (await public.get(path, params=params)).status_code == 401, path


def test_jangkau_up_sets_up_development_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("JANGKAU_JWT_SECRET", "JANGKAU_PUBLIC_LEVEL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)        # and restored as absent afterwards
    monkeypatch.setenv("JANGKAU_HOME", str(tmp_path))
    _development_auth(Settings.from_env())
    kept = tmp_path / "dev-jwt-secret"
    secret = kept.read_text()
    assert len(secret) >= 32 and kept.stat().st_mode & 0o777 == 0o600
    assert (os.environ["JANGKAU_JWT_SECRET"], os.environ["JANGKAU_PUBLIC_LEVEL"]) == \
        (secret, "KELURAHAN")
    printed = capsys.readouterr().err.strip().splitlines()[-1]
    assert Verifier(Settings.from_env()).verify(printed).role == "admin"
    _development_auth(Settings.from_env())       # a restart keeps the secret, and its tokens
    assert kept.read_text() == secret
    monkeypatch.setenv("JANGKAU_PUBLIC_LEVEL", "none")     # an explicit choice is kept
    _development_auth(Settings.from_env())
    assert os.environ["JANGKAU_PUBLIC_LEVEL"] == "none"


async def jangkau_token(*args: str, **env: str) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("JANGKAU_JWT")}
    proc = await asyncio.create_subprocess_exec(
        str(JANGKAU), "token", *args, env={**base, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode().strip(), err.decode()


async def test_jangkau_token_mints_what_the_server_accepts(api_as: ApiAs) -> None:
    code, minted, _ = await jangkau_token("--role", "staff", "--sub", str(S1), "--unit",
                                          "DINKES", "--ttl", "600", JANGKAU_JWT_SECRET=SECRET)
    assert code == 0
    got = jwt.decode(minted, SECRET, algorithms=["HS256"])
    assert (got["sub"], got["role"], got["unit"], got["exp"] - got["iat"]) == \
        (str(S1), "staff", "DINKES", 600)
    r = await gql(api_as(None).http, UNITS, **bearer(minted))
    assert r.status_code == 200, r.text


async def test_jangkau_token_refuses_without_a_secret_or_a_staff_sub(tmp_path: Path) -> None:
    home = str(tmp_path)    # no development secret there either
    code, out, err = await jangkau_token("--role", "admin", JANGKAU_HOME=home)
    assert (code, out) == (2, "")
    assert "JANGKAU_JWT_SECRET is not set" in err and "Traceback" not in err
    code, out, err = await jangkau_token("--role", "staff", JANGKAU_JWT_SECRET=SECRET)
    assert (code, out) == (2, "") and "give --unit CODE" in err
    code, out, err = await jangkau_token("--role", "mayor", JANGKAU_JWT_SECRET=SECRET)
    assert (code, out) == (2, "") and "role" in err


async def test_jangkau_token_mints_an_area_scoped_supervisor(api_as: ApiAs) -> None:
    code, minted, _ = await jangkau_token("--role", "supervisor", "--sub", str(S3), "--unit",
                                          "KEC-357801", "--areas", "35.78.01, 35.78.02.1001",
                                          JANGKAU_JWT_SECRET=SECRET)
    assert code == 0
    got = jwt.decode(minted, SECRET, algorithms=["HS256"])
    assert got["areas"] == ["35.78.01", "35.78.02.1001"]
    r = await gql(api_as(None).http, """{ coverage(level: KELURAHAN,
        period: {from: "2026-10-01", to: "2026-10-31"}, filter: {areaCode: "35.78.01.1001"}) {
        activities } }""", **bearer(minted))
    assert r.json()["data"]["coverage"] == [{"activities": 3}]     # every unit's, S1 and S2's
    code, out, err = await jangkau_token("--role", "planner", "--unit", "BAPPEDA", "--areas",
                                         "35.78.01", JANGKAU_JWT_SECRET=SECRET)
    assert (code, out) == (2, "") and "supervisors only" in err


def test_a_verified_token_is_remembered_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = Verifier(Settings(jwt_secret=SECRET))
    token = mint(SECRET, role="admin", sub="remembered", ttl_s=60)
    first = verifier.verify(token)
    assert verifier.verify(token) is first
    later = time.time() + 60 + LEEWAY_S + 1
    monkeypatch.setattr("graph.auth.time.time", lambda: later)
    # Past its exp the remembered caller is not used: the token is verified again (PyJWT's own
    # clock is not moved here, so it passes, as a new Principal).
    again = verifier.verify(token)
    assert again == first and again is not first
