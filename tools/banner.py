"""The start-up text of the development stack: where things run, tokens and example requests."""

import shlex
from urllib.parse import urlsplit, urlunsplit

import orjson

from shared.settings import Settings
from tools.make_token import create_token

CLIENT_USER_ID = 1
ADMIN_USER_ID = 9000
TOKEN_TTL_S = 12 * 3600

EXAMPLE_BODY = {
    "lead_ids": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    "estado": "aprobado",
    "observaciones": "Procesamiento masivo de campaña",
}


def redact_url(url: str) -> str:
    """Return url with any password replaced by `***`, for logs and terminals."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def api_base_url(settings: Settings) -> str:
    """Return the local base URL of the CRM API, honouring API_PORT and API_PREFIX."""
    return f"http://localhost:{settings.api_port}{settings.normalized_prefix}/api/crm"


def curl_examples(settings: Settings, token: str) -> list[str]:
    """Return the curl commands queuing the example job and reading its progress."""
    base = api_base_url(settings)
    auth = shlex.quote(f"Authorization: Bearer {token}")
    body = shlex.quote(orjson.dumps(EXAMPLE_BODY).decode())
    queue = (
        f"curl -sS -X POST {base}/leads/bulk-status-async \\\n"
        f"    -H {auth} \\\n"
        f"    -H 'Content-Type: application/json' \\\n"
        f"    -d {body}"
    )
    follow = f"curl -sS {base}/jobs/<job_id> \\\n    -H {auth}"
    return [queue, follow]


def banner(settings: Settings, redis_url: str, database_url: str, workers: int) -> str:
    """Build the text printed once the servers are ready and the database is migrated."""
    client_token = create_token(settings, CLIENT_USER_ID, ["cliente"], TOKEN_TTL_S)
    admin_token = create_token(settings, ADMIN_USER_ID, ["admin"], TOKEN_TTL_S)
    queue, follow = curl_examples(settings, client_token)

    return "\n".join([
        "",
        "Development stack",
        f"  Redis:       {redact_url(redis_url)}",
        f"  PostgreSQL:  {redact_url(database_url)}",
        f"  API:         {api_base_url(settings)}  ({workers} worker(s))",
        "",
        f"Development tokens, valid for {TOKEN_TTL_S // 3600} h:",
        f"  cliente {CLIENT_USER_ID}:  {client_token}",
        f"  admin {ADMIN_USER_ID}:  {admin_token}",
        "",
        "Queue a status change for leads 1-10 as cliente 1 (with the demo data, lead 5 belongs to",
        "cliente 2 and fails with 'Sin permiso'):",
        f"  {queue}",
        "",
        "Follow the job, with the job_id from the answer above:",
        f"  {follow}",
        "",
        "Press Ctrl-C to stop everything.",
        "",
    ])  # fmt: skip
