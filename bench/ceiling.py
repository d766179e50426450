"""The ceiling bench/ingest.py measures callsvc against: FastAPI reading a webhook's body and parsing it, no more.

Served the way `callsvc serve` serves (uvicorn, uvloop, httptools, no access log), one process:

    .venv/bin/python bench/ceiling.py 8100
"""

import json
import sys

import uvicorn
from fastapi import FastAPI, Request

from callsvc.app import NO_OPENTELEMETRY

# Configured as callsvc configures FastAPI: without its OpenTelemetry hooks.
app = FastAPI(telemetry=NO_OPENTELEMETRY)


@app.post("/webhooks/generic")
async def receive_webhook(request: Request) -> dict:
    """Parse the delivery and answer a small JSON, as a webhook route must at the least."""
    event = json.loads(await request.body())
    return {"status": "received", "type": event["type"]}


@app.get("/readyz")
async def ready() -> dict:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
    )
