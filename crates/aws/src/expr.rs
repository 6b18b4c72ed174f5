//! DynamoDB expressions: a small builder that aliases every attribute name
//! (`#n0`) and value (`:v0`), and the translation of an [`OrderUpdate`] into one
//! `UpdateExpression` + `ConditionExpression`.
//!
//! The translation has exactly the semantics of [`OrderUpdate::check`] and
//! [`OrderUpdate::apply_to`]:
//!
//! - every [`Expect`] becomes a condition on the stored item, ANDed with
//!   `attribute_exists(orderId)`;
//! - changes are folded in order first, so a later change of the same
//!   attribute wins and a nested change after a whole-object change is merged
//!   into that object (DynamoDB refuses overlapping paths in one update);
//! - a nested change (e.g. `reservation.releasedAt`) of an object that does not
//!   exist is a no-op in `apply_to`, but an error in DynamoDB. So the plan
//!   guards each nested change with `attribute_exists(parent)`; when that guard
//!   fails while the expectations hold, the adapter plans again with the parent
//!   known absent (the change dropped, guarded by `attribute_not_exists(parent)`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use saga_core::order::{Change, Expect, HistoryEntry, OrderUpdate};
use serde::Serialize;
use serde_json::Value;

/// Aliases for attribute names and values of one request.
#[derive(Debug, Default, Clone)]
pub struct ExprBuilder {
    names: HashMap<String, String>,
    aliases: BTreeMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl ExprBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// `#nK` standing for the attribute `name` (one alias per name).
    pub fn name(&mut self, name: &str) -> String {
        if let Some(alias) = self.aliases.get(name) {
            return alias.clone();
        }
        let alias = format!("#n{}", self.aliases.len());
        self.aliases.insert(name.to_owned(), alias.clone());
        self.names.insert(alias.clone(), name.to_owned());
        alias
    }

    /// `#a.#b` for the document path `a.b`.
    pub fn path(&mut self, segments: &[&str]) -> String {
        segments
            .iter()
            .map(|s| self.name(s))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// `:vK` standing for `value`.
    pub fn value(&mut self, value: AttributeValue) -> String {
        let alias = format!(":v{}", self.values.len());
        self.values.insert(alias.clone(), value);
        alias
    }

    pub fn into_parts(
        self,
    ) -> (
        HashMap<String, String>,
        Option<HashMap<String, AttributeValue>>,
    ) {
        let values = if self.values.is_empty() {
            None
        } else {
            Some(self.values)
        };
        (self.names, values)
    }
}

/// A string attribute value.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute value.
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The attribute value of a serializable domain value (its serde shape).
pub fn av<T: Serialize>(value: &T) -> Result<AttributeValue, serde_dynamo::Error> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value)
}

/// The objects of an order that nested changes write into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Parent {
    Reservation,
    Approval,
    Payment,
    Shipment,
}

impl Parent {
    pub const ALL: [Parent; 4] = [
        Self::Reservation,
        Self::Approval,
        Self::Payment,
        Self::Shipment,
    ];

    /// The attribute name (the serde name of the `Order` field).
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Reservation => "reservation",
            Self::Approval => "approval",
            Self::Payment => "payment",
            Self::Shipment => "shipment",
        }
    }

    /// Whether the stored order has this object.
    pub fn present_in(self, order: &saga_core::Order) -> bool {
        match self {
            Self::Reservation => order.reservation().is_some(),
            Self::Approval => order.approval().is_some(),
            Self::Payment => order.payment().is_some(),
            Self::Shipment => order.shipment().is_some(),
        }
    }
}

/// What one [`Change`] writes.
enum Write {
    /// A top-level attribute, whole.
    Top(&'static str, Value),
    /// A whole object that nested changes may write into.
    Whole(Parent, Value),
    /// One field of an object.
    Nested(Parent, &'static str, Value),
}

fn json<T: Serialize>(v: &T) -> Result<Value, serde_dynamo::Error> {
    serde_json::to_value(v).map_err(<serde_dynamo::Error as serde::ser::Error>::custom)
}

fn write_of(change: &Change) -> Result<Write, serde_dynamo::Error> {
    Ok(match change {
        Change::Pricing(p) => Write::Top("pricing", json(p)?),
        Change::Failure(f) => Write::Top("failure", json(f)?),
        Change::Reservation(r) => Write::Whole(Parent::Reservation, json(r)?),
        Change::Approval(a) => Write::Whole(Parent::Approval, json(a)?),
        Change::Payment(p) => Write::Whole(Parent::Payment, json(p)?),
        Change::Shipment(sh) => Write::Whole(Parent::Shipment, json(sh)?),
        Change::ReservationReleased(at) => {
            Write::Nested(Parent::Reservation, "releasedAt", json(at)?)
        }
        Change::ApprovalNotified => Write::Nested(Parent::Approval, "notified", Value::Bool(true)),
        Change::ApprovalDecided { approved, at } => Write::Nested(
            Parent::Approval,
            "decision",
            json(&saga_core::approval::DecisionRecord {
                approved: *approved,
                at: *at,
            })?,
        ),
        Change::Refund(r) => Write::Nested(Parent::Payment, "refund", json(r)?),
        Change::ShipmentCancelled(at) => Write::Nested(Parent::Shipment, "cancelledAt", json(at)?),
    })
}

/// The folded effect of an update's changes on one object.
#[derive(Default)]
struct ObjectWrites {
    whole: Option<Value>,
    nested: BTreeMap<&'static str, Value>,
}

/// An `UpdateItem` (or transaction `Update`) for an order, ready to send.
#[derive(Debug, Clone)]
pub struct OrderUpdatePlan {
    pub update_expression: String,
    pub condition_expression: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
    /// Parents written into by a nested change (guarded by `attribute_exists`).
    pub guarded: BTreeSet<Parent>,
}

/// The condition for one expectation.
pub fn expect_condition(
    b: &mut ExprBuilder,
    expect: &Expect,
) -> Result<String, serde_dynamo::Error> {
    let exists = |b: &mut ExprBuilder, p: &[&str]| format!("attribute_exists({})", b.path(p));
    let absent = |b: &mut ExprBuilder, p: &[&str]| format!("attribute_not_exists({})", b.path(p));
    Ok(match expect {
        Expect::StatusIn(set) => {
            let mut unique = Vec::new();
            for st in set {
                if !unique.contains(st) {
                    unique.push(*st);
                }
            }
            if unique.is_empty() {
                // No status qualifies: a condition that never holds for an
                // existing order (the plan also requires attribute_exists(orderId)).
                absent(b, &["orderId"])
            } else {
                let status = b.name("status");
                let values: Vec<String> = unique.iter().map(|st| b.value(s(st.as_str()))).collect();
                format!("{status} IN ({})", values.join(", "))
            }
        }
        Expect::NoPricing => absent(b, &["pricing"]),
        Expect::NoReservation => absent(b, &["reservation"]),
        Expect::ReservationHeld => format!(
            "{} AND {}",
            exists(b, &["reservation"]),
            absent(b, &["reservation", "releasedAt"])
        ),
        Expect::ApprovalIs(id) => {
            let path = b.path(&["approval", "approvalId"]);
            let v = b.value(s(id.as_str()));
            format!("{path} = {v}")
        }
        Expect::NoPayment => absent(b, &["payment"]),
        Expect::PaymentNotRefunded => format!(
            "{} AND {}",
            exists(b, &["payment"]),
            absent(b, &["payment", "refund"])
        ),
        Expect::NoShipment => absent(b, &["shipment"]),
        Expect::ShipmentActive => format!(
            "{} AND {}",
            exists(b, &["shipment"]),
            absent(b, &["shipment", "cancelledAt"])
        ),
    })
}

/// Translate `update` into one update + condition expression. `absent` are the
/// parents known not to exist: nested changes into them are dropped (as
/// `apply_to` does) and guarded by `attribute_not_exists`.
pub fn plan_order_update(
    update: &OrderUpdate,
    absent: &BTreeSet<Parent>,
) -> Result<OrderUpdatePlan, serde_dynamo::Error> {
    let mut b = ExprBuilder::new();

    // Fold the changes in order.
    let mut top: BTreeMap<&'static str, Value> = BTreeMap::new();
    let mut objects: BTreeMap<Parent, ObjectWrites> = BTreeMap::new();
    for change in &update.changes {
        match write_of(change)? {
            Write::Top(attr, v) => {
                top.insert(attr, v);
            }
            Write::Whole(p, v) => {
                let o = objects.entry(p).or_default();
                o.whole = Some(v);
                o.nested.clear();
            }
            Write::Nested(p, field, v) => {
                let o = objects.entry(p).or_default();
                match o.whole.as_mut() {
                    Some(Value::Object(map)) => {
                        map.insert(field.to_owned(), v);
                    }
                    _ => {
                        o.nested.insert(field, v);
                    }
                }
            }
        }
    }

    let mut sets = Vec::new();
    let mut conditions = vec![format!("attribute_exists({})", b.name("orderId"))];
    for e in &update.expect {
        conditions.push(format!("({})", expect_condition(&mut b, e)?));
    }

    if let Some(status) = update.status {
        let st = b.name("status");
        let sv = b.value(s(status.as_str()));
        sets.push(format!("{st} = {sv}"));
        let history = b.name("history");
        let entry = b.value(AttributeValue::L(vec![av(&HistoryEntry {
            status,
            at: update.at,
        })?]));
        sets.push(format!("{history} = list_append({history}, {entry})"));
    }
    let updated_at = b.name("updatedAt");
    let at = b.value(av(&update.at)?);
    sets.push(format!("{updated_at} = {at}"));

    for (attr, v) in top {
        let name = b.name(attr);
        let value = b.value(av(&v)?);
        sets.push(format!("{name} = {value}"));
    }

    let mut guarded = BTreeSet::new();
    for (parent, writes) in objects {
        if let Some(whole) = writes.whole {
            let name = b.name(parent.attribute());
            let value = b.value(av(&whole)?);
            sets.push(format!("{name} = {value}"));
        } else if !writes.nested.is_empty() {
            if absent.contains(&parent) {
                conditions.push(format!(
                    "attribute_not_exists({})",
                    b.name(parent.attribute())
                ));
                continue;
            }
            conditions.push(format!("attribute_exists({})", b.name(parent.attribute())));
            guarded.insert(parent);
            for (field, v) in writes.nested {
                let path = b.path(&[parent.attribute(), field]);
                let value = b.value(av(&v)?);
                sets.push(format!("{path} = {value}"));
            }
        }
    }

    let (names, values) = b.into_parts();
    Ok(OrderUpdatePlan {
        update_expression: format!("SET {}", sets.join(", ")),
        condition_expression: conditions.join(" AND "),
        names,
        values: values.unwrap_or_default(),
        guarded,
    })
}

/// The parents among `among` (e.g. a plan's `guarded`) that `order` lacks.
pub fn missing_parents(order: &saga_core::Order, among: &BTreeSet<Parent>) -> BTreeSet<Parent> {
    among
        .iter()
        .copied()
        .filter(|p| !p.present_in(order))
        .collect()
}

impl OrderUpdatePlan {
    /// The condition expression with attribute names in place of their
    /// aliases (values stay aliased), for error messages.
    pub fn readable_condition(&self) -> String {
        let mut out = self.condition_expression.clone();
        let mut names: Vec<_> = self.names.iter().collect();
        // `#n10` before `#n1`.
        names.sort_by_key(|(alias, _)| std::cmp::Reverse(alias.len()));
        for (alias, name) in names {
            out = out.replace(alias.as_str(), name);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_core::order::{
        Failure, OrderStatus, PaymentRecord, RefundRecord, Reservation, ShipmentRecord,
    };
    use saga_core::{ApprovalId, Currency, Money, Timestamp};

    fn at() -> Timestamp {
        Timestamp::from_millis(1_767_225_600_000).unwrap()
    }

    /// The expression with aliases replaced by names / rendered values, so a
    /// test reads like the DynamoDB documentation.
    fn render(expr: &str, plan: &OrderUpdatePlan) -> String {
        let mut out = expr.to_owned();
        let mut names: Vec<_> = plan.names.iter().collect();
        names.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        for (alias, name) in names {
            out = out.replace(alias.as_str(), name);
        }
        let mut values: Vec<_> = plan.values.iter().collect();
        values.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        for (alias, v) in values {
            let text = match v {
                AttributeValue::S(x) => format!("'{x}'"),
                AttributeValue::N(x) => x.clone(),
                AttributeValue::Bool(x) => x.to_string(),
                AttributeValue::M(_) => "{..}".into(),
                AttributeValue::L(_) => "[..]".into(),
                _ => "?".into(),
            };
            out = out.replace(alias.as_str(), &text);
        }
        out
    }

    fn cond(expect: Expect) -> String {
        let plan = plan_order_update(
            &OrderUpdate::changes(vec![expect], vec![], at()),
            &BTreeSet::new(),
        )
        .unwrap();
        render(&plan.condition_expression, &plan)
    }

    #[test]
    fn each_expectation_becomes_a_condition_on_an_existing_order() {
        assert_eq!(
            cond(Expect::StatusIn(vec![
                OrderStatus::Received,
                OrderStatus::Validated,
                OrderStatus::Received
            ])),
            "attribute_exists(orderId) AND (status IN ('RECEIVED', 'VALIDATED'))"
        );
        assert_eq!(
            cond(Expect::StatusIn(vec![])),
            "attribute_exists(orderId) AND (attribute_not_exists(orderId))",
            "an empty set never holds"
        );
        assert_eq!(
            cond(Expect::NoPricing),
            "attribute_exists(orderId) AND (attribute_not_exists(pricing))"
        );
        assert_eq!(
            cond(Expect::NoReservation),
            "attribute_exists(orderId) AND (attribute_not_exists(reservation))"
        );
        assert_eq!(
            cond(Expect::ReservationHeld),
            "attribute_exists(orderId) AND (attribute_exists(reservation) AND attribute_not_exists(reservation.releasedAt))"
        );
        let id = ApprovalId::generate();
        assert_eq!(
            cond(Expect::ApprovalIs(id.clone())),
            format!("attribute_exists(orderId) AND (approval.approvalId = '{id}')")
        );
        assert_eq!(
            cond(Expect::NoPayment),
            "attribute_exists(orderId) AND (attribute_not_exists(payment))"
        );
        assert_eq!(
            cond(Expect::PaymentNotRefunded),
            "attribute_exists(orderId) AND (attribute_exists(payment) AND attribute_not_exists(payment.refund))"
        );
        assert_eq!(
            cond(Expect::NoShipment),
            "attribute_exists(orderId) AND (attribute_not_exists(shipment))"
        );
        assert_eq!(
            cond(Expect::ShipmentActive),
            "attribute_exists(orderId) AND (attribute_exists(shipment) AND attribute_not_exists(shipment.cancelledAt))"
        );
    }

    fn set(changes: Vec<Change>) -> (String, String) {
        let plan = plan_order_update(
            &OrderUpdate::changes(vec![], changes, at()),
            &BTreeSet::new(),
        )
        .unwrap();
        (
            render(&plan.update_expression, &plan),
            render(&plan.condition_expression, &plan),
        )
    }

    fn eur(cents: i64) -> Money {
        Money::new(cents, Currency::parse("EUR").unwrap())
    }

    #[test]
    fn each_change_becomes_a_set_clause() {
        let stamp = "'2026-01-01T00:00:00.000Z'";
        let cases: Vec<(Change, &str, &str)> = vec![
            (
                Change::Failure(Failure {
                    error: saga_core::ErrorName::OutOfStock,
                    cause: "x".into(),
                }),
                "failure = {..}",
                "",
            ),
            (
                Change::Reservation(Reservation {
                    lines: vec![],
                    reserved_at: at(),
                    released_at: None,
                }),
                "reservation = {..}",
                "",
            ),
            (
                Change::ReservationReleased(at()),
                "reservation.releasedAt = '2026-01-01T00:00:00.000Z'",
                " AND attribute_exists(reservation)",
            ),
            (
                Change::ApprovalNotified,
                "approval.notified = true",
                " AND attribute_exists(approval)",
            ),
            (
                Change::ApprovalDecided {
                    approved: true,
                    at: at(),
                },
                "approval.decision = {..}",
                " AND attribute_exists(approval)",
            ),
            (
                Change::Payment(PaymentRecord {
                    charge_id: "ch_1".into(),
                    amount: eur(100),
                    charged_at: at(),
                    refund: None,
                }),
                "payment = {..}",
                "",
            ),
            (
                Change::Refund(RefundRecord {
                    refund_id: "re_1".into(),
                    refunded_at: at(),
                }),
                "payment.refund = {..}",
                " AND attribute_exists(payment)",
            ),
            (
                Change::Shipment(ShipmentRecord {
                    tracking_number: "TRK1".into(),
                    shipped_at: at(),
                    cancelled_at: None,
                }),
                "shipment = {..}",
                "",
            ),
            (
                Change::ShipmentCancelled(at()),
                "shipment.cancelledAt = '2026-01-01T00:00:00.000Z'",
                " AND attribute_exists(shipment)",
            ),
        ];
        for (change, clause, guard) in cases {
            let (update, condition) = set(vec![change.clone()]);
            assert_eq!(
                update,
                format!("SET updatedAt = {stamp}, {clause}"),
                "{change:?}"
            );
            assert_eq!(
                condition,
                format!("attribute_exists(orderId){guard}"),
                "{change:?}"
            );
        }
    }

    #[test]
    fn a_status_appends_one_history_entry() {
        let update = OrderUpdate::transition(
            OrderStatus::Validated,
            &[OrderStatus::Received, OrderStatus::Completed],
            vec![],
            at(),
        );
        let plan = plan_order_update(&update, &BTreeSet::new()).unwrap();
        assert_eq!(
            render(&plan.update_expression, &plan),
            "SET status = 'VALIDATED', history = list_append(history, [..]), updatedAt = '2026-01-01T00:00:00.000Z'"
        );
        assert_eq!(
            render(&plan.condition_expression, &plan),
            "attribute_exists(orderId) AND (status IN ('RECEIVED'))",
            "COMPLETED can't move to VALIDATED, so transition() leaves it out"
        );
        let entry = plan
            .values
            .values()
            .find_map(|v| match v {
                AttributeValue::L(l) => Some(l.clone()),
                _ => None,
            })
            .unwrap();
        let entry: Vec<HistoryEntry> =
            serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(AttributeValue::L(entry))
                .unwrap();
        assert_eq!(
            entry,
            vec![HistoryEntry {
                status: OrderStatus::Validated,
                at: at()
            }]
        );
    }

    #[test]
    fn changes_fold_in_order_so_paths_never_overlap() {
        // A whole reservation then its release: one SET of the merged object.
        let plan = plan_order_update(
            &OrderUpdate::changes(
                vec![],
                vec![
                    Change::Reservation(Reservation {
                        lines: vec![],
                        reserved_at: at(),
                        released_at: None,
                    }),
                    Change::ReservationReleased(at()),
                ],
                at(),
            ),
            &BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(
            render(&plan.update_expression, &plan),
            "SET updatedAt = '2026-01-01T00:00:00.000Z', reservation = {..}"
        );
        let merged: Reservation = plan
            .values
            .values()
            .find_map(|v| match v {
                AttributeValue::M(_) => {
                    serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(v.clone()).ok()
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(merged.released_at, Some(at()));

        // The same top-level attribute twice: the last wins.
        let (update, _) = set(vec![
            Change::Failure(Failure {
                error: saga_core::ErrorName::OutOfStock,
                cause: "a".into(),
            }),
            Change::Failure(Failure {
                error: saga_core::ErrorName::ShippingFailed,
                cause: "b".into(),
            }),
        ]);
        assert_eq!(update.matches("failure =").count(), 1, "{update}");
    }

    #[test]
    fn a_nested_change_of_a_known_absent_parent_is_dropped_and_guarded() {
        let mut absent = BTreeSet::new();
        absent.insert(Parent::Payment);
        let plan = plan_order_update(
            &OrderUpdate::changes(
                vec![],
                vec![
                    Change::Refund(RefundRecord {
                        refund_id: "re_1".into(),
                        refunded_at: at(),
                    }),
                    Change::ShipmentCancelled(at()),
                ],
                at(),
            ),
            &absent,
        )
        .unwrap();
        assert_eq!(
            render(&plan.update_expression, &plan),
            "SET updatedAt = '2026-01-01T00:00:00.000Z', shipment.cancelledAt = '2026-01-01T00:00:00.000Z'"
        );
        assert_eq!(
            render(&plan.condition_expression, &plan),
            "attribute_exists(orderId) AND attribute_not_exists(payment) AND attribute_exists(shipment)"
        );
        assert_eq!(plan.guarded, BTreeSet::from([Parent::Shipment]));
    }

    #[test]
    fn every_alias_is_declared_and_every_declared_alias_is_used() {
        let update = OrderUpdate::transition(
            OrderStatus::Failed,
            &OrderStatus::ALL,
            vec![
                Change::Failure(Failure {
                    error: saga_core::ErrorName::InternalError,
                    cause: "y".into(),
                }),
                Change::ShipmentCancelled(at()),
            ],
            at(),
        )
        .and_expect(Expect::PaymentNotRefunded)
        .and_expect(Expect::ApprovalIs(ApprovalId::generate()));
        let plan = plan_order_update(&update, &BTreeSet::new()).unwrap();
        let text = format!("{} {}", plan.update_expression, plan.condition_expression);
        for alias in plan.names.keys().chain(plan.values.keys()) {
            assert!(text.contains(alias.as_str()), "{alias} unused in {text}");
        }
        for token in text.split(|c: char| !(c.is_alphanumeric() || c == '#' || c == ':')) {
            if token.starts_with('#') {
                assert!(plan.names.contains_key(token), "{token} undeclared");
            }
            if token.starts_with(':') {
                assert!(plan.values.contains_key(token), "{token} undeclared");
            }
        }
    }
}
