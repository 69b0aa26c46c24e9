"""schemathesis over the service's own OpenAPI document, against the running test server.

Every operation gets its documented examples, the coverage phase (boundary and invalid values
of each parameter, undocumented methods) and up to 25 generated cases, valid and invalid. Each
response must not be a 5xx and must match the document: status code, content type, headers,
body schema; invalid requests must be refused with a 4xx.

The document is taken from ``create_app()`` at collection time, since the server starts only
in a session fixture (schemathesis' lazy ``from_fixture`` loader does not run under pytest 9.2,
which dropped ``Node._nodeid``); the first test checks that it is exactly the one the server
serves at /openapi.json.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import load_all_checks

from service.main import create_app
from tests.api.conftest import Api
from tests.stack import Stack

OPENAPI: dict[str, Any] = create_app().openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
load_all_checks()
# prediction batches come as .npy or safetensors files: bytes, sent as octet streams are
schemathesis.serializer.alias(
    ["application/x-npy", "application/x-safetensors"], "application/octet-stream"
)

# Valid by the document yet refused by the service, by design: what JSON Schema cannot say
# (an EIP-4361 message's grammar, an action's name, a CID's multibase, a block not mined yet)
# is checked by the service and answered 422. Everything else schemathesis checks stays on.
NOT_CHECKED = [schemathesis.checks.positive_data_acceptance]


def test_the_fuzzed_document_is_the_served_one(api: Api) -> None:
    assert api.ok("/openapi.json") == OPENAPI


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=timedelta(seconds=10),  # a hang guard, far above any request's time
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
def test_api_conforms(case: Any, stack: Stack) -> None:
    assert stack.url.startswith("http://127.0.0.1:")
    case.call_and_validate(base_url=stack.url, timeout=30, excluded_checks=NOT_CHECKED)
