"""Print a signed HS256 JWT for local testing.

Usage: `python -m tools.make_token --user 1 --roles cliente [--ttl 3600]`.

Without APP_ENV set it runs in development mode and signs with the development secret; with
JWT_SECRET set it signs with that secret. JWT_ISSUER and JWT_AUDIENCE add `iss` and `aud`.
"""

import argparse
import os
import sys
import time

import jwt
from pydantic import ValidationError

from shared.settings import Settings

DEFAULT_TTL_S = 3600


def create_token(
    settings: Settings, user_id: int, roles: list[str], ttl_s: int = DEFAULT_TTL_S
) -> str:
    """Sign a token for user_id with roles, valid for ttl_s seconds from now."""
    if settings.jwt_secret is None:
        raise ValueError("JWT_SECRET is not set, and HS256 tokens need it")

    now = int(time.time())
    claims: dict[str, object] = {
        "sub": str(user_id),
        "roles": roles,
        "iat": now,
        "exp": now + ttl_s,
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def parse_roles(text: str) -> list[str]:
    """Split a comma-separated role list and drop blanks: "admin, cliente," -> [admin, cliente]."""
    return [role.strip() for role in text.split(",") if role.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.make_token", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--user", type=int, required=True, help="user id, written to the sub claim")
    parser.add_argument(
        "--roles", default="cliente", help="comma-separated roles (default: cliente)"
    )
    parser.add_argument(
        "--ttl", type=int, default=DEFAULT_TTL_S, help="lifetime in seconds (default: 3600)"
    )
    args = parser.parse_args(argv)

    if args.user <= 0:
        parser.error(f"--user must be a positive integer, got {args.user}")
    if args.ttl <= 0:
        parser.error(f"--ttl must be a positive number of seconds, got {args.ttl}")
    if not parse_roles(args.roles):
        parser.error("--roles must name at least one role")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("APP_ENV", "development")
    try:
        settings = Settings()
    except ValidationError as err:
        messages = "; ".join(error["msg"] for error in err.errors())
        print(f"make_token: invalid settings: {messages}", file=sys.stderr)
        return 2

    print(create_token(settings, args.user, parse_roles(args.roles), args.ttl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
