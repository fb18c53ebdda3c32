"""Settings: read from the environment with types, a bad value names its variable, keys kept out of repr, the
README's settings table current."""
from __future__ import annotations

import pytest

from chatpaper.errors import ChatPaperError
from chatpaper.settings import Settings, settings_table
from tests.conftest import ROOT


def test_settings_read_from_environment_with_types():
    env = {"CHATPAPER_BACKEND": "openai", "CHATPAPER_MAX_PAGES": "12", "CHATPAPER_MAX_PDF_MB": "1.5", "CHATPAPER_LANGUAGES": "zh, en"}
    s = Settings.from_env(env)
    assert (s.backend, s.max_pages, s.max_pdf_bytes) == ("openai", 12, int(1.5 * 1024 * 1024))
    assert s.language_list == ["zh", "en"]
    assert Settings.from_env(env, backend="local").backend == "local"


def test_bad_setting_names_the_variable():
    with pytest.raises(ChatPaperError, match="CHATPAPER_MAX_PAGES"):
        Settings.from_env({"CHATPAPER_MAX_PAGES": "many"})


def test_keys_never_appear_in_repr():
    s = Settings.from_env({"OPENAI_API_KEY": "sk-secret-123", "HF_TOKEN": "hf_secret_456"})
    assert "secret" not in repr(s)
    assert s.openai_api_key == "sk-secret-123"


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "README's settings table is out of date: paste chatpaper.settings.settings_table()"
