"""Checks of tests/schema_fuzz.rs, loaded by schemathesis through SCHEMATHESIS_HOOKS.

- no_server_error: exact about the 5xx answers the contract prescribes. Any 5xx
  fails, except 503 `projection_lagging` with `Retry-After` answering a query
  that sent `X-Min-Position` above 0 (a position the projections have not
  applied; generated positions are mostly in the future; API.md, Conventions),
  and a 503 `dependency_unavailable` that a retry after its `Retry-After` does
  not repeat. Every 5xx must be problem+json.
- refused_without_token: for the pass without a token. An operation whose
  OpenAPI description requires the bearer scheme must answer 401
  `unauthenticated`, whatever the rest of the request; an operation without a
  security requirement (sign-up, log-in) must not answer 401 `unauthenticated`.
  Made-up bearer tokens (schemathesis generates some) count as no token.
"""

import json
import os
import time

import requests

import schemathesis


def _header(response, name):
    for key, values in response.headers.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def _sent(response, name):
    for key, value in response.request.headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _problem(response):
    try:
        return json.loads(response.content or b"null")
    except ValueError:
        return None


def _describe(response):
    text = (response.content or b"")[:400].decode("utf-8", "replace")
    return f"{response.status_code} {text}"


def _retried(response):
    """The same request sent again after its Retry-After, as a client should
    after a 503 `dependency_unavailable`: (status, problem, text)."""
    delay = _header(response, "Retry-After") or "1"
    time.sleep(min(int(delay) if delay.isdigit() else 1, 5))
    with requests.Session() as session:
        again = session.send(response.request.copy(), timeout=15)
    try:
        problem = again.json()
    except ValueError:
        problem = None
    return again.status_code, problem, f"{again.status_code} {again.text[:400]}"


@schemathesis.check
def no_server_error(ctx, response, case):
    status = response.status_code
    if status < 500:
        return None
    problem = _problem(response)
    # A store that is too slow under load (a CI machine running every test
    # at once) answers a documented 503 `dependency_unavailable` with
    # Retry-After. A client retries after it; so does this check, once, and
    # the retry must not be a 5xx of that kind again: a persistent 503 is a
    # finding, a passing one is not.
    if (
        status == 503
        and isinstance(problem, dict)
        and problem.get("code") == "dependency_unavailable"
        and _header(response, "Retry-After") is not None
    ):
        status, problem, text = _retried(response)
        if status < 500:
            return None
        if not (isinstance(problem, dict) and problem.get("code") == "projection_lagging"):
            raise AssertionError(f"server error, again after Retry-After: {text}")
    if not isinstance(problem, dict) or not isinstance(problem.get("code"), str):
        raise AssertionError(f"5xx without a problem+json code: {_describe(response)}")
    position = _sent(response, "X-Min-Position")
    lagging = (
        status == 503
        and problem["code"] == "projection_lagging"
        and _header(response, "Retry-After") is not None
        and position is not None
        and position.strip().isdigit()
        and int(position) > 0
    )
    if not lagging:
        raise AssertionError(f"server error: {_describe(response)}")
    return None


@schemathesis.check
def refused_without_token(ctx, response, case):
    # schemathesis makes up bearer tokens of its own from the security
    # scheme; none can be valid (tokens are signed), but the real one must
    # never reach this pass.
    real = os.environ.get("COTALK_FUZZ_TOKEN")
    sent = _sent(response, "Authorization") or ""
    if real and real in sent:
        raise AssertionError("the pass without a token sent the real token")
    # The coverage phase also probes methods the path does not have (405).
    if response.request.method.upper() != case.operation.method.upper():
        return None
    problem = _problem(response)
    code = problem.get("code") if isinstance(problem, dict) else None
    protected = bool(case.operation.definition.raw.get("security"))
    if protected and (response.status_code != 401 or code != "unauthenticated"):
        raise AssertionError(
            f"a protected operation answered without a token: {_describe(response)}"
        )
    if not protected and code == "unauthenticated":
        raise AssertionError(f"a public operation asked for a token: {_describe(response)}")
    return None
