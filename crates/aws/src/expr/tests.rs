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
    let id = ApprovalId::generate();
    let approval_is = format!("approval.approvalId = '{id}'");
    for (expect, condition) in [
        (Expect::NoPricing, "attribute_not_exists(pricing)"),
        (Expect::NoReservation, "attribute_not_exists(reservation)"),
        (
            Expect::ReservationHeld,
            "attribute_exists(reservation) AND attribute_not_exists(reservation.releasedAt)",
        ),
        (Expect::ApprovalIs(id.clone()), &approval_is),
        (Expect::NoPayment, "attribute_not_exists(payment)"),
        (
            Expect::PaymentNotRefunded,
            "attribute_exists(payment) AND attribute_not_exists(payment.refund)",
        ),
        (Expect::NoShipment, "attribute_not_exists(shipment)"),
        (
            Expect::ShipmentActive,
            "attribute_exists(shipment) AND attribute_not_exists(shipment.cancelledAt)",
        ),
    ] {
        assert_eq!(
            cond(expect.clone()),
            format!("attribute_exists(orderId) AND ({condition})"),
            "{expect:?}"
        );
    }
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
        serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(AttributeValue::L(entry)).unwrap();
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
