"""The [smtp] table and billing_portal_return_url: defaults, file, environment, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_tui.config import ConfigError, load_settings


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_leave_email_off(tmp_path: Path) -> None:
    settings = load_settings(environ={}, config_path=tmp_path / "absent.toml")
    assert settings.smtp_host == ""
    assert settings.smtp_port == 587
    assert settings.smtp_starttls is True
    assert settings.smtp_sender == settings.smtp_username == ""
    assert settings.billing_portal_return_url == ""


def test_smtp_table_is_read_into_flat_fields(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        'billing_portal_return_url = "https://example.com/account"\n'
        "[smtp]\n"
        'host = "smtp.example.com"\nport = 2525\nstarttls = false\n'
        'sender = "support@example.com"\nusername = "mailer"\n',
    )
    settings = load_settings(environ={}, config_path=path)
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == (
        "smtp.example.com",
        2525,
        False,
    )
    assert (settings.smtp_sender, settings.smtp_username) == ("support@example.com", "mailer")
    assert settings.billing_portal_return_url == "https://example.com/account"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = _config(tmp_path, '[smtp]\nhost = "file.example.com"\nsender = "a@example.com"\n')
    settings = load_settings(
        environ={
            "CRM_SMTP_HOST": "env.example.com",
            "CRM_SMTP_PORT": "465",
            "CRM_SMTP_STARTTLS": "no",
            "CRM_SMTP_SENDER": "b@example.com",
            "CRM_SMTP_USERNAME": "env-user",
            "CRM_BILLING_PORTAL_RETURN_URL": "https://example.com/back",
        },
        config_path=path,
    )
    assert settings.smtp_host == "env.example.com"
    assert settings.smtp_port == 465
    assert settings.smtp_starttls is False
    assert settings.smtp_sender == "b@example.com"
    assert settings.smtp_username == "env-user"
    assert settings.billing_portal_return_url == "https://example.com/back"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[smtp]\nhost = "h.example"\nsender = "s@example.com"\nport = 0\n', r"smtp\.port = 0"),
        ('[smtp]\nhost = "h.example"\nsender = "s@example.com"\nport = 70000\n', "1–65535"),
        ('[smtp]\nport = "many"\n', r"smtp\.port = 'many' is not a valid int"),
        ('[smtp]\nhost = "h.example"\n', r"smtp\.sender is not"),
        ('[smtp]\nsender = "not an address"\n', "is not a mail address"),
        ('[smtp]\nsender = "a@b.com\\r\\nBcc: x@y.com"\n', "is not a mail address"),
        ('[smtp]\nhostname = "h"\n', "unknown setting 'smtp.hostname'"),
        ('smtp = "h.example"\n', "must be a table"),
        ('billing_portal_return_url = "example.com"\n', "is not a web address"),
    ],
)
def test_bad_values_name_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as refused:
        load_settings(environ={}, config_path=path)
    assert str(refused.value).startswith(str(path))


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^CRM_SMTP_PORT: smtp\.port = 99999"):
        load_settings(environ={"CRM_SMTP_PORT": "99999"}, config_path=tmp_path / "absent")
    with pytest.raises(ConfigError, match=r"^CRM_SMTP_HOST: smtp\.host is set"):
        load_settings(environ={"CRM_SMTP_HOST": "h.example"}, config_path=tmp_path / "absent")


def test_a_password_in_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = _config(tmp_path, '[smtp]\npassword = "hunter2-secret"\n')
    with pytest.raises(ConfigError, match="crm-tui secrets set smtp") as refused:
        load_settings(environ={}, config_path=path)
    assert "hunter2-secret" not in str(refused.value)
    assert "CRM_SMTP_PASSWORD" in str(refused.value)
