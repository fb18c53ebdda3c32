"""The topic's Atom feed beside the daily posts, parsed as Atom (ElementTree in the Atom namespace) after real runs
of the daily job (recorded arXiv answers, real corpus PDFs, the scripted backend of tests/plugins/daily_job.py)."""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from chatpaper import daily
from chatpaper.feed import MAX_POSTS, build_feed
from tests.plugins.daily_job import IN_WINDOW, run

NS = {"a": "http://www.w3.org/2005/Atom"}


def parse(path):
    """The feed's root, checked against what RFC 4287 requires of a feed and of each entry."""
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    for element in [root, *root.findall("a:entry", NS)]:
        for required in ("id", "title", "updated"):
            assert element.find(f"a:{required}", NS) is not None, required
        dt.datetime.fromisoformat(element.find("a:updated", NS).text)  # RFC 3339, with its offset
        assert element.find("a:updated", NS).text.endswith(("+00:00", "Z"))
    assert root.find("a:author/a:name", NS).text
    return root


def links(entry, rel):
    return [link.get("href") for link in entry.findall("a:link", NS) if link.get("rel") == rel]


def test_each_run_updates_the_feed_newest_post_first(arxiv, backend, tmp_path):
    run(tmp_path, date="2025-01-20", days=10)  # 2025-01-11..2025-01-20: two papers
    feed = tmp_path / "NeRF.atom.xml"
    first = parse(feed)
    [entry] = first.findall("a:entry", NS)
    assert links(entry, "alternate") == ["2025-01-20/NeRF.md"]
    assert sorted(links(entry, "related")) == ["https://arxiv.org/abs/2501.09657v1", "https://arxiv.org/abs/2501.11550v1"]

    run(tmp_path)  # 2025-01-31: the one new paper goes into a second post, and the feed lists both
    root = parse(feed)
    entries = root.findall("a:entry", NS)
    assert [links(e, "alternate") for e in entries] == [["2025-01-31/NeRF.md"], ["2025-01-20/NeRF.md"]]
    assert links(entries[0], "related") == [f"https://arxiv.org/abs/{IN_WINDOW[0]}"]
    assert (tmp_path / entries[0].find("a:link[@rel='alternate']", NS).get("href")).is_file()
    titles = [a.text for a in entries[0].iterfind(".//{http://www.w3.org/1999/xhtml}a")]
    assert titles == ["AugmenTest: Enhancing Tests with LLM-Driven Oracles"]
    # ids stay the same across runs, so readers do not show an old post as new
    assert entries[1].find("a:id", NS).text == entry.find("a:id", NS).text
    assert root.find("a:link[@rel='self']", NS).get("href") == "NeRF.atom.xml"


def test_feed_lists_only_its_topic_and_at_most_the_newest_posts(tmp_path):
    posted = {f"2501.{n:05d}": {"version": 1, "post": f"2025-{1 + n // 28:02d}-{1 + n % 28:02d}/NeRF.md",
                                "title": f"Paper <{n}> & co", "posted_at": f"2025-03-01T00:00:{n % 60:02d}+00:00"}
              for n in range(MAX_POSTS + 5)}
    posted["2501.99999"] = {"version": 2, "post": "2025-01-05/Diffusion.md", "title": "Other", "posted_at": ""}
    data = build_feed(posted, topic="NeRF", file_stem="NeRF", author="me",
                      now=dt.datetime(2025, 3, 2, tzinfo=dt.timezone.utc))
    path = tmp_path / "NeRF.atom.xml"
    path.write_bytes(data)
    entries = parse(path).findall("a:entry", NS)
    assert len(entries) == MAX_POSTS
    days = [links(e, "alternate")[0].split("/")[0] for e in entries]
    assert days == sorted(days, reverse=True) and days[0] == "2025-01-25"
    assert "Diffusion" not in data.decode() and "Paper <24> & co" in [e.find("a:summary", NS).text for e in entries]


def test_empty_window_still_writes_a_valid_feed(arxiv, backend, tmp_path):
    run(tmp_path, date="2024-01-01", days=1)
    assert parse(tmp_path / "NeRF.atom.xml").findall("a:entry", NS) == []
    assert daily.write_feed(tmp_path, "NeRF").name == "NeRF.atom.xml"
