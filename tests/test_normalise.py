from __future__ import annotations

import pytest

from wazo_reconcile.live import LiveState, find_user, index_live
from wazo_reconcile.shapes import User

USERS: list[User] = [
    {"uuid": "u-1", "email": "Alice@Example.com", "username": "alice"},
    {"uuid": "u-2", "email": "bob@example.com", "username": "alice@example.com"},
    {"uuid": "u-3", "email": None, "username": "carol"},
    {"uuid": "u-4", "email": "dave@example.com", "username": None},
    {"uuid": "u-5", "email": "alice@example.com", "username": "u-1"},  # never first
]


@pytest.mark.parametrize(
    "ref",
    ["u-1", "u-3", "alice@example.com", "ALICE@example.COM", "alice", "carol", "dave@example.com",
     "Alice", "bob", "u-9", "", "u-5"],
)  # fmt: skip
def test_index_find_user_is_find_user(ref: str) -> None:
    index = index_live(LiveState(token_tenant="t", tenants={}, users=tuple(USERS)))
    assert index.find_user(ref) is find_user(USERS, ref)
