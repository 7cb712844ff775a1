"""JWT authentication and the admin / cliente roles."""

import re
import time
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web

from api_service.errors import ApiError, Handler
from shared.logs import get_logger
from shared.settings import Settings

log = get_logger(__name__)

ALLOWED_ROLES = frozenset({"admin", "cliente"})
MAX_USER_ID = 2**63 - 1
# Distinct tokens remembered per API process; callers usually reuse one token for many requests.
TOKEN_CACHE_SIZE = 4096
USER_ID_DIGITS = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True)
class Caller:
    """The authenticated user of a request."""

    user_id: int
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


CALLER = web.RequestKey("caller", Caller)


def _unauthorized(error: str) -> ApiError:
    """401 with the RFC 6750 challenge: bare for a missing token, naming the error for a bad one."""
    challenge = "Bearer" if error == "token_required" else f'Bearer error="{error}"'
    return ApiError(401, error, headers={"WWW-Authenticate": challenge})


def extract_token(header: str | None) -> str:
    """Return the token of an `Authorization: Bearer <token>` header, or 401 when it is missing."""
    if not header:
        raise _unauthorized("token_required")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise _unauthorized("token_required")
    return token


def _verification_key(algorithm: str, settings: Settings) -> str:
    """HMAC algorithms verify with the shared secret, RS/ES ones with the public key only."""
    secret = settings.jwt_secret if algorithm.startswith("HS") else settings.jwt_public_key
    if secret is None:
        raise _unauthorized("invalid_token")
    return secret.get_secret_value()


def _token_algorithm(token: str, settings: Settings) -> str:
    """Return the token's `alg` if it is a configured algorithm; `none` and any other get 401."""
    algorithm = jwt.get_unverified_header(token).get("alg")
    if algorithm not in settings.jwt_algorithms:
        log.info("token_rejected", reason="algorithm_not_allowed", algorithm=str(algorithm)[:16])
        raise _unauthorized("invalid_token")
    return str(algorithm)


def decode_token(token: str, settings: Settings) -> dict[str, Any]:
    """Verify signature, algorithm, `exp` and, when configured, `iss` and `aud`; 401 otherwise.

    `sub` is read by caller_from_claims, which also takes the numbers that PyJWT's own string
    check would reject.
    """
    try:
        algorithm = _token_algorithm(token, settings)
        return jwt.decode(
            token,
            _verification_key(algorithm, settings),
            algorithms=[algorithm],
            leeway=settings.jwt_leeway_s,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={
                "require": ["exp"],
                "verify_aud": settings.jwt_audience is not None,
                "verify_sub": False,
            },
        )
    except jwt.PyJWTError as error:
        log.info("token_rejected", reason=type(error).__name__)
        raise _unauthorized("invalid_token") from error


def _parse_user_id(value: object) -> int | None:
    """Return a positive bigint given as a number or as at most 19 ASCII digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        user_id = value
    elif isinstance(value, str) and USER_ID_DIGITS.fullmatch(value):
        user_id = int(value)
    else:
        return None
    return user_id if 0 < user_id <= MAX_USER_ID else None


def _parse_roles(value: object) -> frozenset[str]:
    """Return the lower-cased role names of a list or a single name; other values give none."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return frozenset()
    return frozenset(role.strip().lower() for role in value if isinstance(role, str))


def caller_from_claims(claims: dict[str, Any]) -> Caller:
    """Read the user id from `sub` (or `data.id`, as the original PHP system set it) and the roles."""
    data = claims.get("data")
    if not isinstance(data, dict):
        data = {}

    user_id = _parse_user_id(claims.get("sub"))
    if user_id is None:
        user_id = _parse_user_id(data.get("id"))
    if user_id is None:
        log.info("token_rejected", reason="no_user_id")
        raise _unauthorized("invalid_token")

    roles = _parse_roles(claims.get("roles", data.get("roles")))
    if not roles & ALLOWED_ROLES:
        log.info("caller_forbidden", user_id=user_id, roles=sorted(roles)[:5])
        raise ApiError(403, "forbidden")
    return Caller(user_id=user_id, roles=roles)


class VerifiedTokens:
    """Callers of recently verified tokens, kept until the token's `exp` plus the leeway.

    The key is the whole token, signature included, so a hit is the same bytes that were
    verified. Only time can change the verdict on the same token, and `exp` is checked on
    every hit. Skipping the signature and claim checks matters most on status reads, which a
    caller repeats many times with one token.
    """

    def __init__(self, leeway_s: int, max_entries: int = TOKEN_CACHE_SIZE) -> None:
        self.leeway_s = leeway_s
        self.max_entries = max_entries
        self.entries: dict[str, tuple[Caller, float]] = {}

    def get(self, token: str) -> Caller | None:
        entry = self.entries.get(token)
        if entry is None:
            return None
        caller, valid_until = entry
        if time.time() >= valid_until:
            del self.entries[token]
            return None
        return caller

    def put(self, token: str, caller: Caller, claims: dict[str, Any]) -> None:
        if len(self.entries) >= self.max_entries:
            # Insertion order makes the first key the oldest entry.
            del self.entries[next(iter(self.entries))]
        self.entries[token] = (caller, float(claims["exp"]) + self.leeway_s)


def authenticate(request: web.Request, settings: Settings, verified: VerifiedTokens) -> Caller:
    token = extract_token(request.headers.get("Authorization"))
    caller = verified.get(token)
    if caller is not None:
        return caller

    claims = decode_token(token, settings)
    caller = caller_from_claims(claims)
    verified.put(token, caller, claims)
    return caller


def auth_middleware(settings: Settings, protected_prefix: str) -> Handler:
    """Require a valid token on `protected_prefix` and every path below it."""
    verified = VerifiedTokens(settings.jwt_leeway_s)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path == protected_prefix or path.startswith(f"{protected_prefix}/"):
            request[CALLER] = authenticate(request, settings, verified)
        return await handler(request)

    return middleware


def get_caller(request: web.Request) -> Caller:
    return request[CALLER]
