"""Access tokens: the dev issuer, TokenValidator's negative matrix (RFC 8725 / RFC 9068) and the Principal."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from shared.auth import (
    DEV_KEY_FILE,
    Principal,
    TokenValidator,
    bearer_token,
    dev_key,
    issue_dev_token,
)
from shared.config import Profile, Settings
from shared.errors import AuthError


@pytest.fixture
def dev_settings(tmp_path: Path) -> Settings:
    return Settings(profile=Profile.DEV, data_dir=tmp_path)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(settings: Settings, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.auth_issuer, "aud": settings.auth_audience, "sub": "ops-1", "client_id": "finpace-dev",
        "iat": now, "nbf": now, "exp": now + 300, "jti": str(uuid.uuid4()), "roles": ["ops"], "scope": "",
        "party_ids": [],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(settings: Settings, claims: dict[str, Any], **header: Any) -> str:
    """Signs with the real dev issuer key, so only the claim or header under test is wrong."""
    key = dev_key(settings)
    full = {"alg": "ES256", "kid": key.kid, "typ": "at+jwt", **header}
    return jwt.encode({k: v for k, v in full.items() if v is not None}, claims, key)


def test_dev_token_gives_a_principal_with_roles_scopes_and_parties(dev_settings: Settings) -> None:
    party = str(uuid.uuid4())
    token = issue_dev_token(dev_settings, role="customer", sub="cust-1", party_ids=[party], scopes=["party:read"])
    principal = TokenValidator(dev_settings).validate(token)
    assert principal.sub == "cust-1"
    assert principal.roles == frozenset({"customer"})
    assert principal.scopes == frozenset({"party:read"})
    assert principal.party_ids == frozenset({party})
    assert principal.client_id == "finpace-dev"
    assert principal.has_role("customer", "admin") and not principal.has_role("ops")
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    claims = principal.claims
    assert {"iss", "aud", "sub", "client_id", "iat", "exp", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] <= 600


def test_dev_key_is_kept_in_the_data_directory_and_reused(dev_settings: Settings) -> None:
    first = dev_key(dev_settings)
    path = dev_settings.data_dir / DEV_KEY_FILE
    assert path.exists()
    assert path.stat().st_mode & 0o077 == 0  # private key readable by its owner only
    assert dev_key(dev_settings).kid == first.kid
    # A token issued by one process validates in another that reads the same data directory.
    token = issue_dev_token(dev_settings, role="ops", sub="ops-1")
    assert TokenValidator(Settings(profile=Profile.DEV, data_dir=dev_settings.data_dir)).validate(token).sub == "ops-1"


def test_unknown_role_is_refused(dev_settings: Settings) -> None:
    with pytest.raises(AuthError, match="root"):
        issue_dev_token(dev_settings, role="root", sub="x")


def test_production_profile_refuses_dev_tokens(tmp_path: Path) -> None:
    prod = Settings(
        profile=Profile.PROD, data_dir=tmp_path, auth_issuer="https://login.bank.example",
        auth_jwks_file=tmp_path / "jwks.json", database_url="postgresql://db.internal/postgres",
        nats_url="nats://nats.internal:4222",
    )
    with pytest.raises(AuthError, match="dev profile"):
        issue_dev_token(prod, role="admin", sub="admin-1")
    assert not (tmp_path / DEV_KEY_FILE).exists()


def test_token_from_another_dev_issuer_key_is_refused(dev_settings: Settings, tmp_path: Path) -> None:
    other = Settings(profile=Profile.DEV, data_dir=tmp_path / "other")
    token = issue_dev_token(other, role="admin", sub="intruder")
    with pytest.raises(AuthError):
        TokenValidator(dev_settings).validate(token)


def _alg_none(settings: Settings) -> str:
    header = {"alg": "none", "kid": dev_key(settings).kid, "typ": "at+jwt"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(settings)).encode())}."


def _hs256_with_public_key(settings: Settings) -> str:
    # The classic algorithm confusion: HMAC keyed with the issuer's *public* key.
    key = dev_key(settings)
    header = {"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(settings)).encode())}"
    secret = json.dumps(key.as_dict(private=False)).encode()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


NEGATIVE_CASES: dict[str, Any] = {
    "alg none": _alg_none,
    "HS256 signed with our public key": _hs256_with_public_key,
    "wrong iss": lambda s: _signed(s, _claims(s, iss="https://evil.example")),
    "issuer differing in case": lambda s: _signed(s, _claims(s, iss=s.auth_issuer.upper())),
    "missing iss": lambda s: _signed(s, {k: v for k, v in _claims(s).items() if k != "iss"}),
    "missing aud": lambda s: _signed(s, {k: v for k, v in _claims(s).items() if k != "aud"}),
    "foreign aud": lambda s: _signed(s, _claims(s, aud="someone-else")),
    "foreign aud list": lambda s: _signed(s, _claims(s, aud=["someone-else", "another"])),
    "expired by 31 s": lambda s: _signed(s, _claims(s, iat=int(time.time()) - 400, exp=int(time.time()) - 31)),
    "nbf 31 s ahead": lambda s: _signed(s, _claims(s, nbf=int(time.time()) + 31)),
    "missing exp": lambda s: _signed(s, {k: v for k, v in _claims(s).items() if k != "exp"}),
    "missing sub": lambda s: _signed(s, {k: v for k, v in _claims(s).items() if k != "sub"}),
    "unknown kid": lambda s: _signed(s, _claims(s), kid="not-our-key"),
    "missing kid": lambda s: _signed(s, _claims(s), kid=None),
    "jku header": lambda s: _signed(s, _claims(s), jku="https://evil.example/jwks.json"),
    "x5u header": lambda s: _signed(s, _claims(s), x5u="https://evil.example/cert.pem"),
    "missing typ": lambda s: _signed(s, _claims(s), typ=None),
    "typ JWT (an id token)": lambda s: _signed(s, _claims(s), typ="JWT"),
    "9 KiB token": lambda s: _signed(s, _claims(s, padding="x" * 9216)),
    "tampered payload": lambda s: _tamper(_signed(s, _claims(s, roles=["customer"]))),
    "garbage": lambda s: "not.a.token",
    "empty": lambda s: "",
    "header not json": lambda s: _b64(b"{oops") + ".e30.",
    "header is a list": lambda s: _b64(b"[1]") + ".e30.",
    "typ is a number": lambda s: _b64(json.dumps({"alg": "ES256", "typ": 1, "kid": "k"}).encode()) + ".e30.",
    "sub is a number": lambda s: _signed(s, _claims(s, sub=12345)),
    "scope is a list": lambda s: _signed(s, _claims(s, scope=["admin"])),
    "roles is a string": lambda s: _signed(s, _claims(s, roles="admin")),
    # RFC 9068 section 2.2: iat, jti and client_id are required; a lifetime over the maximum is refused.
    "missing iat": lambda s: _signed(s, _claims(s, iat=None)),
    "missing jti": lambda s: _signed(s, _claims(s, jti=None)),
    "missing client_id": lambda s: _signed(s, _claims(s, client_id=None)),
    "jti is a number": lambda s: _signed(s, _claims(s, jti=7)),
    "client_id is a list": lambda s: _signed(s, _claims(s, client_id=["a"])),
    "iat in the future": lambda s: _signed(s, _claims(s, iat=int(time.time()) + 120, exp=int(time.time()) + 300)),
    "lifetime 3601 s": lambda s: _signed(s, _claims(s, exp=int(time.time()) + 3601)),
}


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["roles"] = ["admin"]
    return f"{header}.{_b64(json.dumps(body).encode())}.{signature}"


@pytest.mark.parametrize("case", list(NEGATIVE_CASES))
def test_negative_matrix_raises_auth_error(dev_settings: Settings, case: str) -> None:
    token = NEGATIVE_CASES[case](dev_settings)
    with pytest.raises(AuthError):
        TokenValidator(dev_settings).validate(token)


def test_leeway_accepts_a_token_expired_by_less_than_30_s(dev_settings: Settings) -> None:
    now = int(time.time())
    validator = TokenValidator(dev_settings)
    assert validator.validate(_signed(dev_settings, _claims(dev_settings, iat=now - 300, exp=now - 20))).sub == "ops-1"
    assert validator.validate(_signed(dev_settings, _claims(dev_settings, nbf=now + 20))).sub == "ops-1"


def test_audience_list_containing_ours_is_accepted(dev_settings: Settings) -> None:
    token = _signed(dev_settings, _claims(dev_settings, aud=["other", dev_settings.auth_audience]))
    assert TokenValidator(dev_settings).validate(token).sub == "ops-1"


def test_unknown_roles_in_a_token_are_dropped(dev_settings: Settings) -> None:
    token = _signed(dev_settings, _claims(dev_settings, roles=["ops", "superuser"]))
    assert TokenValidator(dev_settings).validate(token).roles == frozenset({"ops"})


def _jwks_settings(tmp_path: Path, keys: list[Any]) -> Settings:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [k.as_dict(private=False) for k in keys]}))
    return Settings(
        profile=Profile.PROD, data_dir=tmp_path, auth_issuer="https://login.bank.example", auth_audience="finpace",
        auth_jwks_file=jwks, database_url="postgresql://db.internal/postgres", nats_url="nats://nats.internal:4222",
    )


def test_production_validates_against_the_issuers_jwks(tmp_path: Path) -> None:
    rsa = RSAKey.generate_key(2048, auto_kid=True, private=True)
    settings = _jwks_settings(tmp_path, [rsa])
    claims = _claims(settings, roles=["rm"], party_ids=["p-1", "p-2"])
    validator = TokenValidator(settings)
    for alg in ["RS256", "PS256"]:
        token = jwt.encode({"alg": alg, "kid": rsa.kid, "typ": "at+jwt"}, claims, rsa, algorithms=[alg])
        principal = validator.validate(token)
        assert principal.roles == frozenset({"rm"})
        assert principal.party_ids == frozenset({"p-1", "p-2"})
    # RS384 is a fine algorithm elsewhere, but not on our allow-list.
    with pytest.raises(AuthError, match="RS384"):
        validator.validate(jwt.encode({"alg": "RS384", "kid": rsa.kid, "typ": "at+jwt"}, claims, rsa,
                                      algorithms=["RS384"]))
    # A dev token means nothing to the production issuer.
    dev = Settings(profile=Profile.DEV, data_dir=tmp_path / "dev")
    with pytest.raises(AuthError):
        validator.validate(issue_dev_token(dev, role="admin", sub="admin-1"))


def test_a_key_with_a_known_kid_but_another_type_is_refused(tmp_path: Path) -> None:
    ec = ECKey.generate_key("P-256", auto_kid=True, private=True)
    rsa = RSAKey.generate_key(2048, auto_kid=True, private=True)
    settings = _jwks_settings(tmp_path, [rsa])
    forged = jwt.encode({"alg": "ES256", "kid": rsa.kid, "typ": "at+jwt"}, _claims(settings), ec)
    with pytest.raises(AuthError):
        TokenValidator(settings).validate(forged)


def test_rotated_key_is_picked_up_by_refetching_on_unknown_kid(tmp_path: Path) -> None:
    old = ECKey.generate_key("P-256", auto_kid=True, private=True)
    new = ECKey.generate_key("P-256", auto_kid=True, private=True)
    settings = _jwks_settings(tmp_path, [old])
    validator = TokenValidator(settings, min_refetch_seconds=0)
    claims = _claims(settings)
    assert validator.validate(jwt.encode({"alg": "ES256", "kid": old.kid, "typ": "at+jwt"}, claims, old))
    _jwks_settings(tmp_path, [new])  # the issuer rotates: the JWKS now holds only the new key
    assert validator.validate(jwt.encode({"alg": "ES256", "kid": new.kid, "typ": "at+jwt"}, claims, new))
    # The removed key is no longer trusted once the set was refetched.
    with pytest.raises(AuthError, match="unknown key"):
        validator.validate(jwt.encode({"alg": "ES256", "kid": old.kid, "typ": "at+jwt"}, claims, old))


def test_a_verified_token_is_not_checked_again_while_the_keys_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True, private=True)
    settings = _jwks_settings(tmp_path, [key])
    validator = TokenValidator(settings)
    token = jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}, _claims(settings), key)
    first = validator.validate(token)

    def no_second_check(*_: Any, **__: Any) -> Any:
        raise AssertionError("the signature was checked again")

    monkeypatch.setattr("shared.auth.jwt.decode", no_second_check)
    assert validator.validate(token) == first
    assert asyncio.run(validator.validate_async(token)) == first
    # Another token (even with the same claims) is verified on its own.
    other = jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}, _claims(settings), key)
    with pytest.raises(AssertionError, match="checked again"):
        validator.validate(other)


def test_a_remembered_token_is_refused_once_its_key_is_rotated_out(tmp_path: Path) -> None:
    old = ECKey.generate_key("P-256", auto_kid=True, private=True)
    new = ECKey.generate_key("P-256", auto_kid=True, private=True)
    settings = _jwks_settings(tmp_path, [old])
    validator = TokenValidator(settings, min_refetch_seconds=0)
    claims = _claims(settings)
    remembered = jwt.encode({"alg": "ES256", "kid": old.kid, "typ": "at+jwt"}, claims, old)
    assert validator.validate(remembered)
    _jwks_settings(tmp_path, [new])
    assert validator.validate(jwt.encode({"alg": "ES256", "kid": new.kid, "typ": "at+jwt"}, claims, new))
    with pytest.raises(AuthError, match="unknown key"):
        validator.validate(remembered)


def test_a_remembered_token_still_expires(tmp_path: Path) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True, private=True)
    settings = _jwks_settings(tmp_path, [key]).model_copy(update={"auth_leeway_seconds": 0})
    validator = TokenValidator(settings)
    token = jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "at+jwt"},
                       _claims(settings, exp=int(time.time()) + 2), key)
    assert validator.validate(token)
    time.sleep(2.1)
    with pytest.raises(AuthError, match=r"expired|invalid"):
        validator.validate(token)


def test_the_remembered_tokens_are_bounded(tmp_path: Path) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True, private=True)
    settings = _jwks_settings(tmp_path, [key])
    validator = TokenValidator(settings, verified_max=3)
    for _ in range(10):
        validator.validate(jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}, _claims(settings), key))
    assert len(validator._verified) == 3


def test_an_unavailable_jwks_keeps_the_keys_it_had_and_without_any_refuses(tmp_path: Path) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True, private=True)
    settings = _jwks_settings(tmp_path, [key])
    validator = TokenValidator(settings, cache_seconds=0)  # every validation refetches
    token = jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}, _claims(settings), key)
    assert validator.validate(token)
    (tmp_path / "jwks.json").write_text("{not json")  # the issuer's JWKS breaks
    assert validator.validate(token).sub == "ops-1"  # the keys fetched before still serve
    (tmp_path / "jwks.json").unlink()
    with pytest.raises(AuthError, match="signing keys are unavailable"):
        TokenValidator(settings).validate(token)  # no keys at all: a typed refusal, never a crash
    unreachable = settings.model_copy(update={"auth_jwks_file": None, "auth_jwks_url": "http://127.0.0.1:9/jwks.json"})
    with pytest.raises(AuthError, match="signing keys are unavailable"):
        TokenValidator(unreachable).validate(token)


# EdDSA is on ARCHITECTURE.md's allow-list; joserfc warns that RFC 9864 prefers the name Ed25519.
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_every_allowed_algorithm_validates(tmp_path: Path) -> None:
    keys = [
        (RSAKey.generate_key(2048, auto_kid=True, private=True), "RS256"),
        (ECKey.generate_key("P-256", auto_kid=True, private=True), "ES256"),
        (OKPKey.generate_key("Ed25519", auto_kid=True, private=True), "EdDSA"),
    ]
    settings = _jwks_settings(tmp_path, [k for k, _ in keys])
    validator = TokenValidator(settings)
    for key, alg in keys:
        token = jwt.encode({"alg": alg, "kid": key.kid, "typ": "at+jwt"}, _claims(settings), key, algorithms=[alg])
        assert validator.validate(token).sub == "ops-1", alg


def test_principal_from_claims() -> None:
    principal = Principal.from_claims({"sub": "u", "roles": ["admin"], "scope": "a b", "party_ids": [1]})
    assert principal == Principal(sub="u", roles=frozenset({"admin"}), scopes=frozenset({"a", "b"}),
                                  party_ids=frozenset({"1"}))


@pytest.mark.parametrize(("header", "token"), [(None, None), ("", None), ("Bearer abc", "abc"),
                                               ("bearer  abc ", "abc")])
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "abc"])
def test_bearer_token_refuses_other_schemes(header: str) -> None:
    with pytest.raises(AuthError):
        bearer_token(header)


def test_mangled_tokens_only_ever_raise_auth_error(dev_settings: Settings) -> None:
    # Property-style: mutate a valid token thousands of ways; the validator answers AuthError, never a crash.
    rng = random.Random(9068)
    valid = issue_dev_token(dev_settings, role="ops", sub="ops-1")
    header, payload, signature = valid.split(".")
    validator = TokenValidator(dev_settings)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/!\\\"{} \x00é"
    candidates = [
        f"{header}.{payload}", f"{header}..{signature}", f"{header}.{payload}.{signature}.x",
        f"{header}.!!!.{signature}",
        f"{header}.{_b64(b'[]')}.{signature}", f"{header}.{_b64(b'null')}.{signature}",
        f"{header}.{_b64(b'not json')}.{signature}", f"{header}.{payload}.", ".".join([header] * 3),
    ]
    for _ in range(2000):
        chars = list(valid)
        for _ in range(rng.randint(1, 4)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        candidates.append("".join(chars))
    for token in candidates:
        try:
            validator.validate(token)
        except AuthError:
            continue
        # A mutation may land in base64 padding bits and leave the token intact; then it must be the same token.
        assert jwt.decode(token, KeySet([dev_key(dev_settings)]), algorithms=["ES256"]).claims["sub"] == "ops-1"


def test_the_maximum_token_lifetime_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(profile=Profile.DEV, data_dir=tmp_path)
    assert settings.auth_max_token_lifetime_seconds == 3600
    now = int(time.time())
    an_hour = _signed(settings, _claims(settings, iat=now, exp=now + 3600))
    assert TokenValidator(settings).validate(an_hour).sub == "ops-1"  # exactly the maximum is fine
    monkeypatch.setenv("FINPACE_AUTH_MAX_TOKEN_LIFETIME_SECONDS", "120")
    strict = Settings(profile=Profile.DEV, data_dir=tmp_path)
    assert strict.auth_max_token_lifetime_seconds == 120
    with pytest.raises(AuthError, match="lifetime exceeds 120 seconds"):
        TokenValidator(strict).validate(_signed(strict, _claims(strict, iat=now, exp=now + 300)))
    with pytest.raises(AuthError, match="lifetime"):  # the dev issuer never mints a token we would refuse
        issue_dev_token(strict, role="ops", sub="ops-1", ttl_seconds=600)
    # The dev issuer's own tokens (10 minutes at most) always fit the default.
    assert TokenValidator(settings).validate(issue_dev_token(settings, role="ops", sub="ops-1")).sub == "ops-1"


@pytest.mark.filterwarnings("ignore:Key size should be")
def test_weak_keys_in_the_jwks_are_never_trusted(tmp_path: Path) -> None:
    weak_rsa = RSAKey.generate_key(1024, auto_kid=True, private=True)
    strong_rsa = RSAKey.generate_key(2048, auto_kid=True, private=True)
    p521 = ECKey.generate_key("P-521", auto_kid=True, private=True)
    k256 = ECKey.generate_key("secp256k1", auto_kid=True, private=True)
    p384 = ECKey.generate_key("P-384", auto_kid=True, private=True)
    settings = _jwks_settings(tmp_path, [weak_rsa, strong_rsa, p521, k256, p384])
    validator = TokenValidator(settings)
    assert {k.kid for k in validator.keys().keys} == {strong_rsa.kid, p384.kid}
    claims = _claims(settings)
    with pytest.raises(AuthError, match="unknown key"):
        validator.validate(jwt.encode({"alg": "RS256", "kid": weak_rsa.kid, "typ": "at+jwt"}, claims, weak_rsa))
    token = jwt.encode({"alg": "RS256", "kid": strong_rsa.kid, "typ": "at+jwt"}, claims, strong_rsa)
    assert validator.validate(token).sub == "ops-1"


class _JwksServer:
    """A real HTTP JWKS endpoint on loopback that counts its fetches (and can answer slowly)."""

    def __init__(self, keys: list[Any], delay: float = 0.0) -> None:
        import http.server
        import threading

        self.keys, self.delay, self.fetches = keys, delay, 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                time.sleep(outer.delay)
                body = json.dumps({"keys": [k.as_dict(private=False) for k in outer.keys]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks_server() -> Any:
    servers: list[_JwksServer] = []

    def make(keys: list[Any], delay: float = 0.0) -> tuple[_JwksServer, Settings]:
        server = _JwksServer(keys, delay)
        servers.append(server)
        settings = Settings(
            profile=Profile.PROD, auth_issuer="https://login.bank.example", auth_audience="finpace",
            auth_jwks_url=server.url, database_url="postgresql://db.internal/postgres",
            nats_url="nats://nats.internal:4222",
        )
        return server, settings

    yield make
    for server in servers:
        server.close()


def _es256(key: ECKey, settings: Settings, **overrides: Any) -> str:
    return jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}, _claims(settings, **overrides), key)


def test_jwks_over_http_is_cached_at_most_20_minutes_and_refetched_on_unknown_kid_at_most_once_a_minute(
    jwks_server: Any,
) -> None:
    old = ECKey.generate_key("P-256", auto_kid=True, private=True)
    new = ECKey.generate_key("P-256", auto_kid=True, private=True)
    server, settings = jwks_server([old])
    validator = TokenValidator(settings)
    assert validator.cache_seconds <= 1200 and validator.min_refetch_seconds >= 60
    assert validator.validate(_es256(old, settings)).sub == "ops-1"
    assert server.fetches == 1
    for _ in range(5):  # cached: more tokens cost no fetch
        validator.validate(_es256(old, settings))
    assert server.fetches == 1
    # Unknown kids within the minute: a flood of forged kids cannot make us hammer the issuer.
    for i in range(20):
        with pytest.raises(AuthError, match="unknown key"):
            validator.validate(jwt.encode({"alg": "ES256", "kid": f"forged-{i}", "typ": "at+jwt"},
                                          _claims(settings), old))
    assert server.fetches == 1
    # The issuer rotates; once the minute has passed, an unknown kid refetches exactly once.
    server.keys = [new]
    validator._fetched_at -= 61
    assert validator.validate(_es256(new, settings)).sub == "ops-1"
    assert server.fetches == 2
    with pytest.raises(AuthError, match="unknown key"):
        validator.validate(jwt.encode({"alg": "ES256", "kid": "forged", "typ": "at+jwt"}, _claims(settings), new))
    assert server.fetches == 2
    # Past 20 minutes the cache is stale: the next validation refetches even for a known kid.
    validator._fetched_at -= 1201
    validator.validate(_es256(new, settings))
    assert server.fetches == 3


async def test_concurrent_validations_fetch_the_jwks_once(jwks_server: Any) -> None:
    old = ECKey.generate_key("P-256", auto_kid=True, private=True)
    new = ECKey.generate_key("P-256", auto_kid=True, private=True)
    server, settings = jwks_server([old], delay=0.3)  # slow enough that every thread races the first fetch
    validator = TokenValidator(settings)
    tokens = [_es256(old, settings, sub=f"u{i}") for i in range(8)]
    principals = await asyncio.gather(*(validator.validate_async(t) for t in tokens))
    assert [p.sub for p in principals] == [f"u{i}" for i in range(8)]
    assert server.fetches == 1
    # A rotated key seen by many threads at once (after the minute): one refetch, not one per thread.
    server.keys = [old, new]
    validator._fetched_at -= 61
    tokens = [_es256(new, settings, sub=f"n{i}") for i in range(8)]
    principals = await asyncio.gather(*(validator.validate_async(t) for t in tokens))
    assert [p.sub for p in principals] == [f"n{i}" for i in range(8)]
    assert server.fetches == 2
