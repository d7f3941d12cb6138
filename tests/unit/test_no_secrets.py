"""No secret is committed: every tracked file is scanned for credentials and key material."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

# Shapes that are a secret wherever they appear, tests included.
KEY_MATERIAL = {
    "a private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "an AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "a Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "an API secret key": re.compile(r"\bsk_(?:live|test)_[A-Za-z0-9]{16,}|\bsk-[A-Za-z0-9_-]{32,}"),
    "a Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
}
# Credentials written into configuration; tests/ holds deliberately fake ones, so it is exempt.
URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/:@'\"`]+:([^\s@/'\"`]+)@")
ASSIGNED = re.compile(
    r"(?im)^\s*(?:export\s+)?[\w.-]*(?:password|passwd|secret|token|pii_key|api_key)[\w.-]*\s*[:=]\s*"
    r"['\"]?([^\s'\"#]*)"
)
CONFIG_SUFFIXES = {".env", ".example", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".conf", ".sh", ".json"}
# Placeholders and well-known local defaults, not secrets.
PLACEHOLDERS = {
    "",
    "***",
    "pw",
    "password",
    "change-me",
    "changeme",
    "xxx",
    "postgres",
    "airflow",
    "journeys",
    "admin",
    "null",
}
FORBIDDEN_FILES = re.compile(r"(^|/)(\.env|.*\.(pem|key|p12|pfx|jks|keystore))$")


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout
    return [ROOT / name for name in listed.split("\0") if name]


def _templated(value: str) -> bool:
    """A value filled in from elsewhere: ${VAR}, {{ env_var(...) }}, %(name)s, <your-password>."""
    return value.startswith(("$", "{", "<", "%")) or value in PLACEHOLDERS


def problems_in(path: Path, relative: str) -> list[str]:
    if FORBIDDEN_FILES.search(relative) and not relative.endswith(".env.example"):
        return [f"{relative}: a secrets file is tracked; keep it out of the repository (.gitignore)"]
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
        return []  # binary (images, fixtures) or deleted in the working tree
    found = [f"{relative}: {what}" for what, pattern in KEY_MATERIAL.items() if pattern.search(text)]
    if relative.startswith("tests/"):
        return found
    for match in URL_PASSWORD.finditer(text):
        if not _templated(match.group(1)):
            found.append(f"{relative}: a password inside a URL ({match.group(0)[:20]}...)")
    if path.suffix in CONFIG_SUFFIXES or path.name in {"Makefile", "Dockerfile"} or ".env" in path.name:
        for match in ASSIGNED.finditer(text):
            if not _templated(match.group(1)):
                found.append(
                    f"{relative}: a credential is assigned a value ({match.group(0).strip()[:40]}...)"
                )
    return found


def test_no_tracked_file_holds_a_secret() -> None:
    files = tracked_files()
    assert len(files) > 50, "git ls-files found the repository's files"
    problems = [problem for path in files for problem in problems_in(path, path.relative_to(ROOT).as_posix())]
    assert not problems, "secrets in tracked files (use environment variables):\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("config.yml", "password: " + "hunter2-real"),
        ("settings.toml", "url = 'postgresql://loader:" + "s3cr3t@db/journeys'"),
        ("notes.md", "AKIA" + "ABCDEFGHIJKLMNOP"),
        ("deploy.sh", "export JOURNEYS_PII_KEY=" + "my-real-key"),
        (".env", "JOURNEYS_PII_KEY="),
        ("tls/client.key", "anything"),
    ],
)
def test_the_scan_finds_planted_secrets(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content + "\n")
    assert problems_in(path, name)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("profiles.yml", "password: \"{{ env_var('DBT_ENV_SECRET_JOURNEYS_PG_PASSWORD', '') }}\""),
        (".env.example", "# JOURNEYS_KAFKA_SASL_PASSWORD=change-me"),
        ("compose.yml", "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-postgres}"),
        ("README.md", "JOURNEYS_WAREHOUSE_URL=postgresql://user:***@host/db"),
    ],
)
def test_placeholders_are_not_secrets(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content + "\n")
    assert problems_in(path, name) == []
