"""indexes for the analytics figures (services/analytics.py)

- `ix_payment_customer_currency` (customer_id, currency, status, amount_minor,
  refunded_minor, created_at): every customer's net paid per currency (lifetime
  values and their distribution) read from the index alone, already in the order
  the GROUP BY needs; the payment failure rate reads it instead of the table too.
  It leads with `customer_id`, as the demo seeder's bulk load writes rows: each new
  entry lands at the end, so loading keeps it rather than building it afterwards.
- `ix_customer_has_active_subscription`: total and active customers counted from
  a small index rather than the customer table's wide rows.

Revision ID: 0006_analytics_indexes
Revises: 0005_change_notify
"""

from __future__ import annotations

from alembic import op

revision = "0006_analytics_indexes"
down_revision = "0005_change_notify"
branch_labels = None
depends_on = None

PAYMENT_COLUMNS = [
    "customer_id",
    "currency",
    "status",
    "amount_minor",
    "refunded_minor",
    "created_at",
]


def upgrade() -> None:
    op.create_index("ix_payment_customer_currency", "payment", PAYMENT_COLUMNS)
    op.create_index("ix_customer_has_active_subscription", "customer", ["has_active_subscription"])


def downgrade() -> None:
    op.drop_index("ix_customer_has_active_subscription", table_name="customer")
    op.drop_index("ix_payment_customer_currency", table_name="payment")
