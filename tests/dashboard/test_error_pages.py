"""Site-wide error pages: HTML for pages, JSON under /api."""

from __future__ import annotations

import pytest

from tests.support.factories import app_with


@pytest.fixture(scope="module")
def failing_app(app):
    with app_with(app, {"TESTING": False, "PROPAGATE_EXCEPTIONS": False}) as built:

        @built.get("/boom")
        def boom():
            raise RuntimeError("a bug")

        @built.get("/api/boom")
        def api_boom():
            raise RuntimeError("a bug")

        yield built


@pytest.mark.parametrize(
    ("path", "status", "kind", "expected"),
    [
        ("/no-such-page", 404, "text/html", "Not Found"),
        ("/api/no-such-endpoint", 404, "application/json", "not_found"),
        ("/boom", 500, "text/html", "Something went wrong on our side"),
        ("/api/boom", 500, "application/json", "internal_error"),
    ],
)
def test_errors_are_pages_for_people_and_json_for_the_api(
    failing_app, path, status, kind, expected
):
    answer = failing_app.test_client().get(path)
    assert answer.status_code == status
    assert answer.mimetype == kind
    assert expected in answer.get_data(as_text=True)
    assert "a bug" not in answer.get_data(as_text=True)  # no internals leak
    if kind == "application/json":
        assert set(answer.get_json()) == {"error", "message"}
