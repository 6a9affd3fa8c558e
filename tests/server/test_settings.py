"""The settings tree (server/config.py): every field has one flag and one `AULA_*` variable, its
doc is the `--help` text, the environment yields to the flag, a bad value is refused naming the
flag, the names from before the tree still work, and docs/operations.md shows the tree as it is."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from server import config
from server.config import COMMANDS, SECTIONS, Settings, SettingsInvalid, parse_serve_args, settings_from_args
from server.rate_limit import RateLimit
from server.settings import DOC_BEGIN, DOC_END
from server.settings_schema import default_text, options
from transcription.faster_whisper_engine import WhisperSettings

ROOT = Path(__file__).resolve().parents[2]
# The flags and variables of before the tree: a public contract (docs/operations.md, DESIGN.md).
CONTRACT = {
    "serve": [("--host", "AULA_HOST"), ("--port", "AULA_PORT"), ("--redis-url", "AULA_REDIS_URL"),
              ("--data-dir", "AULA_DATA_DIR"), ("--api-key", "AULA_API_KEY"), ("--secret", "AULA_SECRET"),
              ("--public-url", "AULA_PUBLIC_URL"), ("--ice-addresses", "AULA_ICE_ADDRESSES"),
              ("--ice-allowed-networks", "AULA_ICE_ALLOWED_NETWORKS"), ("--whisper-model", "AULA_WHISPER_MODEL"),
              ("--whisper-device", "AULA_WHISPER_DEVICE"), ("--whisper-compute-type", "AULA_WHISPER_COMPUTE_TYPE"),
              ("--whisper-language", "AULA_WHISPER_LANGUAGE"), ("--asr-workers", "AULA_ASR_WORKERS"),
              ("--asr-threads", "AULA_ASR_THREADS"), ("--whisper-max-tokens", "AULA_WHISPER_MAX_TOKENS"),
              ("--asr-remote", "AULA_ASR_REMOTE"), ("--recording-storage", "AULA_RECORDING_STORAGE"),
              ("--token-ttl", "AULA_TOKEN_TTL"), ("--end-grace", "AULA_END_GRACE"),
              ("--join-limit-address", "AULA_JOIN_LIMIT_ADDRESS"),
              ("--join-limit-identity", "AULA_JOIN_LIMIT_IDENTITY"), ("--message-limit", "AULA_MESSAGE_LIMIT"),
              ("--no-worker", "AULA_NO_WORKER"), ("--snapshot-interval", "AULA_SNAPSHOT_INTERVAL")],
    "worker": [("--redis-url", "AULA_REDIS_URL"), ("--data-dir", "AULA_DATA_DIR"),
               ("--config", "AULA_WORKFLOW_CONFIG"), ("--summary-model", "AULA_SUMMARY_MODEL"),
               ("--no-summaries", None), ("--name", None), ("--claim-idle", None)],
    "asr-worker": [("--redis-url", "AULA_REDIS_URL"), ("--whisper-model", "AULA_WHISPER_MODEL"),
                   ("--claim-idle", None), ("--asr-workers", "AULA_ASR_WORKERS")],
    "transcribe": [("--data-dir", "AULA_DATA_DIR"), ("--whisper-model", "AULA_WHISPER_MODEL")],
    "export": [("--data-dir", "AULA_DATA_DIR")],
}


def all_options():
    return [(name, item, option) for name, section in SECTIONS.items() for item, option in options(section)]


def help_of(command: str) -> str:
    """`aula COMMAND --help`, white space removed (argparse wraps lines, also after hyphens)."""
    result = subprocess.run([sys.executable, "-m", "server", command, "--help"], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "COLUMNS": "100"}, check=True)
    return squeezed(result.stdout)


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def parse(command: str, argv: list[str], env: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    config.add_command_arguments(parser, command)
    return settings_from_args(parser.parse_args(argv), command, env or {})


def test_every_field_has_a_flag_a_variable_and_a_doc_each_its_own():
    found = all_options()
    assert found and all(option.doc and option.flag.startswith("--") and option.env.startswith("AULA_")
                         for _, _, option in found)
    flags = [option.flag for _, _, option in found]
    envs = [option.env for _, _, option in found]
    names = [item.name for _, item, _ in found]
    assert len(set(flags)) == len(flags) and len(set(envs)) == len(envs) and len(set(names)) == len(names)
    # Every field of every section is a setting: none is left without a flag.
    for section in SECTIONS.values():
        assert [item.name for item in dataclasses.fields(section)] == [item.name for item, _ in options(section)]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_lists_each_setting_of_the_command_with_its_doc_default_and_variable(command):
    text = help_of(command)
    for name in COMMANDS[command]:
        section = SECTIONS[name]
        assert squeezed(section.__doc__.strip().splitlines()[0].rstrip(".") + ":") in text  # its group
        for item, option in options(section):
            assert option.flag in text
            assert squeezed(option.doc) in text, option.flag
            assert squeezed(f"(default: {default_text(item, option)}; env {option.env})") in text, option.flag


@pytest.mark.parametrize("command", sorted(CONTRACT))
def test_the_flags_and_variables_of_before_are_all_still_there(command):
    text = help_of(command)
    for flag, env in CONTRACT[command]:
        assert re.search(rf"{re.escape(flag)}(?![a-z-])", text), flag
        if env:
            assert env in text, env


def test_the_environment_yields_to_the_flag(monkeypatch):
    monkeypatch.setenv("AULA_PORT", "9123")
    monkeypatch.setenv("AULA_HOST", "0.0.0.0")
    monkeypatch.setenv("AULA_JOIN_LIMIT_ADDRESS", "5/50")
    monkeypatch.setenv("AULA_NO_WORKER", "1")
    monkeypatch.setenv("AULA_WHISPER_FALLBACK_TEMPERATURES", "")  # empty: unset
    from_env = parse_serve_args([])
    assert from_env.port == 9123 and from_env.host == "0.0.0.0"
    assert from_env.join_limit_address == RateLimit(5, 50) and from_env.embedded_worker is False
    assert from_env.whisper_fallback_temperatures == (0.2, 0.4, 0.6)
    from_flags = parse_serve_args(["--port", "9000", "--join-limit-address", "1/2"])
    assert from_flags.port == 9000 and from_flags.host == "0.0.0.0"  # the flag wins; the rest from the env
    assert from_flags.join_limit_address == RateLimit(1, 2)


def test_without_either_the_command_lines_defaults_apply():
    settings = parse("serve", [])
    assert settings.port == 8080 and settings.data_dir == Path("data") and settings.redis_url is None
    assert settings.embedded_worker is True  # `aula serve` runs its worker
    assert Settings().embedded_worker is False  # an app built in code does not
    assert settings.whisper is None and not settings.transcribing
    assert parse("serve", ["--no-worker"]).embedded_worker is False


def test_the_whisper_flags_make_the_engine_settings():
    settings = parse("serve", ["--whisper-model", "/models/base.en", "--asr-workers", "3",
                               "--whisper-fallback-temperatures", ""],
                     {"AULA_WHISPER_LANGUAGE": "es", "AULA_STT": "faster-whisper"})
    assert settings.whisper == WhisperSettings("/models/base.en", workers=3, language="es",
                                               fallback_temperatures=())
    assert settings.whisper_language == "es" and settings.transcribing
    remote = parse("serve", ["--whisper-model", "/models/base.en", "--asr-remote"])
    assert remote.whisper is None and remote.transcribing  # the model is the asr workers' business


def test_the_worker_settings():
    settings = parse("worker", ["--redis-url", "redis://r", "--summary-model", "m", "--notifiers", "webhook"],
                     {"AULA_WORKFLOW_CONFIG": "rules.toml", "AULA_NO_SUMMARIES": "yes"})
    assert settings.workflow_config == Path("rules.toml") and settings.summary_model == Path("m")
    assert settings.notifiers == ("webhook",) and settings.workflows.summaries is False
    assert settings.summariser is None and settings.worker_name is None and settings.claim_idle_s == 30.0


@pytest.mark.parametrize("argv, env, message", [
    (["--port", "eighty"], {}, "argument --port: 'eighty': not a whole number"),
    (["--port", "70000"], {}, "--port: 70000 is not from 0 to 65535"),
    ([], {"AULA_PORT": "eighty"}, "AULA_PORT='eighty' (--port): not a whole number"),
    ([], {"AULA_END_GRACE": "-5"}, "AULA_END_GRACE='-5' (--end-grace): -5 is less than 0"),
    (["--message-limit", "fast"], {}, "argument --message-limit: 'fast': not PER_S/BURST"),
    (["--whisper-device", "tpu"], {}, "argument --whisper-device: 'tpu': not one of cpu, cuda, auto"),
    (["--stt", "wav2vec-cloud"], {}, "--stt: unknown speech engine wav2vec-cloud: known ones are faster-whisper"),
    ([], {"AULA_ASR_REMOTE": "maybe"}, "AULA_ASR_REMOTE='maybe' (--asr-remote): not a yes/no value"),
    (["--asr-workers", "0"], {}, "--asr-workers: 0 is less than 1"),
])
def test_a_bad_value_is_refused_naming_the_flag(monkeypatch, capsys, argv, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        parse_serve_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_cli_refuses_a_bad_plugin_name_listing_the_known_ones():
    result = subprocess.run([sys.executable, "-m", "server", "worker", "--redis-url", "redis://127.0.0.1:1",
                             "--notifiers", "smtp,pager", "--summariser", "extractive"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "--notifiers: unknown notifier pager: known ones are smtp, webhook" in result.stderr
    with pytest.raises(SettingsInvalid, match="--summariser: unknown summariser gpt"):
        parse("worker", ["--summariser", "gpt"])
    with pytest.raises(SettingsInvalid, match="--summariser abstractive needs --summary-model"):
        parse("worker", ["--summariser", "abstractive"])


def test_settings_built_in_code_by_the_names_of_before():
    whisper = WhisperSettings("/models/tiny.en", max_tokens=8, fallback_temperatures=())
    settings = Settings(host="127.0.0.1", port=0, data_dir=Path("d"), reconnect_grace_s=2.0,
                        message_limit=RateLimit(100, 100), whisper=whisper)
    assert settings.server.port == 0 and settings.port == 0 and settings.classes.reconnect_grace_s == 2.0
    assert settings.whisper == whisper and settings.transcription.whisper_max_tokens == 8
    assert Settings.reconnect_grace_s == 15.0 and Settings.port == 8080  # the defaults, on the class
    filled = settings.with_generated_secrets()
    assert filled.api_key and filled.secret and filled.port == 0 and filled.whisper == whisper
    assert dataclasses.replace(settings, port=5).port == 5
    with pytest.raises(TypeError, match="unexpected keyword argument 'prot'"):
        Settings(prot=1)
    with pytest.raises(SettingsInvalid, match="--token-ttl: 0 is not more than 0"):
        Settings(token_ttl_s=0)


def test_the_docs_show_the_settings_as_they_are():
    """docs/operations.md holds `aula settings --markdown` between its markers: regenerate it with
    `python -m server.settings --markdown` when a setting changes."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert DOC_BEGIN in text and DOC_END in text
    shown = text.split(DOC_BEGIN, 1)[1].split(DOC_END, 1)[0]
    assert shown.strip() == config.markdown().strip()
    for _, _, option in all_options():
        assert f"`{option.env}`" in shown


def test_aula_settings_prints_every_flag_and_variable():
    result = subprocess.run([sys.executable, "-m", "server", "settings"], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    for _, _, option in all_options():
        assert option.flag in result.stdout and option.env in result.stdout
