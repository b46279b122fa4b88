"""The one suggestion helper: ranking by similarity, and the strict typo test."""

from __future__ import annotations

import pytest

from wazo_reconcile.suggest import is_typo, suggest, suggestions


@pytest.mark.parametrize(
    ("word", "name"),
    [
        ("carier", "carrier"),  # a letter dropped
        ("carrrier", "carrier"),  # a letter added
        ("sipc0", "sipco"),  # a letter changed
        ("carreir", "carrier"),  # two neighbours swapped
        ("from-extrn", "from-extern"),
        ("Carrier", "carrier"),  # another case
        ("globl", "global"),
    ],
)
def test_typos(word: str, name: str) -> None:
    assert is_typo(word, name)


@pytest.mark.parametrize(
    ("word", "name"),
    [
        ("carrier", "carrier"),  # the name itself
        ("trunk-1", "trunk-2"),  # a series: digits
        ("acme", "acme2"),
        ("pbx-a", "pbx-b"),  # a series: a one-letter part
        ("ws", "wss"),  # too short to tell
        ("transport-udp", "transport-tcp"),  # two edits
        ("carrier", "courier"),
    ],
)
def test_not_typos(word: str, name: str) -> None:
    assert not is_typo(word, name)


def test_suggestions() -> None:
    names = ["carrier", "carrier-b", "global", "webrtc"]
    assert suggest("rtp_symetric", ["rtp_symmetric", "rtp_timeout"]) == "rtp_symmetric"
    assert suggest("zzz", names) is None
    assert suggestions("carier", names, n=3) == ["carrier", "carrier-b"]
    assert suggestions("carier", names, typos=True) == ["carrier"]
    assert suggestions("carrier", names, typos=True) == []
