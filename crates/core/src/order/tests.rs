use super::*;

#[test]
fn no_way_back_from_a_final_status() {
    for s in OrderStatus::ALL {
        if s.is_final() {
            assert!(s.next_allowed().is_empty(), "{s} must be final");
        }
    }
    assert!(!OrderStatus::Completed.can_transition_to(OrderStatus::Failed));
    assert!(!OrderStatus::Failed.can_transition_to(OrderStatus::Received));
}

#[test]
fn the_happy_path_is_allowed_step_by_step() {
    use OrderStatus::*;
    for pair in [
        Received,
        Validated,
        Reserved,
        AwaitingApproval,
        Approved,
        Paid,
        Completed,
    ]
    .windows(2)
    {
        assert!(
            pair[0].can_transition_to(pair[1]),
            "{} -> {}",
            pair[0],
            pair[1]
        );
    }
    assert!(
        Reserved.can_transition_to(Paid),
        "small orders skip approval"
    );
    assert!(!Received.can_transition_to(Paid), "no skipping validation");
}

#[test]
fn every_in_flight_status_can_fail_and_needs_attention_can_still_end() {
    for s in OrderStatus::IN_FLIGHT {
        assert!(s.can_transition_to(OrderStatus::Failed), "{s}");
    }
    assert!(OrderStatus::NeedsAttention.can_transition_to(OrderStatus::Failed));
    assert!(OrderStatus::NeedsAttention.can_transition_to(OrderStatus::Rejected));
}

#[test]
fn an_approved_order_can_still_be_rejected() {
    // approval-callback records APPROVED before Step Functions accepts the
    // decision; when the task has timed out meanwhile, compensation ends
    // the order REJECTED.
    assert!(OrderStatus::Approved.can_transition_to(OrderStatus::Rejected));
}

#[test]
fn statuses_serialize_as_screaming_snake_case() {
    for s in OrderStatus::ALL {
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json, serde_json::json!(s.as_str()));
        assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
    }
}

#[test]
fn value_types_refuse_bad_input() {
    assert!(Sku::parse("SKU-1").is_ok());
    assert!(Sku::parse("").is_err());
    assert!(Sku::parse("a/b").is_err());
    assert!(Quantity::new(0).is_err());
    assert!(Quantity::new(MAX_QUANTITY + 1).is_err());
    assert!(Quantity::new(MAX_QUANTITY).is_ok());
    assert!(Email::parse("a@b.example").is_ok());
    for bad in [
        "a",
        "a@b",
        "@b.example",
        "a@@b.example",
        "a b@c.example",
        "a@.example",
    ] {
        assert!(Email::parse(bad).is_err(), "{bad}");
    }
    assert!(PaymentToken::parse("tok_visa").is_ok());
    assert!(PaymentToken::parse("visa").is_err());
    assert!(PaymentToken::parse("tok_").is_err());
}

#[test]
fn a_priced_line_shows_its_unit_price_and_total() {
    let eur = crate::Currency::parse("EUR").unwrap();
    let line = PricedLine {
        sku: Sku::parse("SKU-1").unwrap(),
        name: "Beans".into(),
        quantity: Quantity::new(2).unwrap(),
        unit_price_cents: 1_999,
    };
    assert_eq!(line.unit_price(eur).to_string(), "19.99 EUR");
    assert_eq!(line.line_total_text(eur), "39.98 EUR");
    let huge = PricedLine {
        unit_price_cents: i64::MAX,
        ..line
    };
    assert_eq!(huge.line_total_text(eur), "");
}

#[test]
fn value_types_parse_from_str_and_deserialize_by_the_same_rules() {
    assert_eq!("SKU-1".parse::<Sku>(), Sku::parse("SKU-1"));
    assert_eq!(
        "a/b".parse::<Sku>().unwrap_err().to_string(),
        "may only contain letters, digits and . _ -"
    );
    assert_eq!("a@b.example".parse::<Email>(), Email::parse("a@b.example"));
    assert!("a@b".parse::<Email>().is_err());
    assert_eq!(
        "tok_visa".parse::<PaymentToken>().unwrap().to_string(),
        "tok_visa"
    );
    assert!("visa".parse::<PaymentToken>().is_err());
    let err = serde_json::from_value::<Sku>(serde_json::json!("a/b")).unwrap_err();
    assert!(err.to_string().contains("may only contain"), "{err}");
}
