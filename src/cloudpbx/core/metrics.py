"""What the web workers and the job worker count, for ``/metrics`` (:mod:`cloudpbx.metrics`).

Under ``cloudpbx run`` every web worker and the job worker write their counts to files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, set by the run before it
starts them), and ``/metrics`` sums them; elsewhere (tests, ``manage.py``) they count in memory.
Labels take values from fixed sets only (view names, vendors, results), never from a request.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "cloudpbx_http_requests",
    "HTTP requests answered, by view, method and status.",
    ["view", "method", "status"],
)
HTTP_DURATION = Histogram(
    "cloudpbx_http_request_duration_seconds",
    "Time from the request to its answer, by view.",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PROVISIONING_FETCHES = Counter(
    "cloudpbx_provisioning_fetches",
    "Phones' requests for their files, by vendor and result.",
    ["vendor", "result"],
)
JOBS_FINISHED = Counter(
    "cloudpbx_jobs_finished",
    "Background jobs run, by job and outcome (a failed attempt may be retried).",
    ["job", "outcome"],
)

UNMATCHED_VIEW = "unmatched"  # a path no URL pattern matched (random paths are no label)
