"""Shared fixtures. Tests talk only to servers on 127.0.0.1; any other address fails loudly."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

pytest_plugins = ["tests.fixtures_chatwoot", "tests.fixtures_postgres"]

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback_only(address: object) -> None:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        try:
            if ipaddress.ip_address(host.split("%")[0]).is_loopback:
                return
        except ValueError:
            if host == "localhost":
                return
        raise RuntimeError(f"test tried to reach {host}: only loopback is allowed")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _loopback_only(address)
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _loopback_only(address)
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the developer's shell; proxies never apply to loopback."""
    from chatwoot_health.config import CONFIG_FILE_ENV, SETTINGS

    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)
    for name in (
        CONFIG_FILE_ENV,
        "NO_COLOR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "GITHUB_ACTIONS",  # a CI run of the suite must not annotate every report test
        "GITHUB_STEP_SUMMARY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def runner() -> CliRunner:
    """The one runner of CLI tests: an exception is a traceback in the test, never a quiet exit
    code 1 (the CLI's own last resort turns real errors into one line and exit 3)."""
    return CliRunner(catch_exceptions=False)


@pytest.fixture
def tmp_cwd(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> os.PathLike[str]:
    monkeypatch.chdir(tmp_path)
    return tmp_path
