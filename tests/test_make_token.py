"""Development tokens: claims, signature, issuer and audience."""

import jwt
import pytest

from shared.settings import Settings
from tools.make_token import create_token, parse_roles

SECRET = "tools-test-secret-long-enough-for-hs256"


def test_token_claims() -> None:
    settings = Settings(app_env="development", jwt_secret=SECRET)

    token = create_token(settings, 7, ["cliente"], ttl_s=120)

    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "7"
    assert claims["roles"] == ["cliente"]
    assert claims["exp"] - claims["iat"] == 120
    assert "iss" not in claims
    assert "aud" not in claims


def test_token_issuer_audience() -> None:
    settings = Settings(
        app_env="development", jwt_secret=SECRET, jwt_issuer="crm", jwt_audience="crm-api"
    )

    token = create_token(settings, 9000, ["admin"])

    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="crm-api", issuer="crm")
    assert claims["roles"] == ["admin"]


def test_token_wrong_secret_rejected() -> None:
    token = create_token(Settings(app_env="development", jwt_secret=SECRET), 1, ["cliente"])

    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET + "-other", algorithms=["HS256"])


def test_parse_roles() -> None:
    assert parse_roles("admin, cliente,,") == ["admin", "cliente"]
