"""Access tokens: JWT validation with joserfc against the issuer's JWKS, the dev issuer, and the Principal."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import structlog
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from shared.config import Settings
from shared.errors import AuthError

log = structlog.get_logger(__name__)

ALLOWED_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
ROLES = frozenset({"customer", "rm", "ops", "auditor", "partner", "admin"})
MAX_TOKEN_BYTES = 8192
MIN_RSA_BITS = 2048
ALLOWED_EC_CURVES = frozenset({"P-256", "P-384"})
ALLOWED_OKP_CURVES = frozenset({"Ed25519"})
DEV_KEY_FILE = "dev-issuer.jwk.json"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: subject, roles, scopes and the parties it may act for."""

    sub: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    party_ids: frozenset[str] = frozenset()
    client_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        roles = claims.get("roles") or []
        scope = claims.get("scope") or ""
        party_ids = claims.get("party_ids") or []
        # A string where a list belongs would otherwise be read character by character.
        if not isinstance(roles, list) or not isinstance(party_ids, list) or not isinstance(scope, str):
            raise AuthError("Access token claims roles, party_ids or scope have the wrong type.")
        scopes = scope.split()
        return cls(
            sub=str(claims["sub"]),
            roles=frozenset(r for r in roles if r in ROLES),
            scopes=frozenset(scopes),
            party_ids=frozenset(str(p) for p in party_ids),
            client_id=claims.get("client_id"),
            claims=claims,
        )


def dev_key(settings: Settings) -> ECKey:
    """Loads the dev issuer's signing key from the data directory, creating it on first use."""
    path = Path(settings.data_dir) / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ECKey.generate_key("P-256", auto_kid=True, private=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(key.as_dict(private=True)))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic create: the first process wins, the others read its key
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return ECKey.import_key(json.loads(path.read_text()))


def issue_dev_token(
    settings: Settings,
    *,
    role: str,
    sub: str,
    party_ids: list[str] | None = None,
    scopes: list[str] | None = None,
    ttl_seconds: int = 600,
    client_id: str = "finpace-dev",
) -> str:
    """Issues an RFC 9068 access token signed by the dev issuer (refused outside the dev profile)."""
    if not settings.is_dev:
        raise AuthError("Dev tokens are refused outside the dev profile.")
    if role not in ROLES:
        raise AuthError(f"Role '{role}' is not one of {sorted(ROLES)}.")
    if not 0 < ttl_seconds <= settings.auth_max_token_lifetime_seconds:
        raise AuthError(f"Token lifetime {ttl_seconds} s is outside 1..{settings.auth_max_token_lifetime_seconds} s.")
    key = dev_key(settings)
    now = int(time.time())
    claims = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": sub,
        "client_id": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
        "roles": [role],
        "scope": " ".join(scopes or []),
        "party_ids": list(party_ids or []),
    }
    return jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}, claims, key)


@dataclass
class TokenValidator:
    """Validates bearer tokens: algorithm allow-list, exact issuer, audience, exp/nbf with leeway, kid lookup."""

    settings: Settings
    _keys: KeySet | None = None
    _fetched_at: float = 0.0
    cache_seconds: float = 1200.0
    min_refetch_seconds: float = 60.0
    # Tokens already verified, kept until the earlier of their `exp` and `verified_seconds` from now, and only
    # while the key set they were verified with is the current one: a refetched JWKS revalidates every token.
    # It saves the signature check (most of the validation's cost) on each request of a client's session.
    verified_seconds: float = 60.0
    verified_max: int = 10_000
    _verified: OrderedDict[str, tuple[Principal, float, float, int]] = field(default_factory=OrderedDict, repr=False)
    _generation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _fetch_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _load_keys(self) -> KeySet:
        s = self.settings
        if s.auth_jwks_file:
            return _strong_keys(KeySet.import_key_set(json.loads(Path(s.auth_jwks_file).read_text())))
        if s.auth_jwks_url:
            import httpx  # only with a remote JWKS: the import costs a tenth of a service's start-up

            try:
                response = httpx.get(s.auth_jwks_url, timeout=5)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise OSError(f"JWKS {s.auth_jwks_url} answered {type(exc).__name__}") from exc
            return _strong_keys(KeySet.import_key_set(response.json()))
        public = dev_key(s).as_dict(private=False)
        return KeySet.import_key_set({"keys": [public]})

    def keys(self, *, refresh: bool = False) -> KeySet:
        """The issuer's keys: cached for `cache_seconds`, refetched on an unknown kid at most once a minute.

        Called from worker threads (validate_async): one thread fetches while the others wait for its result,
        so a burst of tokens with a new kid costs one JWKS request, not one per thread.
        """
        if not self._due(refresh):
            return self._keys  # type: ignore[return-value]
        with self._fetch_lock:
            if self._due(refresh):  # another thread may have fetched while this one waited
                try:
                    keys = self._load_keys()
                    with self._lock:
                        self._keys = keys
                        self._generation += 1
                except (OSError, ValueError, JoseError) as exc:
                    # An unreachable or broken JWKS: keep the keys we had (stale beats none); without any, refuse.
                    log.warning("jwks_unavailable", error=type(exc).__name__, have_stale_keys=self._keys is not None)
                self._fetched_at = time.monotonic()
        if self._keys is None:
            raise AuthError("The issuer's signing keys are unavailable; cannot validate the token.")
        return self._keys

    def _due(self, refresh: bool) -> bool:
        age = time.monotonic() - self._fetched_at
        return self._keys is None or age > self.cache_seconds or (refresh and age > self.min_refetch_seconds)

    async def validate_async(self, token: str) -> Principal:
        """Validates without blocking the event loop: a JWKS fetched over HTTP is read in a worker thread."""
        known = self._known(token)
        if known is not None:
            return known
        if self.settings.auth_jwks_url:
            return await asyncio.to_thread(self.validate, token)
        return self.validate(token)

    def _known(self, token: str) -> Principal | None:
        """The Principal of a token verified recently with the current keys, if it has not expired since."""
        with self._lock:
            entry = self._verified.get(token)
            if entry is None:
                return None
            principal, until, exp, generation = entry
            # Both clocks: the monotonic one bounds how long we trust the check, the wall clock the token's exp.
            fresh = time.monotonic() < until and time.time() < exp and generation == self._generation
            if not fresh or time.monotonic() - self._fetched_at > self.cache_seconds:
                del self._verified[token]
                return None
            self._verified.move_to_end(token)
            return principal

    def _remember(self, token: str, principal: Principal, exp: Any, generation: int) -> None:
        if not isinstance(exp, int | float):
            return
        lifetime = min(self.verified_seconds, float(exp) - time.time())
        if lifetime <= 0:
            return
        with self._lock:
            self._verified[token] = (principal, time.monotonic() + lifetime, float(exp), generation)
            self._verified.move_to_end(token)
            while len(self._verified) > self.verified_max:
                self._verified.popitem(last=False)

    def validate(self, token: str) -> Principal:
        """Returns the Principal of a valid token, else raises AuthError."""
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthError("Access token is too large.")
        known = self._known(token)
        if known is not None:
            return known
        try:
            header = json.loads(_b64url(token.split(".")[0]))
        except Exception:
            raise AuthError("Access token is malformed.") from None
        if not isinstance(header, dict):
            raise AuthError("Access token is malformed.")
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise AuthError(f"Access token algorithm '{header.get('alg')}' is not allowed.")
        if "jku" in header or "x5u" in header:
            raise AuthError("Access token names its own key location; refused.")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in {"at+jwt", "application/at+jwt"}:
            raise AuthError("Access token type must be at+jwt.")
        kid = header.get("kid")
        if not kid:
            raise AuthError("Access token has no key id.")
        keys = self.keys()
        generation = self._generation
        if not _has_kid(keys, kid):
            keys = self.keys(refresh=True)  # a rotated key: refetch, at most once a minute
            generation = self._generation
            if not _has_kid(keys, kid):
                raise AuthError("Access token is signed by an unknown key.")
        try:
            token_obj = jwt.decode(token, keys, algorithms=ALLOWED_ALGORITHMS)
            registry = jwt.JWTClaimsRegistry(
                leeway=self.settings.auth_leeway_seconds,
                iss={"essential": True, "value": self.settings.auth_issuer},
                aud={"essential": True, "value": self.settings.auth_audience},
                exp={"essential": True},
                sub={"essential": True},
                iat={"essential": True},  # RFC 9068 section 2.2: iat, jti and client_id are required
                jti={"essential": True},
                client_id={"essential": True},
            )
            registry.validate(token_obj.claims)
        except JoseError as exc:
            raise AuthError(f"Access token is invalid ({exc.error}).") from None
        claims = token_obj.claims
        if not isinstance(claims["jti"], str) or not claims["jti"] or not isinstance(claims["client_id"], str):
            raise AuthError("Access token claims jti or client_id have the wrong type.")
        if claims["exp"] - claims["iat"] > self.settings.auth_max_token_lifetime_seconds:
            raise AuthError(
                f"Access token lifetime exceeds {self.settings.auth_max_token_lifetime_seconds} seconds; refused."
            )
        principal = Principal.from_claims(token_obj.claims)
        self._remember(token, principal, token_obj.claims.get("exp"), generation)
        return principal


def _strong_keys(keys: KeySet) -> KeySet:
    """Drops keys too weak to trust (RSA under 2048 bits, EC off P-256/P-384, OKP other than Ed25519)."""
    kept = []
    for key in keys.keys:
        public = key.as_dict(private=False)
        kty = public.get("kty")
        if kty == "RSA":
            strong = int.from_bytes(_b64url(str(public["n"])), "big").bit_length() >= MIN_RSA_BITS
        elif kty == "EC":
            strong = public.get("crv") in ALLOWED_EC_CURVES
        elif kty == "OKP":
            strong = public.get("crv") in ALLOWED_OKP_CURVES
        else:
            strong = False  # symmetric ("oct") keys never verify an access token
        if strong:
            kept.append(key)
        else:
            log.warning("jwks_key_refused", kid=key.kid, kty=kty, crv=public.get("crv"))
    return KeySet(kept)


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(k.kid == kid for k in keys.keys)


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


MISPLACED_BEARER_MESSAGE = "Tokens are accepted only in the Authorization header ('Authorization: Bearer <token>')."
WS_MISPLACED_BEARER_MESSAGE = ("Tokens in the URL are refused; on a WebSocket, send 'Authorization: Bearer <token>' "
                               "in the connection_init payload.")
BEARER_PARAM = "access_token"


def token_outside_header(query: Mapping[str, Any], content_type: str | None, body: bytes) -> bool:
    """True when a request carries an RFC 6750 query-string or form/JSON-body `access_token`.

    Our rule is tokens only in the Authorization header (a URL's token ends up in logs, history and Referer),
    so such a request is refused with 401 rather than served anonymously.
    """
    if BEARER_PARAM in query:
        return True
    if not body or BEARER_PARAM.encode() not in body:
        return False
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return BEARER_PARAM in parse_qs(body.decode("latin-1"), keep_blank_values=True)
    if media.startswith("multipart/"):
        return True  # a multipart field named access_token: the name is in the body; refuse without parsing
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and BEARER_PARAM in parsed


def bearer_token(authorization: str | None) -> str | None:
    """Extracts the token from an `Authorization: Bearer ...` header value."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization header must be 'Bearer <token>'.")
    return token.strip()
