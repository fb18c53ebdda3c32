"""The digest's data: a Digest round-trips through its dict form (the cache's), old fields ignored."""
from __future__ import annotations

from chatpaper.digest import Digest


def test_digest_round_trips_through_a_dict():
    d = Digest(language="zh", summary="总结", takeaways=["一"], flagged_numbers=["9.9%"], calls=3)
    assert Digest.from_dict({**d.to_dict(), "unknown_old_field": 1}) == d
