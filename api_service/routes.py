"""URL table of the API, mounted under the optional API_PREFIX."""

from aiohttp import web

from api_service.views import bulk, health, jobs

API_BASE = "/api/crm"


def setup_routes(app: web.Application, prefix: str) -> None:
    base = f"{prefix}{API_BASE}"
    app.router.add_post(f"{base}/leads/bulk-status-async", bulk.submit_bulk_job)
    app.router.add_post(f"{base}/leads/bulk-status", bulk.update_leads_now)
    app.router.add_get(f"{base}/jobs", jobs.list_jobs)
    app.router.add_get(f"{base}/jobs/{{job_id}}", jobs.get_job)
    app.router.add_delete(f"{base}/jobs/{{job_id}}", jobs.cancel_job)
    app.router.add_get(f"{base}/jobs/{{job_id}}/failures", jobs.get_job_failures)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    if prefix:
        app.router.add_get(f"{prefix}/healthz", health.healthz)
        app.router.add_get(f"{prefix}/readyz", health.readyz)
