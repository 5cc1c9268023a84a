"""``resolve_target``: the one resolution of a target, before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.engine.target import resolve_target
from conformance.errors import ConfigError


def test_a_live_target_reads_the_key_and_hides_every_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-live-key-123")
    plan = resolve_target(
        "openai", base_url="http://u:pass-word-9@127.0.0.1:9/v1?api-key=q-secret-7",
        api_key_env="MY_KEY",
    )  # fmt: skip
    assert plan.api_key == "sk-live-key-123" and plan.key_variable == "MY_KEY"
    assert {"sk-live-key-123", "pass-word-9", "q-secret-7"} <= set(plan.secrets)
    assert "sk-live-key-123" not in repr(plan)


def test_the_embedded_backend_sends_no_user_key_but_hides_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-sent-456")
    plan = resolve_target("openai")
    assert plan.api_key is None and plan.key_variable == "OPENAI_API_KEY"
    assert "sk-not-sent-456" in plan.secrets
    # bench's load generator reads the variable itself: there it is read (and checked)
    assert resolve_target("openai", key_in_every_mode=True).api_key == "sk-not-sent-456"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"base_url": "ftp://host/v1"}, "http(s) URL"),
        ({"base_url": "http://127.0.0.1:abc/v1"}, "is not a URL"),
        ({"model": "m\udcff"}, "--model"),
        ({"api_key_env": "NO_SUCH_VAR_FOR_TEST", "base_url": "http://h/v1"}, "is not set"),
        ({"api_key_env": "a b"}, "not an environment variable name"),
    ],
)
def test_bad_input_is_one_config_error(kwargs: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        resolve_target("openai", **kwargs)  # type: ignore[arg-type]


def test_unknown_provider_and_missing_replay_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown provider"):
        resolve_target("nosuch")
    with pytest.raises(ConfigError, match="is not a directory"):
        resolve_target("weai", replay=tmp_path / "absent")
