"""A query parameter the route takes once, given twice, is refused (422) instead of silently
read as its last value (schemathesis found ``/v1/versions?text=a&text=b`` answered 200)."""

from __future__ import annotations

from tests.api.conftest import OWNER, Api, assert_problem


def test_a_repeated_single_parameter_is_refused_and_a_list_parameter_is_not(api: Api) -> None:
    r = api.get("/v1/versions", params=[("text", "a"), ("text", "b")])
    assert_problem(r, 422, "/problems/invalid-input", "text")
    model_id = api.register(OWNER)["model_id"]
    r = api.get(f"/v1/models/{model_id}/timeline", params=[("limit", "1"), ("limit", "2")])
    assert_problem(r, 422, "/problems/invalid-input", "limit")
    kinds = [("kind", "model_registered"), ("kind", "vote_cast")]
    r = api.get(f"/v1/models/{model_id}/timeline", params=kinds)
    assert r.status_code == 200, r.text
    assert [e["kind"] for e in r.json()["entries"]] == ["model_registered"]
    assert api.get("/v1/versions", params={"text": "a"}).status_code == 200
