"""The OpenAPI document drives a property-based fuzzer (schemathesis) against a live `yunguan serve`.

The server is a subprocess on the test database and broker, as an integrator would meet it. Every documented
operation gets a bounded, seeded number of generated requests (valid and invalid: schemathesis mixes both),
once as an operator and once as a department user. Each answer must not be a 5xx, must have a documented
status code and content type, and must match the documented schema (headers included). The number of cases
is asserted per caller and printed at the end of the module. Besides: the document is valid OpenAPI 3.1, covers every
/api/v1 rule of the Flask URL map, and /api/docs renders it for anyone.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from streams.topics import Topics, create_topics
from tests.helpers import free_port, wait_for, worker_env

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("YUNGUAN_FUZZ_EXAMPLES", "12"))  # per operation and caller: ~30 operations × 2 callers in about a minute on the loaded CI box
MIN_CASES = 200  # per caller; fewer means operations stopped being generated (a broken document or filter)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
CASES: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()
SECONDS: Counter[str] = Counter()
FUZZ = hsettings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=False,
                 phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def live(base_settings, broker, tmp_path_factory):
    """`yunguan serve` in a subprocess with topics of its own and two accounts; (base URL, tokens)."""
    from sqlalchemy import text

    from store.db import make_engine
    from store.users import add_user

    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings = base_settings.replace(topic_prefix=prefix, worker_group=f"{prefix}worker")
    create_topics(broker, Topics(prefix), settings.topic_partitions)
    engine = make_engine(settings.database_url)
    tag = uuid.uuid4().hex[:6]
    names = {"operator": f"fz-op-{tag}", "department": f"fz-dept-{tag}"}
    with engine.begin() as conn:
        unit = "220102-SANITATION"  # a district department of the demo data
        add_user(conn, names["operator"], "secret-pass-1", "operator")
        add_user(conn, names["department"], "secret-pass-1", "department", unit=unit)
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"  # a file, not a pipe: a full pipe would stall the server
    log_file = log.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "yunguan.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=worker_env(settings), stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def up():
            assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
            try:
                return requests.get(f"{base}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(up, 60, what="yunguan serve to answer /healthz")
        tokens = {}
        for who, name in names.items():
            r = requests.post(f"{base}/api/v1/auth/token", json={"username": name, "password": "secret-pass-1"}, timeout=10)
            assert r.status_code == 200, r.text
            tokens[who] = r.json()["token"]
        started = time.monotonic()
        yield base, tokens
        print(f"\nopenapi fuzz: {sum(CASES.values())} cases ({dict(CASES)}), {time.monotonic() - started:.1f} s; "
              f"statuses {dict(sorted(STATUSES.items()))}; slowest operations (s): "
              + ", ".join(f"{k} {v:.1f}" for k, v in SECONDS.most_common(5)))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log_file.close()
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM users WHERE username = ANY(:n)"), {"n": list(names.values())})
        engine.dispose()


@pytest.fixture(scope="module")
def api_schema(live):
    base, _ = live
    return schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")


# Logging out revokes every token of the caller's account: the fuzzer would log itself out. It is called once,
# at the end, and its answer validated against the document like the others.
# /readyz takes no input and answers 503 by design here (no intake worker runs): checked once below, without
# the no-5xx check.
NOT_FUZZED = {("POST", "/api/v1/auth/logout"), ("GET", "/readyz")}


def _fuzz(api_schema, live, who: str) -> None:
    """Every documented operation: EXAMPLES seeded cases, valid and invalid mixed; failures are collected so
    that one run names every faulty operation (the first falsifying case of each)."""
    base, tokens = live
    headers = {"Authorization": f"Bearer {tokens[who]}"}
    failures: dict[str, str] = {}
    operations = [r.ok() for r in api_schema.get_all_operations()]
    assert len(operations) >= 25, len(operations)
    for operation in operations:
        if (operation.method.upper(), operation.path) in NOT_FUZZED:
            continue
        strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                             operation.as_strategy(GenerationMode.NEGATIVE))

        @given(case=strategy)
        @FUZZ
        def run(case):
            sent = time.monotonic()
            response = case.call(base_url=base, headers=headers, timeout=30)
            if time.monotonic() - sent > 3:
                print("SLOW", round(time.monotonic() - sent, 1), response.status_code,
                      case.as_curl_command(headers=headers)[:600])
            CASES[who] += 1
            STATUSES[response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        started = time.monotonic()
        try:
            run()
        except (Exception, FailureGroup) as exc:  # noqa: BLE001 - reported below with its operation
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:3000]
        SECONDS[f"{operation.method.upper()} {operation.path}"] += time.monotonic() - started
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert CASES[who] >= MIN_CASES, f"only {CASES[who]} cases ran as {who}"


def test_fuzz_as_operator(api_schema, live):
    _fuzz(api_schema, live, "operator")


def test_fuzz_as_department(api_schema, live):
    _fuzz(api_schema, live, "department")


def test_the_checks_catch_an_answer_that_differs_from_the_document(live):
    """A control: with the document altered to promise an object, the real list answer of /categories and an
    undocumented status code both fail the same checks the fuzzer uses."""
    import copy

    base, tokens = live
    doc = requests.get(f"{base}/api/v1/openapi.json", timeout=10).json()
    altered = copy.deepcopy(doc)
    answer = altered["paths"]["/api/v1/categories"]["get"]["responses"]["200"]
    answer["content"]["application/json"]["schema"] = {"type": "object"}
    del altered["paths"]["/api/v1/route"]["get"]["responses"]["400"]
    schema = schemathesis.openapi.from_dict(altered)
    case = schema["/api/v1/categories"]["GET"].Case()
    response = case.call(base_url=base, timeout=10)
    assert response.status_code == 200 and isinstance(response.json(), list)
    assert "violates schema" in _failure(case, response)
    case = schema["/api/v1/route"]["GET"].Case(query={"lon": "x", "lat": "43.7"})
    response = case.call(base_url=base, headers={"Authorization": f"Bearer {tokens['operator']}"}, timeout=10)
    assert response.status_code == 400
    assert "Received: 400\nDocumented: 200, 401, 403, 422, 503" in re.sub(r"\n\s*\| ?", "\n", _failure(case, response))


def _failure(case, response) -> str:
    """The text of the checks' failure (schemathesis raises a group of them); fails if they all pass."""
    import traceback

    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as exc:  # a BaseExceptionGroup: `except Exception` would not catch it
        return "".join(traceback.format_exception(exc))
    raise AssertionError("the checks passed an answer the altered document does not allow")


def test_document_is_openapi_31_and_covers_every_rule(live):
    from openapi_spec_validator import validate

    from web.openapi import undocumented_rules

    base, _ = live
    doc = requests.get(f"{base}/api/v1/openapi.json", timeout=10).json()
    validate(doc)  # OpenAPI 3.1 (the validator picks the version from `openapi`)
    assert doc["openapi"].startswith("3.1")
    app = _url_map_app()
    assert undocumented_rules(app) == [], "every /api/v1 rule needs @documented"
    api_rules = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1")}
    documented = {p.replace("{", "<").replace("}", ">") for p in doc["paths"] if p.startswith("/api/v1")}
    assert documented == api_rules and len(api_rules) >= 30
    assert {"/healthz", "/readyz"} <= set(doc["paths"])
    # the error body is one schema, referenced by every error answer
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            assert op["responses"], (path, method)
            for status, answer in op["responses"].items():
                if int(status) >= 400 and path != "/readyz":  # /readyz's 503 is its checks, not an error
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            if op.get("x-roles"):
                assert op["security"] == [{"bearer": []}], (path, method)
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    media = doc["paths"]["/api/v1/media"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in media
    xlsx = doc["paths"]["/api/v1/evaluation.xlsx"]["get"]["responses"]["200"]["content"]
    assert "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" in xlsx
    assert "text/csv" in doc["paths"]["/api/v1/evaluation.csv"]["get"]["responses"]["200"]["content"]


def _url_map_app():
    """The Flask app's URL map without services: the blueprints as web.app registers them."""
    from flask import Flask

    from web import api, api_docs, health

    app = Flask("url-map")
    app.register_blueprint(api.bp)
    app.register_blueprint(api_docs.docs_bp)
    app.register_blueprint(health.bp)
    return app


def test_readiness_answers_as_documented(live, api_schema):
    base, _ = live
    case = api_schema["/readyz"]["GET"].Case()
    response = case.call(base_url=base, timeout=10)
    assert response.status_code == 503 and "intake" in response.json()["checks"]  # no worker in this test
    case.validate_response(response, checks=[c for c in CHECKS if c is not not_a_server_error])


def test_docs_page_is_open_and_lists_every_operation(live):
    base, _ = live
    doc = requests.get(f"{base}/api/v1/openapi.json", timeout=10).json()
    page = requests.get(f"{base}/api/docs", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for path, methods in doc["paths"].items():
        for op in methods.values():
            assert f'id="{op["operationId"]}"' in page.text, op["operationId"]
            assert f"<code>{path}</code>" in page.text
    assert "curl -s -X POST" in page.text and "Authorization: Bearer $TOKEN" in page.text
    assert "https://" not in page.text.split("<body", 1)[0]  # nothing from a CDN in the head
    css = requests.get(f"{base}/static/api-docs.css", timeout=10)
    assert css.status_code == 200


def test_logout_answers_as_documented_and_cases_ran(live, api_schema):
    """Last in the module (it ends the department's tokens): logging out answers as documented, twice."""
    base, tokens = live
    operation = api_schema["/api/v1/auth/logout"]["POST"]
    case = operation.Case()
    response = case.call(base_url=base, headers={"Authorization": f"Bearer {tokens['department']}"}, timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "revoked"}
    case.validate_response(response, checks=CHECKS)
    again = case.call(base_url=base, headers={"Authorization": f"Bearer {tokens['department']}"}, timeout=10)
    assert again.status_code == 401
    case.validate_response(again, checks=CHECKS)
