"""JWT authentication and the admin / cliente roles."""

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
    return ApiError(401, error, headers={"WWW-Authenticate": "Bearer"})


def extract_token(header: str | None) -> str:
    """Return the token of an `Authorization: Bearer <token>` header; 401 when absent or malformed."""
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


def decode_token(token: str, settings: Settings) -> dict[str, Any]:
    """Verify signature, algorithm, `exp` and, when configured, `iss` and `aud`; 401 otherwise."""
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
        if algorithm not in settings.jwt_algorithms:
            raise _unauthorized("invalid_token")
        return jwt.decode(
            token,
            _verification_key(algorithm, settings),
            algorithms=[algorithm],
            leeway=settings.jwt_leeway_s,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": ["exp"], "verify_aud": settings.jwt_audience is not None},
        )
    except jwt.PyJWTError as error:
        log.info("token_rejected", reason=type(error).__name__)
        raise _unauthorized("invalid_token") from error


def _parse_user_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        user_id = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        user_id = int(value)
    else:
        return None
    return user_id if 0 < user_id <= MAX_USER_ID else None


def caller_from_claims(claims: dict[str, Any]) -> Caller:
    """Read the user id from `sub`, or `data.id` as the original PHP system issued it, and the roles."""
    data = claims.get("data") if isinstance(claims.get("data"), dict) else {}
    user_id = _parse_user_id(claims.get("sub"))
    if user_id is None:
        user_id = _parse_user_id(data.get("id"))
    if user_id is None:
        raise _unauthorized("invalid_token")

    raw_roles = claims.get("roles", data.get("roles", []))
    if isinstance(raw_roles, str):
        raw_roles = [raw_roles]
    if not isinstance(raw_roles, list):
        raw_roles = []
    roles = frozenset(role.strip().lower() for role in raw_roles if isinstance(role, str))

    if not roles & ALLOWED_ROLES:
        raise ApiError(403, "forbidden")
    return Caller(user_id=user_id, roles=roles)


def authenticate(request: web.Request, settings: Settings) -> Caller:
    token = extract_token(request.headers.get("Authorization"))
    return caller_from_claims(decode_token(token, settings))


def auth_middleware(settings: Settings, protected_prefix: str, public_paths: frozenset[str]) -> Handler:
    """Require a valid token on every path under `protected_prefix` except `public_paths`."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(protected_prefix) and path not in public_paths:
            request[CALLER] = authenticate(request, settings)
        return await handler(request)

    return middleware


def get_caller(request: web.Request) -> Caller:
    return request[CALLER]
