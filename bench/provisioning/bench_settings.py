"""The project's settings, routing ``/prov/`` only (same middleware, same database setup), so the
benchmark does not depend on the state of the other apps' URLs."""

import os

from cloudpbx.settings import *  # noqa: F403

ROOT_URLCONF = "cloudpbx.provisioning.tests.urls"

# ``run.py --persistent`` keeps SQLite connections open across requests (the project setting
# opens and closes one per request, which costs more than the whole provisioning logic).
if os.environ.get("BENCH_PERSISTENT_CONNECTIONS") == "1":
    DATABASES["default"]["CONN_MAX_AGE"] = 600  # noqa: F405

# ``BENCH_WITHOUT_OBSERVABILITY=1``: without the request id and metrics middleware, to measure
# what they cost (bench/README.md, "Provisioning with metrics and request ids").
if os.environ.get("BENCH_WITHOUT_OBSERVABILITY") == "1":
    MIDDLEWARE = [
        entry
        for entry in MIDDLEWARE  # noqa: F405
        if entry
        not in ("cloudpbx.middleware.RequestIdMiddleware", "cloudpbx.middleware.MetricsMiddleware")
    ]
