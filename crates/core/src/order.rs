//! The order aggregate, its value types and its status machine.
//!
//! An [`Order`] changes only through an [`OrderUpdate`]: a set of expectations
//! (checked atomically by the store: a DynamoDB condition expression, a SQLite
//! transaction) and the changes to make when they hold. The in-memory and SQLite
//! adapters evaluate updates with [`OrderUpdate::check`] and
//! [`OrderUpdate::apply_to`]; the DynamoDB adapter translates the same values into
//! expressions, so every store has the same semantics.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::approval::ApprovalRef;
use crate::money::Money;
use crate::{CustomerId, OrderId, Timestamp};

/// Why a value was refused; `field` names it the way the client spelled it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    pub message: String,
}

fn value_error(message: impl Into<String>) -> ValueError {
    ValueError {
        message: message.into(),
    }
}

/// Most lines an order may have.
pub const MAX_LINES: usize = 50;
/// Largest quantity of one line.
pub const MAX_QUANTITY: u32 = 1000;

/// A catalog SKU: 1–64 characters of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        crate::ids::short_name(s, b"._-", "may only contain letters, digits and . _ -")
            .map_err(value_error)?;
        Ok(Self(s.to_owned()))
    }
}

/// A line quantity, 1 to [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Quantity(u32);

impl Quantity {
    pub fn new(n: u32) -> Result<Self, ValueError> {
        if (1..=MAX_QUANTITY).contains(&n) {
            Ok(Self(n))
        } else {
            Err(value_error(format!("must be between 1 and {MAX_QUANTITY}")))
        }
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(u32::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An e-mail address (a pragmatic check: one `@`, no spaces, a dotted domain).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let invalid = || value_error("must be an e-mail address like name@example.com");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = s.split_once('@').ok_or_else(invalid)?;
        if local.is_empty() || domain.contains('@') || !domain.contains('.') {
            return Err(invalid());
        }
        if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
            return Err(invalid());
        }
        Ok(Self(s.to_owned()))
    }
}

/// A payment method token (`tok_…`), as issued by the payment provider.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PaymentToken(String);

impl PaymentToken {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let rest = s
            .strip_prefix("tok_")
            .ok_or_else(|| value_error("must start with tok_"))?;
        if rest.is_empty() || rest.len() > 64 {
            return Err(value_error("must have 1 to 64 characters after tok_"));
        }
        if !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(value_error("may only contain letters, digits and _"));
        }
        Ok(Self(s.to_owned()))
    }
}

parsed_string_impls!(ValueError: Sku, Email, PaymentToken);

/// A shipping address. Constructed through [`crate::request`] parsing, which
/// checks each field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// One requested line: what the client asked for (no price).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub sku: Sku,
    pub quantity: Quantity,
}

/// One line priced from the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedLine {
    pub sku: Sku,
    pub name: String,
    pub quantity: Quantity,
    pub unit_price_cents: i64,
}

impl PricedLine {
    /// The unit price, in the order's `currency`.
    pub fn unit_price(&self, currency: crate::Currency) -> Money {
        Money::new(self.unit_price_cents, currency)
    }

    /// Unit price times quantity, as shown to people (`"39.98 EUR"`); empty
    /// if it overflows (pricing refuses such orders, so only a corrupt record).
    pub fn line_total_text(&self, currency: crate::Currency) -> String {
        self.unit_price(currency)
            .checked_mul(self.quantity.get())
            .map(|m| m.to_string())
            .unwrap_or_default()
    }
}

/// The catalog prices of an order, fixed at validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pricing {
    pub lines: Vec<PricedLine>,
    pub total: Money,
    pub requires_approval: bool,
}

/// Order statuses. `COMPLETED`, `FAILED` and `REJECTED` are final;
/// `NEEDS_ATTENTION` (compensation failed) waits for a human or a re-run of
/// compensation, which may still end it as `FAILED` / `REJECTED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Received,
    Validated,
    Reserved,
    AwaitingApproval,
    Approved,
    Paid,
    Completed,
    Failed,
    Rejected,
    NeedsAttention,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 10] = [
        Self::Received,
        Self::Validated,
        Self::Reserved,
        Self::AwaitingApproval,
        Self::Approved,
        Self::Paid,
        Self::Completed,
        Self::Failed,
        Self::Rejected,
        Self::NeedsAttention,
    ];

    /// Statuses from which the saga is still moving forward.
    pub const IN_FLIGHT: [OrderStatus; 6] = [
        Self::Received,
        Self::Validated,
        Self::Reserved,
        Self::AwaitingApproval,
        Self::Approved,
        Self::Paid,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Received => "RECEIVED",
            Self::Validated => "VALIDATED",
            Self::Reserved => "RESERVED",
            Self::AwaitingApproval => "AWAITING_APPROVAL",
            Self::Approved => "APPROVED",
            Self::Paid => "PAID",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Rejected => "REJECTED",
            Self::NeedsAttention => "NEEDS_ATTENTION",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No transition leaves a final status.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Rejected)
    }

    /// The statuses this one may move to.
    pub fn next_allowed(&self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Received => &[Validated, Failed, NeedsAttention],
            Validated => &[Reserved, Failed, NeedsAttention],
            // REJECTED: the approval task can time out before it recorded AWAITING_APPROVAL.
            Reserved => &[AwaitingApproval, Paid, Rejected, Failed, NeedsAttention],
            AwaitingApproval => &[Approved, Rejected, Failed, NeedsAttention],
            // An approval can lose the race against the approval timeout.
            Approved => &[Paid, Rejected, Failed, NeedsAttention],
            Paid => &[Completed, Failed, NeedsAttention],
            NeedsAttention => &[Failed, Rejected],
            Completed | Failed | Rejected => &[],
        }
    }

    pub fn can_transition_to(&self, next: OrderStatus) -> bool {
        self.next_allowed().contains(&next)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of an order's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub status: OrderStatus,
    pub at: Timestamp,
}

/// Why an order ended badly: a stable error name and a human-readable cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub error: crate::ErrorName,
    pub cause: String,
}

/// Stock held for the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub lines: Vec<OrderItem>,
    pub reserved_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<Timestamp>,
}

/// A charge recorded in the order's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRecord {
    pub charge_id: String,
    pub amount: Money,
    pub charged_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRecord {
    pub refund_id: String,
    pub refunded_at: Timestamp,
}

/// The carrier's shipment for the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentRecord {
    pub tracking_number: String,
    pub shipped_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<Timestamp>,
}

/// An order: what the client asked for, what the saga did, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    order_id: OrderId,
    customer_id: CustomerId,
    email: Email,
    items: Vec<OrderItem>,
    payment_token: PaymentToken,
    shipping_address: Address,
    status: OrderStatus,
    history: Vec<HistoryEntry>,
    created_at: Timestamp,
    updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pricing: Option<Pricing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reservation: Option<Reservation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    approval: Option<ApprovalRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payment: Option<PaymentRecord>,
    #[serde(default)]
    payment_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shipment: Option<ShipmentRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure: Option<Failure>,
}

impl Order {
    /// A new order in `RECEIVED`, from a parsed request.
    pub fn receive(
        order_id: OrderId,
        request: crate::request::OrderRequest,
        now: Timestamp,
    ) -> Self {
        Self {
            order_id,
            customer_id: request.customer_id,
            email: request.email,
            items: request.items,
            payment_token: request.payment_token,
            shipping_address: request.shipping_address,
            status: OrderStatus::Received,
            history: vec![HistoryEntry {
                status: OrderStatus::Received,
                at: now,
            }],
            created_at: now,
            updated_at: now,
            pricing: None,
            reservation: None,
            approval: None,
            payment: None,
            payment_attempts: 0,
            shipment: None,
            failure: None,
        }
    }

    pub fn order_id(&self) -> &OrderId {
        &self.order_id
    }
    pub fn customer_id(&self) -> &CustomerId {
        &self.customer_id
    }
    pub fn email(&self) -> &Email {
        &self.email
    }
    pub fn items(&self) -> &[OrderItem] {
        &self.items
    }
    pub fn payment_token(&self) -> &PaymentToken {
        &self.payment_token
    }
    pub fn shipping_address(&self) -> &Address {
        &self.shipping_address
    }
    pub fn status(&self) -> OrderStatus {
        self.status
    }
    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }
    pub fn pricing(&self) -> Option<&Pricing> {
        self.pricing.as_ref()
    }
    pub fn reservation(&self) -> Option<&Reservation> {
        self.reservation.as_ref()
    }
    pub fn approval(&self) -> Option<&ApprovalRef> {
        self.approval.as_ref()
    }
    pub fn payment(&self) -> Option<&PaymentRecord> {
        self.payment.as_ref()
    }
    pub fn payment_attempts(&self) -> u32 {
        self.payment_attempts
    }
    pub fn shipment(&self) -> Option<&ShipmentRecord> {
        self.shipment.as_ref()
    }
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// Count one more payment attempt (the simulated provider's `tok_flaky`
    /// needs to know which attempt this is). Returns the new count.
    pub fn count_payment_attempt(&mut self) -> u32 {
        self.payment_attempts = self.payment_attempts.saturating_add(1);
        self.payment_attempts
    }
}

/// A condition an [`OrderUpdate`] requires of the stored order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The status is one of these.
    StatusIn(Vec<OrderStatus>),
    NoPricing,
    NoReservation,
    /// Stock is reserved and not yet released.
    ReservationHeld,
    /// The order's current approval has this id.
    ApprovalIs(crate::ApprovalId),
    NoPayment,
    /// A charge is recorded and not refunded.
    PaymentNotRefunded,
    NoShipment,
    /// A shipment exists and is not cancelled.
    ShipmentActive,
}

/// A change an [`OrderUpdate`] makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Pricing(Pricing),
    Reservation(Reservation),
    ReservationReleased(Timestamp),
    Approval(ApprovalRef),
    ApprovalNotified,
    ApprovalDecided { approved: bool, at: Timestamp },
    Payment(PaymentRecord),
    Refund(RefundRecord),
    Shipment(ShipmentRecord),
    ShipmentCancelled(Timestamp),
    Failure(Failure),
}

/// A conditional change of one order: applied atomically when every
/// expectation holds, not at all otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderUpdate {
    pub expect: Vec<Expect>,
    /// The new status; when set, a history entry `{status, at}` is appended.
    pub status: Option<OrderStatus>,
    pub changes: Vec<Change>,
    pub at: Timestamp,
}

impl OrderUpdate {
    /// A status transition (expecting a status that may move to `to`) with changes.
    pub fn transition(
        to: OrderStatus,
        from: &[OrderStatus],
        changes: Vec<Change>,
        at: Timestamp,
    ) -> Self {
        let from = from
            .iter()
            .copied()
            .filter(|s| s.can_transition_to(to))
            .collect();
        Self {
            expect: vec![Expect::StatusIn(from)],
            status: Some(to),
            changes,
            at,
        }
    }

    /// Changes without a status transition.
    pub fn changes(expect: Vec<Expect>, changes: Vec<Change>, at: Timestamp) -> Self {
        Self {
            expect,
            status: None,
            changes,
            at,
        }
    }

    /// The reserve step's update: `VALIDATED` → `RESERVED`, recording the
    /// reservation of `lines` (applied with the stock decrements, all or nothing).
    pub fn reserve(lines: &[OrderItem], at: Timestamp) -> Self {
        Self::transition(
            OrderStatus::Reserved,
            &[OrderStatus::Validated],
            vec![Change::Reservation(Reservation {
                lines: lines.to_vec(),
                reserved_at: at,
                released_at: None,
            })],
            at,
        )
        .and_expect(Expect::NoReservation)
    }

    /// Compensation's update: the held reservation is released (applied with
    /// the stock increments, all or nothing). No status change.
    pub fn release(at: Timestamp) -> Self {
        Self::changes(
            vec![Expect::ReservationHeld],
            vec![Change::ReservationReleased(at)],
            at,
        )
    }

    pub fn and_expect(mut self, expect: Expect) -> Self {
        self.expect.push(expect);
        self
    }

    /// Whether every expectation holds for `order`.
    pub fn check(&self, order: &Order) -> bool {
        self.expect.iter().all(|e| match e {
            Expect::StatusIn(set) => set.contains(&order.status),
            Expect::NoPricing => order.pricing.is_none(),
            Expect::NoReservation => order.reservation.is_none(),
            Expect::ReservationHeld => order
                .reservation
                .as_ref()
                .is_some_and(|r| r.released_at.is_none()),
            Expect::ApprovalIs(id) => order
                .approval
                .as_ref()
                .is_some_and(|a| &a.approval_id == id),
            Expect::NoPayment => order.payment.is_none(),
            Expect::PaymentNotRefunded => {
                order.payment.as_ref().is_some_and(|p| p.refund.is_none())
            }
            Expect::NoShipment => order.shipment.is_none(),
            Expect::ShipmentActive => order
                .shipment
                .as_ref()
                .is_some_and(|s| s.cancelled_at.is_none()),
        })
    }

    /// Apply the changes to `order` (the caller has checked the expectations).
    pub fn apply_to(&self, order: &mut Order) {
        if let Some(status) = self.status {
            order.status = status;
            order.history.push(HistoryEntry {
                status,
                at: self.at,
            });
        }
        order.updated_at = self.at;
        for change in &self.changes {
            match change {
                Change::Pricing(p) => order.pricing = Some(p.clone()),
                Change::Reservation(r) => order.reservation = Some(r.clone()),
                Change::ReservationReleased(at) => {
                    if let Some(r) = order.reservation.as_mut() {
                        r.released_at = Some(*at);
                    }
                }
                Change::Approval(a) => order.approval = Some(a.clone()),
                Change::ApprovalNotified => {
                    if let Some(a) = order.approval.as_mut() {
                        a.notified = true;
                    }
                }
                Change::ApprovalDecided { approved, at } => {
                    if let Some(a) = order.approval.as_mut() {
                        a.decision = Some(crate::approval::DecisionRecord {
                            approved: *approved,
                            at: *at,
                        });
                    }
                }
                Change::Payment(p) => order.payment = Some(p.clone()),
                Change::Refund(r) => {
                    if let Some(p) = order.payment.as_mut() {
                        p.refund = Some(r.clone());
                    }
                }
                Change::Shipment(s) => order.shipment = Some(s.clone()),
                Change::ShipmentCancelled(at) => {
                    if let Some(s) = order.shipment.as_mut() {
                        s.cancelled_at = Some(*at);
                    }
                }
                Change::Failure(f) => order.failure = Some(f.clone()),
            }
        }
    }
}

#[cfg(test)]
mod tests;
