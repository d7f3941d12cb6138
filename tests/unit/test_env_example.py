"""`.env.example` documents exactly the variables the settings objects read."""

from __future__ import annotations

import re

from journeys_core.settings import ALL_SETTINGS
from tests.helpers import ROOT


def test_every_setting_is_documented_and_nothing_else() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?(JOURNEYS_[A-Z_]+)=", text, flags=re.MULTILINE))
    read = set()
    for cls in ALL_SETTINGS:
        prefix = cls.model_config["env_prefix"]
        read |= {f"{prefix}{name}".upper() for name in cls.model_fields}
    assert documented == read
