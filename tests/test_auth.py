"""Authentication and isolation: which tokens pass, which get 401 or 403, and who reads which job."""

import base64
import hashlib
import hmac
import time
import warnings
from collections.abc import Callable

import asyncpg
import jwt
import orjson
import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from redis.asyncio import Redis

from api_service.auth import Caller, VerifiedTokens
from shared.settings import Settings
from tests.api_helpers import api_client, submit, with_settings
from tests.conftest import TEST_SECRET, auth, make_token

JOBS_URL = "/api/crm/jobs"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    payload: dict[str, object] = {"sub": "1", "roles": ["cliente"], "iat": now, "exp": now + 600}
    payload.update(overrides)
    return {name: value for name, value in payload.items() if value is not None}


def hs_token(
    payload: dict[str, object], algorithm: str = "HS256", secret: str = TEST_SECRET
) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode(payload, secret, algorithm=algorithm)


def forged_hs256(payload: dict[str, object], secret: bytes) -> str:
    """Sign by hand: PyJWT refuses a PEM key as an HMAC secret, an attacker's tool does not."""
    signing_input = (
        f"{_b64(orjson.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{_b64(orjson.dumps(payload))}"
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def unsigned_token(payload: dict[str, object]) -> str:
    return f"{_b64(orjson.dumps({'alg': 'none', 'typ': 'JWT'}))}.{_b64(orjson.dumps(payload))}."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def public_pem(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


async def get_jobs(client: TestClient, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    response = await client.get(JOBS_URL, headers=headers)
    return response.status, await response.json()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer a b"},
        {"Authorization": "token-without-scheme"},
    ],
    ids=["absent", "empty", "basic", "no_token", "two_tokens", "no_scheme"],
)
async def test_header_missing_or_malformed(client: TestClient, headers: dict[str, str]) -> None:
    response = await client.get(JOBS_URL, headers=headers)
    body = await response.json()

    assert response.status == 401
    assert body["error"] == "token_required"
    assert body["message"] == "Token requerido"
    assert response.headers["WWW-Authenticate"] == "Bearer"


REJECTED_TOKENS: dict[str, Callable[[], str]] = {
    "alg_none": lambda: unsigned_token(claims()),
    "hs384": lambda: hs_token(claims(), "HS384"),
    "hs512": lambda: hs_token(claims(), "HS512"),
    "wrong_secret": lambda: hs_token(claims(), secret="another-secret-of-the-same-length-as-ours"),
    "no_exp": lambda: hs_token(claims(exp=None)),
    "expired": lambda: hs_token(claims(exp=int(time.time()) - 3600)),
    "no_sub": lambda: hs_token(claims(sub=None)),
    "sub_text": lambda: hs_token(claims(sub="abc")),
    "sub_zero": lambda: hs_token(claims(sub=0)),
    "sub_negative": lambda: hs_token(claims(sub=-4)),
    "sub_bool": lambda: hs_token(claims(sub=True)),
    "sub_huge": lambda: hs_token(claims(sub="9" * 30)),
    "garbage": lambda: "not-a-jwt",
    "three_parts": lambda: "a.b.c",
}


@pytest.mark.parametrize("case", REJECTED_TOKENS)
async def test_token_rejected(client: TestClient, case: str) -> None:
    response = await client.get(JOBS_URL, headers=bearer(REJECTED_TOKENS[case]()))
    body = await response.json()

    assert response.status == 401
    assert body["error"] == "invalid_token"
    assert body["message"] == "Token inválido o expirado"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_expired_within_leeway(client: TestClient, settings: Settings) -> None:
    token = hs_token(claims(exp=int(time.time()) - settings.jwt_leeway_s // 2))
    status, _ = await get_jobs(client, bearer(token))
    assert status == 200


async def test_expired_beyond_leeway(client: TestClient, settings: Settings) -> None:
    token = hs_token(claims(exp=int(time.time()) - settings.jwt_leeway_s - 30))
    status, body = await get_jobs(client, bearer(token))
    assert status == 401
    assert body["error"] == "invalid_token"


@pytest.mark.parametrize(
    "payload",
    [
        claims(sub=1),
        claims(sub="1"),
        claims(sub=None, data={"id": 1}),
        claims(sub=None, data={"id": "1"}),
        claims(sub=None, roles=None, data={"id": 1, "roles": ["cliente"]}),
    ],
    ids=["sub_number", "sub_string", "php_data_id", "php_data_id_string", "php_data_roles"],
)
async def test_user_id_claims(client: TestClient, redis: Redis, payload: dict[str, object]) -> None:
    job_id = await submit(client, [1, 2], user_id=1)

    status, body = await get_jobs(client, bearer(hs_token(payload)))

    assert status == 200
    assert [job["job_id"] for job in body["jobs"]] == [job_id]


@pytest.mark.parametrize(
    "roles", [[], ["proveedor"], "admin-ish", None], ids=["empty", "other", "text", "absent"]
)
async def test_role_forbidden(client: TestClient, roles: object) -> None:
    response = await client.get(JOBS_URL, headers=bearer(hs_token(claims(roles=roles))))
    body = await response.json()

    assert response.status == 403
    assert body["error"] == "forbidden"
    assert body["message"] == "Acceso denegado: solo clientes o administradores"


async def test_issuer_checked(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    configured = with_settings(settings, jwt_issuer="https://crm.example/auth")
    async with api_client(configured) as client:
        right, _ = await get_jobs(client, bearer(hs_token(claims(iss="https://crm.example/auth"))))
        wrong, _ = await get_jobs(client, bearer(hs_token(claims(iss="https://elsewhere.example"))))
        missing, _ = await get_jobs(client, bearer(hs_token(claims())))

    assert right == 200
    assert wrong == 401
    assert missing == 401


async def test_audience_checked(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    configured = with_settings(settings, jwt_audience="crm-bulk")
    async with api_client(configured) as client:
        right, _ = await get_jobs(client, bearer(hs_token(claims(aud="crm-bulk"))))
        in_list, _ = await get_jobs(client, bearer(hs_token(claims(aud=["other", "crm-bulk"]))))
        wrong, _ = await get_jobs(client, bearer(hs_token(claims(aud="other"))))
        missing, _ = await get_jobs(client, bearer(hs_token(claims())))

    assert right == 200
    assert in_list == 200
    assert wrong == 401
    assert missing == 401


async def test_rs256_public_key(
    settings: Settings, redis: Redis, db: asyncpg.Pool, rsa_key: rsa.RSAPrivateKey
) -> None:
    configured = with_settings(
        settings, jwt_algorithms=["RS256"], jwt_public_key=public_pem(rsa_key)
    )
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with api_client(configured) as client:
        signed, _ = await get_jobs(client, bearer(jwt.encode(claims(), rsa_key, algorithm="RS256")))
        other, _ = await get_jobs(
            client, bearer(jwt.encode(claims(), other_key, algorithm="RS256"))
        )
        hmac_secret, _ = await get_jobs(client, bearer(hs_token(claims())))

    assert signed == 200
    assert other == 401
    assert hmac_secret == 401


async def test_es256_public_key(
    settings: Settings, redis: Redis, db: asyncpg.Pool, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    configured = with_settings(
        settings, jwt_algorithms=["ES256"], jwt_public_key=public_pem(ec_key)
    )
    other_key = ec.generate_private_key(ec.SECP256R1())
    async with api_client(configured) as client:
        signed, _ = await get_jobs(client, bearer(jwt.encode(claims(), ec_key, algorithm="ES256")))
        other, _ = await get_jobs(
            client, bearer(jwt.encode(claims(), other_key, algorithm="ES256"))
        )

    assert signed == 200
    assert other == 401


@pytest.mark.parametrize(
    "algorithms", [["RS256"], ["RS256", "HS256"]], ids=["rs_only", "rs_and_hs"]
)
async def test_public_key_as_hmac_secret(
    settings: Settings,
    redis: Redis,
    db: asyncpg.Pool,
    rsa_key: rsa.RSAPrivateKey,
    algorithms: list[str],
) -> None:
    pem = public_pem(rsa_key)
    configured = with_settings(settings, jwt_algorithms=algorithms, jwt_public_key=pem)
    async with api_client(configured) as client:
        status, body = await get_jobs(client, bearer(forged_hs256(claims(), pem.encode())))

    assert status == 401
    assert body["error"] == "invalid_token"


async def test_key_of_other_type(
    settings: Settings,
    redis: Redis,
    db: asyncpg.Pool,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    configured = with_settings(
        settings, jwt_algorithms=["RS256", "ES256"], jwt_public_key=public_pem(rsa_key)
    )
    async with api_client(configured) as client:
        status, body = await get_jobs(
            client, bearer(jwt.encode(claims(), ec_key, algorithm="ES256"))
        )

    assert status == 401
    assert body["error"] == "invalid_token"


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/failures"), ("DELETE", "")],
    ids=["get", "failures", "cancel"],
)
async def test_other_users_job_hidden(client: TestClient, method: str, suffix: str) -> None:
    job_id = await submit(client, [1, 2, 3], user_id=1)

    response = await client.request(method, f"{JOBS_URL}/{job_id}{suffix}", headers=auth(2))
    body = await response.json()

    assert response.status == 404
    assert body["error"] == "job_not_found"
    assert body["message"] == "Job no encontrado o no tienes permiso para verlo"


async def test_other_users_job_unchanged(client: TestClient) -> None:
    job_id = await submit(client, [1, 2, 3], user_id=1)
    await client.delete(f"{JOBS_URL}/{job_id}", headers=auth(2))

    own = await (await client.get(f"{JOBS_URL}/{job_id}", headers=auth(1))).json()
    assert own["status"] == "queued"


async def test_other_users_job_unlisted(client: TestClient) -> None:
    await submit(client, [1, 2, 3], user_id=1)

    status, body = await get_jobs(client, auth(2))

    assert status == 200
    assert body["jobs"] == []


@pytest.mark.parametrize(
    ("method", "suffix", "expected"),
    [("GET", "", 200), ("GET", "/failures", 200), ("DELETE", "", 200)],
    ids=["get", "failures", "cancel"],
)
async def test_admin_sees_any_job(
    client: TestClient, method: str, suffix: str, expected: int
) -> None:
    job_id = await submit(client, [1, 2, 3], user_id=1)

    response = await client.request(
        method, f"{JOBS_URL}/{job_id}{suffix}", headers=auth(500, ["admin"])
    )
    assert response.status == expected


async def test_admin_lists_every_user(client: TestClient) -> None:
    first = await submit(client, [1, 2], user_id=1)
    second = await submit(client, [5, 55], user_id=2)

    status, body = await get_jobs(client, auth(500, ["admin"]))

    assert status == 200
    assert [job["job_id"] for job in body["jobs"]] == [second, first]


async def test_conftest_token_accepted(client: TestClient) -> None:
    status, _ = await get_jobs(client, bearer(make_token(1)))
    assert status == 200


def test_verified_token_cache_hit() -> None:
    verified = VerifiedTokens(leeway_s=0)
    caller = Caller(user_id=7, roles=frozenset({"cliente"}))
    verified.put("token-a", caller, {"exp": time.time() + 60})

    assert verified.get("token-a") == caller
    assert verified.get("token-b") is None


def test_verified_token_cache_expiry() -> None:
    verified = VerifiedTokens(leeway_s=5)
    caller = Caller(user_id=7, roles=frozenset({"cliente"}))
    verified.put("token-a", caller, {"exp": time.time() - 6})

    assert verified.get("token-a") is None
    assert "token-a" not in verified.entries


def test_verified_token_cache_bounded() -> None:
    verified = VerifiedTokens(leeway_s=0, max_entries=3)
    caller = Caller(user_id=7, roles=frozenset({"cliente"}))
    for index in range(5):
        verified.put(f"token-{index}", caller, {"exp": time.time() + 60})

    assert len(verified.entries) == 3
    assert verified.get("token-0") is None
    assert verified.get("token-4") == caller


async def test_cached_token_tampered_rejected(client: TestClient) -> None:
    token = make_token(1, ["cliente"])
    first = await client.get("/api/crm/jobs", headers={"Authorization": f"Bearer {token}"})
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    second = await client.get("/api/crm/jobs", headers={"Authorization": f"Bearer {tampered}"})

    assert first.status == 200
    assert second.status == 401
