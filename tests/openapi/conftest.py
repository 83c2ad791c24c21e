"""Fixtures of the OpenAPI tests.

schemathesis 4.32.5's `pytest.from_fixture` reads `request.node._nodeid`, a private
attribute pytest 9.2 no longer has (it keeps the id in `nodeid`). Each collected test of
this folder gets the attribute back, so the lazy schema can name its sub-tests.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/openapi/" in item.nodeid and not hasattr(item, "_nodeid"):
            item._nodeid = item.nodeid
