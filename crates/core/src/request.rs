//! Parsing of a client's order request, collecting every problem per field.
//!
//! `serde` stops at the first error; a client deserves the whole list, each
//! naming the field as they spelled it (`items[1].quantity`).

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::CustomerId;
use crate::order::{
    Address, Email, MAX_LINES, MAX_QUANTITY, OrderItem, PaymentToken, Quantity, Sku,
};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A valid order request. Holds no prices: those come from the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRequest {
    pub customer_id: CustomerId,
    pub email: Email,
    pub items: Vec<OrderItem>,
    pub payment_token: PaymentToken,
    pub shipping_address: Address,
}

impl OrderRequest {
    /// A digest of the request's meaning (not its bytes): the same order sent
    /// with other whitespace or key order has the same fingerprint. Used to tell
    /// an idempotent replay from a different request under the same key.
    pub fn fingerprint(&self) -> String {
        // Serializing a struct gives a fixed field order; items keep the client's order.
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(&canonical)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("request body is not valid JSON")]
    MalformedJson(FieldError),
    #[error("request body has invalid fields")]
    InvalidFields(Vec<FieldError>),
}

impl RequestError {
    /// The per-field details for the client.
    pub fn details(&self) -> Vec<FieldError> {
        match self {
            Self::TooLarge => vec![],
            Self::MalformedJson(e) => vec![e.clone()],
            Self::InvalidFields(v) => v.clone(),
        }
    }
}

const TOP_LEVEL_FIELDS: &[&str] = &["customerId", "email", "items", "payment", "shippingAddress"];
const ITEM_FIELDS: &[&str] = &["sku", "quantity"];
const PAYMENT_FIELDS: &[&str] = &["token"];
const ADDRESS_FIELDS: &[&str] = &["name", "line1", "line2", "city", "postalCode", "country"];

struct Collector(Vec<FieldError>);

impl Collector {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    fn unknown_fields(&mut self, prefix: &str, obj: &Map<String, Value>, known: &[&str]) {
        for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
            let hint = if [
                "price",
                "unitPrice",
                "unitPriceCents",
                "total",
                "totalCents",
            ]
            .contains(&key.as_str())
            {
                "unknown field: prices and totals come from the catalog, not the client"
            } else {
                "unknown field"
            };
            self.push(format!("{prefix}{key}"), hint);
        }
    }

    /// A required string field, checked by `parse`.
    fn string<T, E: ToString>(
        &mut self,
        obj: &Map<String, Value>,
        prefix: &str,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let field = format!("{prefix}{key}");
        match obj.get(key) {
            None | Some(Value::Null) => {
                self.push(field, "is required");
                None
            }
            Some(Value::String(s)) => match parse(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.push(field, e.to_string());
                    None
                }
            },
            Some(other) => {
                self.push(field, format!("must be a string, got {}", type_name(other)));
                None
            }
        }
    }

    fn object<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        prefix: &str,
    ) -> Option<&'a Map<String, Value>> {
        let field = format!("{prefix}{key}");
        match obj.get(key) {
            None | Some(Value::Null) => {
                self.push(field, "is required");
                None
            }
            Some(Value::Object(o)) => Some(o),
            Some(other) => {
                self.push(
                    field,
                    format!("must be an object, got {}", type_name(other)),
                );
                None
            }
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn text(max: usize) -> impl Fn(&str) -> Result<String, String> {
    move |s: &str| {
        let trimmed = s.trim();
        if trimmed.is_empty() {
            Err("must not be empty".to_owned())
        } else if trimmed.chars().count() > max {
            Err(format!("must be at most {max} characters"))
        } else if trimmed.chars().any(char::is_control) {
            Err("must not contain control characters".to_owned())
        } else {
            Ok(trimmed.to_owned())
        }
    }
}

/// Parse and check a request body.
pub fn parse_order_request(body: &[u8]) -> Result<OrderRequest, RequestError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(RequestError::TooLarge);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        RequestError::MalformedJson(FieldError {
            field: "body".into(),
            message: e.to_string(),
        })
    })?;
    parse_order_value(&value)
}

/// Parse and check an already-decoded JSON body.
pub fn parse_order_value(value: &Value) -> Result<OrderRequest, RequestError> {
    let mut c = Collector(Vec::new());
    let Some(obj) = value.as_object() else {
        c.push(
            "body",
            format!("must be a JSON object, got {}", type_name(value)),
        );
        return Err(RequestError::InvalidFields(c.0));
    };
    c.unknown_fields("", obj, TOP_LEVEL_FIELDS);

    let customer_id = c.string(obj, "", "customerId", CustomerId::parse);
    let email = c.string(obj, "", "email", Email::parse);
    let items = parse_items(&mut c, obj.get("items"));
    let payment_token = c.object(obj, "payment", "").and_then(|p| {
        c.unknown_fields("payment.", p, PAYMENT_FIELDS);
        c.string(p, "payment.", "token", PaymentToken::parse)
    });
    let address = c
        .object(obj, "shippingAddress", "")
        .and_then(|a| parse_address(&mut c, a));

    match (customer_id, email, items, payment_token, address) {
        (
            Some(customer_id),
            Some(email),
            Some(items),
            Some(payment_token),
            Some(shipping_address),
        ) if c.0.is_empty() => Ok(OrderRequest {
            customer_id,
            email,
            items,
            payment_token,
            shipping_address,
        }),
        _ => Err(RequestError::InvalidFields(c.0)),
    }
}

fn parse_items(c: &mut Collector, value: Option<&Value>) -> Option<Vec<OrderItem>> {
    let list = match value {
        None | Some(Value::Null) => {
            c.push("items", "is required");
            return None;
        }
        Some(Value::Array(a)) => a,
        Some(other) => {
            c.push(
                "items",
                format!("must be an array, got {}", type_name(other)),
            );
            return None;
        }
    };
    if list.is_empty() {
        c.push("items", "must contain at least one item");
        return None;
    }
    if list.len() > MAX_LINES {
        c.push(
            "items",
            format!("must contain at most {MAX_LINES} items, got {}", list.len()),
        );
        return None;
    }
    let before = c.0.len();
    let mut items: Vec<OrderItem> = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let prefix = format!("items[{i}].");
        let Some(item) = entry.as_object() else {
            c.push(
                format!("items[{i}]"),
                format!("must be an object, got {}", type_name(entry)),
            );
            continue;
        };
        c.unknown_fields(&prefix, item, ITEM_FIELDS);
        let sku = c.string(item, &prefix, "sku", Sku::parse);
        let quantity = match item.get("quantity") {
            None | Some(Value::Null) => {
                c.push(format!("{prefix}quantity"), "is required");
                None
            }
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(q) => match Quantity::new(q) {
                    Ok(q) => Some(q),
                    Err(e) => {
                        c.push(format!("{prefix}quantity"), e.to_string());
                        None
                    }
                },
                None => {
                    c.push(
                        format!("{prefix}quantity"),
                        format!("must be a whole number between 1 and {MAX_QUANTITY}"),
                    );
                    None
                }
            },
            Some(other) => {
                c.push(
                    format!("{prefix}quantity"),
                    format!("must be a number, got {}", type_name(other)),
                );
                None
            }
        };
        if let (Some(sku), Some(quantity)) = (sku, quantity) {
            if let Some(first) = items.iter().position(|it| it.sku == sku) {
                c.push(
                    format!("{prefix}sku"),
                    format!("duplicates items[{first}].sku; put the total quantity on one line"),
                );
            } else {
                items.push(OrderItem { sku, quantity });
            }
        }
    }
    (c.0.len() == before).then_some(items)
}

fn parse_address(c: &mut Collector, a: &Map<String, Value>) -> Option<Address> {
    let p = "shippingAddress.";
    c.unknown_fields(p, a, ADDRESS_FIELDS);
    let name = c.string(a, p, "name", text(100));
    let line1 = c.string(a, p, "line1", text(200));
    let line2 = match a.get("line2") {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) if s.trim().is_empty() => Some(None),
        Some(_) => c.string(a, p, "line2", text(200)).map(Some),
    };
    let city = c.string(a, p, "city", text(100));
    let postal_code = c.string(a, p, "postalCode", |s: &str| {
        let s = s.trim();
        if s.is_empty() || s.len() > 16 {
            Err("must be 1 to 16 characters".to_owned())
        } else if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-')
        {
            Err("may only contain letters, digits, spaces and -".to_owned())
        } else {
            Ok(s.to_owned())
        }
    });
    let country = c.string(a, p, "country", |s: &str| {
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(s.to_owned())
        } else {
            Err("must be an ISO 3166-1 alpha-2 code like DE".to_owned())
        }
    });
    Some(Address {
        name: name?,
        line1: line1?,
        line2: line2?,
        city: city?,
        postal_code: postal_code?,
        country: country?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "customerId": "c-1",
            "email": "a@b.example",
            "items": [{"sku": "SKU-1", "quantity": 2}],
            "payment": {"token": "tok_visa"},
            "shippingAddress": {"name": "Ada", "line1": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"}
        })
    }

    fn fields(err: RequestError) -> Vec<String> {
        err.details().into_iter().map(|d| d.field).collect()
    }

    #[test]
    fn a_valid_request_parses() {
        let req = parse_order_value(&valid()).unwrap();
        assert_eq!(req.items.len(), 1);
        assert_eq!(req.items[0].quantity.get(), 2);
        assert_eq!(req.shipping_address.country, "DE");
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut body = valid();
        body["email"] = json!("nope");
        body["items"] = json!([{"sku": "SKU-1", "quantity": 0}, {"sku": "", "quantity": "2"}, 7]);
        body["payment"] = json!({"token": 5});
        body["shippingAddress"]["country"] = json!("Germany");
        let err = parse_order_value(&body).unwrap_err();
        assert_eq!(
            fields(err),
            vec![
                "email",
                "items[0].quantity",
                "items[1].sku",
                "items[1].quantity",
                "items[2]",
                "payment.token",
                "shippingAddress.country"
            ]
        );
    }

    #[test]
    fn empty_items_too_many_items_and_huge_quantities_are_refused() {
        let mut body = valid();
        body["items"] = json!([]);
        assert_eq!(fields(parse_order_value(&body).unwrap_err()), vec!["items"]);

        let many: Vec<Value> = (0..=MAX_LINES)
            .map(|i| json!({"sku": format!("S{i}"), "quantity": 1}))
            .collect();
        body["items"] = Value::Array(many);
        assert_eq!(fields(parse_order_value(&body).unwrap_err()), vec!["items"]);

        body["items"] =
            json!([{"sku": "SKU-1", "quantity": 1.5}, {"sku": "SKU-2", "quantity": 1_000_000}]);
        assert_eq!(
            fields(parse_order_value(&body).unwrap_err()),
            vec!["items[0].quantity", "items[1].quantity"]
        );
    }

    #[test]
    fn client_prices_are_refused_with_a_hint() {
        let mut body = valid();
        body["totalCents"] = json!(1);
        let err = parse_order_value(&body).unwrap_err();
        let details = err.details();
        assert_eq!(details[0].field, "totalCents");
        assert!(
            details[0].message.contains("catalog"),
            "{}",
            details[0].message
        );
    }

    #[test]
    fn duplicate_skus_are_refused() {
        let mut body = valid();
        body["items"] = json!([{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-1", "quantity": 2}]);
        assert_eq!(
            fields(parse_order_value(&body).unwrap_err()),
            vec!["items[1].sku"]
        );
    }

    #[test]
    fn malformed_json_and_oversized_bodies() {
        assert!(matches!(
            parse_order_request(b"{\"customerId\":"),
            Err(RequestError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_order_request(b"[1]"),
            Err(RequestError::InvalidFields(_))
        ));
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_order_request(&big), Err(RequestError::TooLarge));
    }

    #[test]
    fn fingerprint_ignores_formatting_but_not_content() {
        let a = parse_order_request(valid().to_string().as_bytes()).unwrap();
        let pretty = serde_json::to_string_pretty(&valid()).unwrap();
        let b = parse_order_request(pretty.as_bytes()).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let mut other = valid();
        other["items"][0]["quantity"] = json!(3);
        let c = parse_order_value(&other).unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
    }
}
