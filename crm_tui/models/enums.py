"""Enumerations of the domain. Stored as their string values."""

from __future__ import annotations

from enum import StrEnum


class CustomerKind(StrEnum):
    INDIVIDUAL = "individual"
    BUSINESS = "business"


class LifecycleStatus(StrEnum):
    """Derived from the customer's subscriptions."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    CHURNED = "churned"


class AccountState(StrEnum):
    """Set by agents, with a reason, kept in the status history."""

    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    BLOCKED = "blocked"


class PaymentTerms(StrEnum):
    NET_7 = "net7"
    NET_14 = "net14"
    NET_30 = "net30"


class AddressKind(StrEnum):
    BILLING = "billing"
    SHIPPING = "shipping"


class BillingCycle(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


# How many months one cycle covers; MRR divides a cycle's amount by this.
CYCLE_MONTHS: dict[BillingCycle, int] = {
    BillingCycle.MONTHLY: 1,
    BillingCycle.QUARTERLY: 3,
    BillingCycle.YEARLY: 12,
}


class PlanKind(StrEnum):
    SERVICE = "service"
    HARDWARE = "hardware"
    BUNDLE = "bundle"


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    TRIAL = "trial"
    GRACE = "grace"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# Statuses in which a subscription still counts as the customer's own.
LIVE_SUBSCRIPTION_STATUSES = frozenset(
    {
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.TRIAL,
        SubscriptionStatus.GRACE,
        SubscriptionStatus.PAUSED,
    }
)


class Provider(StrEnum):
    STRIPE = "stripe"
    PAYPAL = "paypal"
    MANUAL = "manual"


class PaymentMethod(StrEnum):
    CARD = "card"
    SEPA_DEBIT = "sepa_debit"
    PAYPAL = "paypal"
    BANK_TRANSFER = "bank_transfer"
    INVOICE = "invoice"


class PaymentStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    PENDING = "pending"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class ActorType(StrEnum):
    AGENT = "agent"
    SYSTEM = "system"
    CUSTOMER = "customer"


class ActivityKind(StrEnum):
    SUBSCRIPTION = "subscription"
    PAYMENT = "payment"
    PROFILE = "profile"
    SUPPORT = "support"
    CAMPAIGN = "campaign"


class NoteType(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    MEETING = "meeting"
    OTHER = "other"


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"
    CLOSED = "closed"


class EscalationStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class AgentRole(StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


class ApprovalKind(StrEnum):
    """What a two-person approval is for."""

    REFUND = "refund"  # above the configured amount
    DELETION = "deletion"  # erasure of a customer's personal data
    MERGE = "merge"
    BULK_CANCEL = "bulk_cancel"


class RequestStatus(StrEnum):
    """Lifecycle of a two-person approval or a deletion request."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTED = "executed"


class IntentStatus(StrEnum):
    """A provider call that moves money: stored before the call, settled after."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ConsentPurpose(StrEnum):
    MARKETING_EMAIL = "marketing_email"
    ANALYTICS = "analytics"
    PRODUCT_UPDATES = "product_updates"
    THIRD_PARTY_SHARING = "third_party_sharing"


class EmailStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
