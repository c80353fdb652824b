"""The hostile-client suite: what an attacker or a careless client tries, each refused with a clear 4xx that
leaves everything already stored as it was. Real uvicorn, PostgreSQL, Redis and worker processes where the
attack needs them (the production shape comes from the end-to-end fixtures)."""

from tests.e2e.conftest import make_stack, private_redis, stack
from tests.support.api_process import start_api

__all__ = ["make_stack", "private_redis", "stack", "start_api"]
