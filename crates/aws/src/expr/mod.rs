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

/// An update's changes folded in order: each top-level attribute as written
/// last, and per parent object either the whole object (later nested changes
/// folded into it) or its nested fields.
struct Folded {
    top: BTreeMap<&'static str, Value>,
    objects: BTreeMap<Parent, ObjectWrites>,
}

fn fold_changes(changes: &[Change]) -> Result<Folded, serde_dynamo::Error> {
    let mut top: BTreeMap<&'static str, Value> = BTreeMap::new();
    let mut objects: BTreeMap<Parent, ObjectWrites> = BTreeMap::new();
    for change in changes {
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
    Ok(Folded { top, objects })
}

/// Translate `update` into one update + condition expression. `absent` are the
/// parents known not to exist: nested changes into them are dropped (as
/// `apply_to` does) and guarded by `attribute_not_exists`.
pub fn plan_order_update(
    update: &OrderUpdate,
    absent: &BTreeSet<Parent>,
) -> Result<OrderUpdatePlan, serde_dynamo::Error> {
    let Folded { top, objects } = fold_changes(&update.changes)?;
    let mut b = ExprBuilder::new();

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
mod tests;
