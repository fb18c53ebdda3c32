"""Cache: JSON and file entries, atomic writes, cross-process locks, clear()."""
from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from chatpaper.cache import Cache


def test_json_round_trip_survives_a_restart(tmp_path):
    Cache(tmp_path).put_json("record", "2401.16144v2", {"title": "Résumé 论文", "authors": ["A"]})
    assert Cache(tmp_path).get_json("record", "2401.16144v2") == {"title": "Résumé 论文", "authors": ["A"]}
    assert (tmp_path / "record" / "2401.16144v2.json").is_file()


def test_missing_and_unreadable_entries_are_none(tmp_path):
    cache = Cache(tmp_path)
    assert cache.get_json("record", "nope") is None
    cache.path_for("record", "broken", ".json").write_text('{"title": ')
    assert cache.get_json("record", "broken") is None
    assert cache.get_file("pdf", "nope", ".pdf") is None


def test_key_is_stable_and_order_sensitive():
    key = Cache.key("2401.16144v2", "openai", "gpt-4o-mini", ["en", "zh"], 3)
    assert key == Cache.key("2401.16144v2", "openai", "gpt-4o-mini", ["en", "zh"], 3)
    assert len(key) == 32 and all(c in "0123456789abcdef" for c in key)
    assert key != Cache.key("2401.16144v2", "openai", "gpt-4o-mini", ["zh", "en"], 3)
    assert key != Cache.key("2401.16144v2", "openai", "gpt-4o-mini", ["en", "zh"], 4)


def test_unsafe_keys_stay_inside_and_distinct(tmp_path):
    cache = Cache(tmp_path)
    old_style = cache.path_for("pdf", "hep-th/9901001v1", ".pdf")
    look_alike = cache.path_for("pdf", "hep-th_9901001v1", ".pdf")
    escape = cache.path_for("pdf", "../../etc/passwd", "")
    assert old_style != look_alike
    for path in (old_style, look_alike, escape):
        assert path.parent == tmp_path / "pdf"
    with pytest.raises(ValueError):
        cache.path_for("../x", "k")
    with pytest.raises(ValueError):
        cache.path_for("record", "")


def test_failed_write_leaves_nothing(tmp_path):
    cache = Cache(tmp_path)
    cache.put_bytes("pdf", "a", ".pdf", b"%PDF-old")
    with pytest.raises(RuntimeError):
        with cache.writer("pdf", "a", ".pdf") as f:
            f.write(b"%PDF-half")
            raise RuntimeError("network dropped")
    assert cache.get_file("pdf", "a", ".pdf").read_bytes() == b"%PDF-old"
    assert sorted(p.name for p in (tmp_path / "pdf").iterdir()) == ["a.pdf"]


def test_clear_counts_and_empties(tmp_path):
    cache = Cache(tmp_path / "cache")
    assert cache.clear() == 0  # no folder yet
    cache.put_json("record", "1111.2011v2", {"title": "x"})
    cache.put_json("latest", "1111.2011", {"version": 2})
    cache.put_bytes("pdf", "1111.2011v2", ".pdf", b"%PDF-1.4")
    cache.put_json("digest", Cache.key("p", "b"), {"en": "..."})
    with cache.lock("pdf", "1111.2011v2"):
        pass
    (cache.root / "models").mkdir()
    (cache.root / "models" / "model.gguf").write_bytes(b"GGUF")
    assert cache.clear() == 4
    assert [p.name for p in cache.root.iterdir()] == ["models"]  # the joined local model is kept
    assert cache.get_json("record", "1111.2011v2") is None
    assert cache.clear(keep=()) == 1 and list(cache.root.iterdir()) == []


def _hammer(root: str, payload_id: int, rounds: int) -> None:
    cache = Cache(root)
    payload = {"writer": payload_id, "data": [payload_id] * 20000}  # ~100 kB, so writes take a while
    for _ in range(rounds):
        cache.put_json("digest", "shared", payload)


def _count_under_lock(root: str, rounds: int) -> None:
    cache = Cache(root)
    for _ in range(rounds):
        with cache.lock("counter", "n"):
            value = cache.get_json("counter", "n") or 0
            time.sleep(0.001)  # widen the race a lock must close
            cache.put_json("counter", "n", value + 1)


def test_two_processes_writing_at_once_do_not_corrupt(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_hammer, args=(str(tmp_path), i, 60)) for i in (1, 2)]
    for w in writers:
        w.start()
    cache, reads = Cache(tmp_path), 0
    path = cache.path_for("digest", "shared", ".json")
    while any(w.is_alive() for w in writers):
        if path.exists():
            entry = json.loads(path.read_text())  # a torn write would fail to parse here
            assert entry["data"] == [entry["writer"]] * 20000
            reads += 1
    for w in writers:
        w.join()
        assert w.exitcode == 0
    assert reads > 0
    assert cache.get_json("digest", "shared")["writer"] in (1, 2)
    assert [p.name for p in path.parent.iterdir()] == ["shared.json"]  # no temporary files left behind


def test_lock_serialises_read_modify_write_across_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_count_under_lock, args=(str(tmp_path), 50)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
        assert w.exitcode == 0
    assert Cache(tmp_path).get_json("counter", "n") == 100


def test_cache_root_from_settings(monkeypatch, tmp_path):
    from chatpaper.settings import Settings

    monkeypatch.setenv("CHATPAPER_CACHE_DIR", str(tmp_path / "c"))
    assert Cache(Settings.from_env().cache_path).root == Path(tmp_path / "c")
