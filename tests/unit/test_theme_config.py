"""The themes' status colours (same variables everywhere, readable contrast) and
`save_theme`, which remembers the agent's theme in config.toml and nothing else."""

from __future__ import annotations

import os
import stat
from itertools import combinations
from pathlib import Path

import pytest
from textual.color import Color
from textual.theme import BUILTIN_THEMES, Theme

from crm_tui.config import ConfigError, Settings, load_settings, save_theme
from crm_tui.themes import DEFAULT_THEME, STATUS_NAMES, THEMES, status_fallbacks
from crm_tui.themes.palettes import CRM_ANSI, CRM_DARK, CRM_HIGH_CONTRAST, CRM_LIGHT

STATUS_VARIABLES = {f"status-{name}" for name in STATUS_NAMES}

# ---------------------------------------------------------------------- themes


def _luminance(colour: Color) -> float:
    """WCAG 2 relative luminance."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(colour.r) + 0.7152 * linear(colour.g) + 0.0722 * linear(colour.b)


def contrast(one: str, other: str) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    a, b = sorted((_luminance(Color.parse(one)), _luminance(Color.parse(other))), reverse=True)
    return (a + 0.05) / (b + 0.05)


def _backgrounds(theme: Theme) -> list[str]:
    """What statuses are drawn on: the screen's background and the surface."""
    colours = theme.to_color_system().generate()
    return [colours["background"], colours["surface"]]


def test_the_default_theme_is_crm_dark() -> None:
    assert DEFAULT_THEME == "crm-dark"
    assert Settings().theme == DEFAULT_THEME
    assert load_settings(environ={}, config_path=Path("/nonexistent/config.toml")).theme == (
        DEFAULT_THEME
    )


def test_four_themes_dark_light_high_contrast_and_ansi() -> None:
    assert [t.name for t in THEMES] == ["crm-dark", "crm-light", "crm-high-contrast", "crm-ansi"]
    assert CRM_DARK.dark and not CRM_LIGHT.dark
    assert CRM_ANSI.ansi and not any(t.ansi for t in (CRM_DARK, CRM_LIGHT, CRM_HIGH_CONTRAST))


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
def test_every_theme_defines_every_status_colour(theme: Theme) -> None:
    defined = {key for key in theme.variables if key.startswith("status-")}
    assert defined == STATUS_VARIABLES
    for key in STATUS_VARIABLES:
        Color.parse(theme.variables[key])  # a plain colour: Rich renderables need one too


@pytest.mark.parametrize(
    ("theme", "least"),
    [(CRM_DARK, 4.5), (CRM_LIGHT, 4.5), (CRM_HIGH_CONTRAST, 7.0)],
    ids=["crm-dark AA", "crm-light AA", "crm-high-contrast AAA"],
)
def test_status_colours_meet_wcag_contrast(theme: Theme, least: float) -> None:
    for background in _backgrounds(theme):
        for key in sorted(STATUS_VARIABLES):
            ratio = contrast(theme.variables[key], background)
            assert ratio >= least, f"{theme.name} {key} on {background}: {ratio:.2f}"


def test_high_contrast_is_black_and_white_with_distinct_statuses() -> None:
    colours = CRM_HIGH_CONTRAST.to_color_system().generate()
    assert (colours["background"], colours["foreground"]) == ("#000000", "#FFFFFF")
    assert contrast(colours["foreground"], colours["background"]) == 21
    main = ["active", "trial", "past-due", "cancelled", "refunded"]
    for one, other in combinations(main, 2):
        a = CRM_HIGH_CONTRAST.variables[f"status-{one}"]
        b = CRM_HIGH_CONTRAST.variables[f"status-{other}"]
        assert a != b, (one, other)


def test_the_ansi_theme_uses_only_the_terminals_own_colours() -> None:
    assert CRM_ANSI.variables.items() >= BUILTIN_THEMES["ansi-dark"].variables.items()
    for key in STATUS_VARIABLES:
        assert CRM_ANSI.variables[key].startswith("ansi_"), key


@pytest.mark.parametrize("name", sorted(BUILTIN_THEMES))
def test_textual_themes_get_every_status_colour(name: str) -> None:
    fallbacks = status_fallbacks(BUILTIN_THEMES[name])
    assert set(fallbacks) == STATUS_VARIABLES
    for value in fallbacks.values():
        Color.parse(value)


# ------------------------------------------------------------------ save_theme

CONFIG = (
    "# ~/.config/crm-tui/config.toml\r\n"
    'database_url = "postgresql+psycopg://me@db/crm"   # the team\'s\r\n'
    "theme = 'crm-dark'   # set by hand\r\n"
    "\r\n"
    "[keymap]\r\n"
    '"directory.filters" = "ctrl+l"\r\n'
)


def test_the_value_is_replaced_in_place_and_the_rest_kept_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(CONFIG.encode())
    save_theme(path, "crm-light")
    expected = CONFIG.replace("theme = 'crm-dark'", 'theme = "crm-light"')
    assert path.read_bytes() == expected.encode()
    assert load_settings(environ={}, config_path=path).theme == "crm-light"


def test_a_missing_key_goes_after_the_top_level_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    before = (
        'database_url = "sqlite:///crm.sqlite3"\n'
        "\n"
        "# keys of my own\n"
        "[keymap]\n"
        '"directory.filters" = "ctrl+l"  # theme = "not this"\n'
    )
    path.write_text(before, encoding="utf-8")
    save_theme(path, "crm-high-contrast")
    assert path.read_text(encoding="utf-8") == before.replace(
        '.sqlite3"\n', '.sqlite3"\ntheme = "crm-high-contrast"\n', 1
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", 'theme = "crm-ansi"\n'),
        ("# only a comment", '# only a comment\ntheme = "crm-ansi"\n'),
        ('readonly = true\n"theme" = "x"\n', 'readonly = true\n"theme" = "crm-ansi"\n'),
        ("[smtp]\nport = 25\n", 'theme = "crm-ansi"\n[smtp]\nport = 25\n'),
    ],
    ids=["empty", "no final newline", "quoted key", "tables only"],
)
def test_small_files(tmp_path: Path, before: str, after: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(before, encoding="utf-8")
    save_theme(path, "crm-ansi")
    assert path.read_text(encoding="utf-8") == after


def test_a_new_file_is_private_in_a_private_folder(tmp_path: Path) -> None:
    path = tmp_path / "config" / "crm-tui" / "config.toml"
    save_theme(path, "crm-light")
    assert path.read_text(encoding="utf-8") == 'theme = "crm-light"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_existing_file_keeps_its_mode_and_its_symlink(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "crm.toml"
    real.parent.mkdir()
    real.write_text("readonly = false\n", encoding="utf-8")
    real.chmod(0o640)
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    save_theme(link, "crm-light")
    assert link.is_symlink()
    assert real.read_text(encoding="utf-8") == 'readonly = false\ntheme = "crm-light"\n'
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert os.listdir(real.parent) == ["crm.toml"]  # no temporary file left behind


@pytest.mark.parametrize(
    "content",
    [
        b'theme = "crm-dark\n',  # not TOML
        b"theme = \xff\xfe\n",  # not UTF-8
        b'theme = """crm-dark"""\n',  # valid, but not a layout the line edit knows
    ],
    ids=["not TOML", "not UTF-8", "multi-line string"],
)
def test_a_file_it_cannot_edit_safely_is_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=str(path)):
        save_theme(path, "crm-light")
    assert path.read_bytes() == content
