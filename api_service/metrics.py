"""Prometheus metrics of the API: requests by route and status, latency, and accepted work.

Labels use the matched route's canonical path (`/api/crm/jobs/{job_id}`), never the raw URL,
and a fixed set of methods, so the number of series stays bounded whatever callers send.
"""

import time
from dataclasses import dataclass

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from api_service.errors import Handler
from shared.logs import get_logger

log = get_logger(__name__)

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"
# Set by the submit handler on a replay of an earlier job's response, which accepts nothing new.
REPLAY_HEADER = "Idempotent-Replayed"
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ApiMetrics:
    """One registry per application, so several apps in one process (as in tests) never collide."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    jobs_accepted: Counter
    leads_accepted: Counter

    @classmethod
    def create(cls) -> "ApiMetrics":
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            registry=registry,
            requests=Counter(
                "crm_api_requests",
                "HTTP requests answered, by method, route and status.",
                ("method", "route", "status"),
                registry=registry,
            ),
            latency=Histogram(
                "crm_api_request_duration_seconds",
                "Time to answer a request, by method and route.",
                ("method", "route"),
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            ),
            jobs_accepted=Counter(
                "crm_api_jobs_accepted", "Bulk jobs accepted (202).", registry=registry
            ),
            leads_accepted=Counter(
                "crm_api_leads_accepted",
                "Distinct lead ids in accepted bulk jobs.",
                registry=registry,
            ),
        )


METRICS = web.AppKey("metrics", ApiMetrics)


def route_label(request: web.Request) -> str:
    """Return the canonical path of the matched route, or a fixed label for unknown paths."""
    resource = request.match_info.route.resource
    if resource is None:
        return UNMATCHED_ROUTE
    return resource.canonical


def _accepted_leads(response: web.StreamResponse) -> int:
    """Return `total_leads` of a 202 job body, the only place where the accepted count is known."""
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes):
        return 0
    try:
        total = orjson.loads(body).get("total_leads")
    except (orjson.JSONDecodeError, AttributeError) as error:
        log.warning("accepted_body_unreadable", error=repr(error))
        return 0
    return total if isinstance(total, int) else 0


def metrics_middleware(metrics: ApiMetrics, submit_route: str) -> Handler:
    """Count and time every request, and count the jobs and leads that `submit_route` accepts."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        response = await handler(request)

        route = route_label(request)
        method = request.method if request.method in KNOWN_METHODS else "OTHER"
        metrics.requests.labels(method, route, str(response.status)).inc()
        metrics.latency.labels(method, route).observe(time.perf_counter() - started)
        if (
            route == submit_route
            and response.status == 202
            and REPLAY_HEADER not in response.headers
        ):
            metrics.jobs_accepted.inc()
            metrics.leads_accepted.inc(_accepted_leads(response))
        return response

    return middleware
