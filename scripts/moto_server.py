#!/usr/bin/env python3
"""moto's server with one request at a time: `moto_server.py HOST PORT`.

moto's own `moto_server` serves each request on its own thread without locking its backends, so
two concurrent conditional writes to one item can both succeed (measured: 10 concurrent
`UpdateItem ... ConditionExpression` on one key had more than one winner for 8 keys of 20). Real
DynamoDB applies a conditional write atomically, and this project's leases and token versions rely
on that. Serving requests one after another (connections still accepted concurrently) gives moto
DynamoDB's per-item atomicity; moto is one Python core either way.
"""
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    inner = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            # Consume the answer inside the lock: the backend's work is done by then.
            return list(inner(environ, start_response))

    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
