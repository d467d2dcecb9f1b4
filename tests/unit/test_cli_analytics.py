"""`crm-tui analytics [QUERY] [filters] [--from D] [--to D] [--json]`: the figures of
services/analytics.py with their definitions, for the directory's search and filters;
a bad date is a sentence and exit 2. (The figures themselves: test_analytics.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from crm_tui import cli
from crm_tui.services.analytics import DEFINITION_BY_KEY
from crm_tui.services.customer_summary import refresh_summary
from tests.factories import add_customer, add_payment, add_plan, add_subscription


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err.splitlines()


@pytest.fixture
def shop(engine: Engine) -> None:
    """Ada (US, January, USD 120.00 yearly), Bob (US, February, a failed payment),
    Zoe (EU, March, EUR 30.00 quarterly)."""
    with engine.begin() as c:
        plan = add_plan(c)
        for name, month, region, currency, cycle, amount in (
            ("Ada", 1, "US", "USD", "yearly", 12000),
            ("Bob", 2, "US", "USD", "monthly", 1900),
            ("Zoe", 3, "EU", "EUR", "quarterly", 3000),
        ):
            joined = datetime(2026, month, 10, 9, 0, tzinfo=UTC)
            customer = add_customer(
                c, name=name, email=f"{name.lower()}@example.com", region=region,
                currency=currency, registered_at=joined,
            )  # fmt: skip
            add_subscription(
                c, customer, plan, started_at=joined, amount_minor=amount, currency=currency,
                cycle=cycle,
            )  # fmt: skip
            status = "failed" if name == "Bob" else "succeeded"
            add_payment(
                c, customer, amount_minor=amount, currency=currency, status=status,
                created_at=joined,
            )  # fmt: skip
            refresh_summary(c, customer)


def test_json_has_each_figure_its_definition_the_range_and_filters(
    capsys: pytest.CaptureFixture[str], db_url: str, shop: None
) -> None:
    status, out, err = run_cli(
        capsys, "analytics", "--json", "--from", "2026-01-01", "--to", "2026-02-28",
        "--region", "US", "--database-url", db_url,
    )  # fmt: skip
    assert (status, err) == (0, [])
    answer = json.loads(out)
    assert answer["range"] == {"from": "2026-01-01", "to": "2026-02-28"}
    assert (answer["search"], answer["filters"]) == ("", {"regions": ["US"]})
    figures = answer["figures"]
    for key, figure in figures.items():
        assert figure["definition"] == DEFINITION_BY_KEY[key].text
    assert figures["total_customers"]["value"] == 2  # Ada and Bob: Zoe is in the EU
    assert figures["acquisition"]["value"] == [
        {"month": "2026-01", "customers": 1},
        {"month": "2026-02", "customers": 1},
    ]
    assert figures["mrr"]["value"] == [{"currency": "USD", "amount_minor": 1000 + 1900}]
    assert figures["payment_failure_rate"]["value"] == {"value": 0.5, "count": 1, "out_of": 2}


def test_plain_text_for_a_person(
    capsys: pytest.CaptureFixture[str], db_url: str, shop: None
) -> None:
    status, out, _ = run_cli(capsys, "analytics", "--to", "2026-03-31", "--database-url", db_url)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "Analytics, from the start to 2026-03-31 (UTC): all customers"
    assert "Total customers             3" in lines
    assert "Monthly recurring revenue   €10.00 · $29.00" in lines
    assert "Payment failure rate        33.3% (1 of 3)" in lines
    assert "Churn rate                  -" in lines  # no start: no rate
    assert "2026-03              1             3" in lines  # Zoe joined in March; 3 in all
    assert "  $100.00 to $200.00                       1" in lines  # Ada's 120.00


def test_a_search_narrows_like_the_directory(
    capsys: pytest.CaptureFixture[str], db_url: str, shop: None
) -> None:
    status, out, _ = run_cli(capsys, "analytics", "zoe", "--json", "--database-url", db_url)
    assert status == 0
    answer = json.loads(out)
    assert answer["search"] == "zoe"
    assert answer["figures"]["mrr"]["value"] == [{"currency": "EUR", "amount_minor": 1000}]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", "2026-13-01"], "--from '2026-13-01' is not a date: write it as YYYY-MM-DD"),
        (["--to", "yesterday"], "--to 'yesterday' is not a date: write it as YYYY-MM-DD"),
        (
            ["--from", "2026-05-01", "--to", "2026-04-30"],
            "--from 2026-05-01 is after --to 2026-04-30: nothing lies between",
        ),
        (["--ltv-min", "lots"], "'lots' is not an amount: write it like 1234.50"),
    ],
)
def test_bad_input_is_a_sentence_and_exit_2(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, arguments: list[str], message: str
) -> None:
    status, out, err = run_cli(capsys, "analytics", *arguments, "--database-url", sqlite_url)
    assert (status, out, err) == (2, "", [f"crm-tui: {message}"])
