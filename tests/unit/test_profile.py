"""The Overview read model and `crm-tui customers show`, on both engines."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crm_tui.cli import main
from crm_tui.models import tables as t
from crm_tui.services.actor import Actor
from crm_tui.services.profile import CustomerNotFound, ProfileService
from tests.factories import T0, add_customer, add_plan, add_subscription


def _business(engine: Engine) -> int:
    with engine.begin() as c:
        plan = add_plan(c, "pro", name="Pro")
        customer = add_customer(
            c,
            kind="business",
            name="Grace Hopper",
            email="grace@cobol.example",
            company_name="Cobol Ltd",
            company_reg_no="12345678",
            vat_id="GB999999973",
            payment_terms="net_30",
            billing_group="enterprise",
        )
        add_subscription(c, customer, plan, provider_id="sub_ABC", started_at=T0)
        add_subscription(c, customer, plan, status="cancelled", started_at=T0 - timedelta(days=400))
        c.execute(
            sa.insert(t.Address.__table__),  # type: ignore[attr-defined]
            [
                {
                    "customer_id": customer,
                    "kind": "billing",
                    "is_default": True,
                    "line1": "1 Main St",
                    "city": "London",
                    "country": "GB",
                    "valid_from": T0,
                    "valid_to": None,
                },
                {
                    "customer_id": customer,
                    "kind": "billing",
                    "is_default": False,
                    "line1": "Old Road 9",
                    "city": "Leeds",
                    "country": "GB",
                    "valid_from": T0 - timedelta(days=900),
                    "valid_to": T0,
                },
            ],
        )
        tag = c.execute(sa.insert(t.Tag.__table__).values(name="vip")).inserted_primary_key[0]  # type: ignore[attr-defined]
        c.execute(
            sa.insert(t.CustomerTag.__table__).values(  # type: ignore[attr-defined]
                customer_id=customer, tag_id=tag, added_at=T0
            )
        )
        c.execute(
            sa.insert(t.ExternalId.__table__).values(  # type: ignore[attr-defined]
                customer_id=customer, provider="stripe", external_id="cus_X1"
            )
        )
    return customer


def test_profile_reads_the_overview(engine: Engine) -> None:
    customer = _business(engine)
    profile = ProfileService(engine).profile(customer, Actor.system())
    assert (profile.name, profile.company_name, profile.vat_id) == (
        "Grace Hopper",
        "Cobol Ltd",
        "GB999999973",
    )
    assert profile.payment_terms == "net_30"
    assert profile.tags == ("vip",)
    assert [s.status for s in profile.subscriptions] == ["active", "cancelled"]
    assert profile.subscriptions[0].provider_id == "sub_ABC"
    assert [(a.line1, a.current) for a in profile.addresses] == [
        ("1 Main St", True),
        ("Old Road 9", False),
    ]
    assert profile.external_ids == (("stripe", "cus_X1"),)
    assert profile.registered_at.tzinfo is not None


def test_a_subscription_set_to_cancel_is_not_shown_as_renewing(engine: Engine) -> None:
    with engine.begin() as c:
        plan = add_plan(c, "pro", name="Pro")
        customer = add_customer(c)
        add_subscription(
            c,
            customer,
            plan,
            current_period_end=T0 + timedelta(days=20),
            cancel_at_period_end=True,
        )
    profile = ProfileService(engine).profile(customer, Actor.system())
    (sub,) = profile.subscriptions
    assert sub.cancel_at_period_end and sub.renews_at is not None
    assert profile.next_renewal is None


def test_unknown_customer_is_not_found(engine: Engine) -> None:
    with pytest.raises(CustomerNotFound):
        ProfileService(engine).profile(424242, Actor.system())


def test_merged_customer_leads_to_the_survivor(engine: Engine) -> None:
    survivor = _business(engine)
    with engine.begin() as c:
        c.execute(
            sa.insert(t.MergedCustomer.__table__).values(  # type: ignore[attr-defined]
                old_customer_id=9999, survivor_id=survivor, merged_at=T0
            )
        )
    assert ProfileService(engine).profile(9999, Actor.system()).id == survivor


def test_cli_show_prints_json(
    engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    customer = _business(engine)
    assert main(["customers", "show", str(customer), "--database-url", db_url]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["name"] == "Grace Hopper" and document["tags"] == ["vip"]
    assert document["subscriptions"][0]["provider_id"] == "sub_ABC"


def test_cli_show_unknown_customer(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["customers", "show", "77", "--database-url", db_url]) == 2
    assert "no customer with id 77" in capsys.readouterr().err


def test_cli_search_prints_json_lines(
    engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _business(engine)
    with engine.begin() as c:
        add_customer(c, name="Ada Lovelace", email="ada@example.com")
    argv = ["customers", "search", "cobol", "--json", "--database-url", db_url]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["email"] for line in lines] == ["grace@cobol.example"]
    argv = ["customers", "search", "--type", "business", "--limit", "5", "--database-url", db_url]
    assert main(argv) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_cli_search_refuses_a_bad_amount(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["customers", "search", "--ltv-min", "12,34.5", "--database-url", db_url]) == 2
    assert "is not an amount" in capsys.readouterr().err
