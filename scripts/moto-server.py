"""moto_server, with each DynamoDB request handled atomically.

moto's server runs one thread per connection and its DynamoDB backend has no
lock, so two concurrent conditional writes to one item can both pass their
condition check (seen in the contract test of 8 concurrent approval
decisions: two winners, about once in a handful of loaded runs). Real
DynamoDB applies each request atomically; this wrapper gives moto the same
guarantee by serialising DynamoDB requests (X-Amz-Target: DynamoDB_…).
Other services are untouched, so SQS long polls don't hold anything up.

Usage: python scripts/moto-server.py [moto_server arguments]
"""

import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main

_DYNAMODB_LOCK = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__


def _call(self, environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        with _DYNAMODB_LOCK:
            # moto builds the whole response inside the call; materialise
            # the body under the lock all the same.
            return list(_dispatch(self, environ, start_response))
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _call

if __name__ == "__main__":
    main()
