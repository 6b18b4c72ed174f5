//! API Gateway HTTP API (payload format 2.0) helpers: reading a request event,
//! building responses, and building events from plain HTTP requests (saga-local
//! and tests hand the same event shape to the same handler code).

use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription, ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue, Method};
use base64::Engine as _;
use serde::Serialize;

pub use aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest as Request, ApiGatewayV2httpResponse as Response,
};
pub use aws_lambda_events::http;

/// The request body could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the request body is not valid base64")]
pub struct BodyError(#[source] base64::DecodeError);

/// The method (from `requestContext.http.method`).
pub fn method(req: &Request) -> &Method {
    &req.request_context.http.method
}

/// The path without the query string.
pub fn path(req: &Request) -> &str {
    req.raw_path
        .as_deref()
        .or(req.request_context.http.path.as_deref())
        .unwrap_or("/")
}

/// A header value that is not UTF-8 text. API Gateway hands header bytes on as
/// they came, so a handler must refuse such a value rather than act as if the
/// header were absent (an ignored `Idempotency-Key` means a second charge).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {name} header is not valid UTF-8 text")]
pub struct HeaderError {
    /// The header's name, lower-case.
    pub name: String,
}

/// A header value, `None` when absent or not UTF-8 (names are
/// case-insensitive). Where an undecodable value must not pass for a missing
/// one, use [`checked_header`].
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    checked_header(req, name).ok().flatten()
}

/// A header value as UTF-8 text; an error when it is present but not UTF-8.
/// (`HeaderValue::to_str` is stricter, visible ASCII only, and would make any
/// non-ASCII value look absent.)
pub fn checked_header<'a>(req: &'a Request, name: &str) -> Result<Option<&'a str>, HeaderError> {
    match req.headers.get(name) {
        None => Ok(None),
        Some(v) => std::str::from_utf8(v.as_bytes())
            .map(Some)
            .map_err(|_| HeaderError {
                name: name.to_ascii_lowercase(),
            }),
    }
}

/// The first header whose value is not UTF-8 text, if any.
pub fn undecodable_header(req: &Request) -> Option<HeaderError> {
    req.headers
        .iter()
        .find(|(_, v)| std::str::from_utf8(v.as_bytes()).is_err())
        .map(|(n, _)| HeaderError {
            name: n.as_str().to_owned(),
        })
}

/// The claims API Gateway's JWT authorizer verified
/// (`requestContext.authorizer.jwt.claims`, every value a string); `None`
/// when the route has no JWT authorizer.
pub fn jwt_claims(req: &Request) -> Option<&HashMap<String, String>> {
    let jwt = req.request_context.authorizer.as_ref()?.jwt.as_ref()?;
    Some(&jwt.claims)
}

/// The request as API Gateway hands it on after its JWT authorizer accepted
/// a token with these claims (`scopes` is `None` unless the route requires
/// authorization scopes).
pub fn with_jwt_claims(
    mut req: Request,
    claims: HashMap<String, String>,
    scopes: Option<Vec<String>>,
) -> Request {
    let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
    jwt.claims = claims;
    jwt.scopes = scopes;
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.jwt = Some(jwt);
    req.request_context.authorizer = Some(authorizer);
    req
}

/// A query parameter: from the parsed parameters, else from the raw query string.
pub fn query(req: &Request, name: &str) -> Option<String> {
    if let Some(v) = req.query_string_parameters.first(name) {
        return Some(v.to_owned());
    }
    let raw = req.raw_query_string.as_deref()?;
    form_urlencoded::parse(raw.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The body bytes, base64-decoded when API Gateway encoded them.
pub fn body(req: &Request) -> Result<Vec<u8>, BodyError> {
    match &req.body {
        None => Ok(Vec::new()),
        Some(b) if req.is_base64_encoded => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(BodyError),
        Some(b) => Ok(b.clone().into_bytes()),
    }
}

/// The value of `key` in an `application/x-www-form-urlencoded` body.
pub fn form_value(body: &[u8], key: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// A response with a text body.
pub fn text_response(status: u16, content_type: &str, body: String) -> Response {
    let mut resp = ApiGatewayV2httpResponse::default();
    resp.status_code = i64::from(status);
    resp.body = Some(Body::Text(body));
    with_header(resp, "content-type", content_type)
}

/// A JSON response.
pub fn json_response<T: Serialize>(status: u16, body: &T) -> Response {
    let text =
        serde_json::to_string(body).unwrap_or_else(|_| "{\"error\":\"internal error\"}".to_owned());
    text_response(status, "application/json", text)
}

/// An HTML response.
pub fn html_response(status: u16, page: String) -> Response {
    text_response(status, "text/html; charset=utf-8", page)
}

/// Add a header (ignored if the name or value is not valid HTTP).
pub fn with_header(mut resp: Response, name: &str, value: &str) -> Response {
    if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        resp.headers.append(n, v);
    }
    resp
}

/// The response header `name`.
pub fn response_header<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The response body as bytes (decoding base64 if flagged).
pub fn response_body(resp: &Response) -> Vec<u8> {
    match &resp.body {
        None | Some(Body::Empty) => Vec::new(),
        Some(Body::Text(t)) if resp.is_base64_encoded => base64::engine::general_purpose::STANDARD
            .decode(t)
            .unwrap_or_else(|_| t.clone().into_bytes()),
        Some(Body::Text(t)) => t.clone().into_bytes(),
        Some(Body::Binary(b)) => b.clone(),
        Some(_) => Vec::new(),
    }
}

/// Build the event API Gateway would send for an HTTP request.
///
/// `target` is the path with an optional `?query`. A body that isn't UTF-8 is
/// base64-encoded, as API Gateway does.
pub fn event(
    method: Method,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Request {
    let (path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    let mut header_map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(*name), HeaderValue::try_from(*value)) {
            header_map.append(n, v);
        }
    }
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = method.clone();
    http.path = Some(path.to_owned());
    http.protocol = Some("HTTP/1.1".to_owned());
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some("$default".to_owned());
    context.stage = Some("$default".to_owned());
    context.http = http;

    let mut req = ApiGatewayV2httpRequest::default();
    req.version = Some("2.0".to_owned());
    req.route_key = Some("$default".to_owned());
    req.raw_path = Some(path.to_owned());
    req.raw_query_string = Some(raw_query.to_owned());
    req.query_string_parameters = raw_query.parse().unwrap_or_default();
    req.headers = header_map;
    req.request_context = context;
    match body {
        None => {}
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => req.body = Some(text.to_owned()),
            Err(_) => {
                req.body = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
                req.is_base64_encoded = true;
            }
        },
    }
    req
}

/// Escape text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_method_path_query_headers_and_body() {
        let req = event(
            Method::POST,
            "/orders?x=1&y=a%20b",
            &[("Idempotency-Key", "k1")],
            Some(b"{}"),
        );
        assert_eq!(method(&req), Method::POST);
        assert_eq!(path(&req), "/orders");
        assert_eq!(query(&req, "y").as_deref(), Some("a b"));
        assert_eq!(header(&req, "idempotency-key"), Some("k1"));
        assert_eq!(body(&req).unwrap(), b"{}");
    }

    #[test]
    fn undecodable_headers_are_errors_not_absent() {
        let mut req = event(Method::POST, "/orders", &[("accept", "*/*")], None);
        req.headers.insert(
            "idempotency-key",
            HeaderValue::from_bytes(&[b'k', 0xe9]).unwrap(),
        );
        assert_eq!(
            checked_header(&req, "Idempotency-Key"),
            Err(HeaderError {
                name: "idempotency-key".into()
            })
        );
        assert_eq!(checked_header(&req, "accept"), Ok(Some("*/*")));
        assert_eq!(checked_header(&req, "x-none"), Ok(None));
        assert_eq!(
            undecodable_header(&req).map(|e| e.name),
            Some("idempotency-key".to_owned())
        );

        // UTF-8 text that isn't ASCII is returned as it is, for the caller to judge.
        req.headers.insert(
            "idempotency-key",
            HeaderValue::from_bytes("clé".as_bytes()).unwrap(),
        );
        assert_eq!(checked_header(&req, "idempotency-key"), Ok(Some("clé")));
        assert_eq!(undecodable_header(&req), None);
    }

    #[test]
    fn jwt_claims_sit_where_api_gateway_puts_them() {
        let plain = event(Method::GET, "/orders/x", &[], None);
        assert_eq!(jwt_claims(&plain), None);
        let claims = HashMap::from([("sub".to_owned(), "c-1".to_owned())]);
        let req = with_jwt_claims(plain, claims.clone(), None);
        assert_eq!(jwt_claims(&req), Some(&claims));
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(
            json["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
            "c-1"
        );
        // The shape API Gateway sends parses to the same claims.
        let back: Request = serde_json::from_value(json).unwrap();
        assert_eq!(jwt_claims(&back), Some(&claims));
    }

    #[test]
    fn binary_bodies_are_base64_encoded_and_decoded() {
        let req = event(Method::POST, "/x", &[], Some(&[0xff, 0x00, 0x41]));
        assert!(req.is_base64_encoded);
        assert_eq!(body(&req).unwrap(), vec![0xff, 0x00, 0x41]);
    }

    #[test]
    fn events_round_trip_through_json_like_api_gateway_sends_them() {
        let req = event(
            Method::GET,
            "/orders/abc?decision=approve",
            &[("accept", "text/html")],
            None,
        );
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(json["requestContext"]["http"]["method"], "GET");
        assert_eq!(json["rawPath"], "/orders/abc");
        let back: Request = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), json);
        assert_eq!(query(&back, "decision").as_deref(), Some("approve"));
    }

    #[test]
    fn a_real_api_gateway_event_parses() {
        // Shape from the API Gateway HTTP API payload format 2.0 documentation.
        let json = serde_json::json!({
            "version": "2.0",
            "routeKey": "POST /approvals/{approvalId}",
            "rawPath": "/approvals/abc",
            "rawQueryString": "",
            "headers": {"content-type": "application/x-www-form-urlencoded"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "api-id", "domainName": "id.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "id", "http": {"method": "POST", "path": "/approvals/abc", "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1", "userAgent": "agent"}, "requestId": "id", "routeKey": "POST /approvals/{approvalId}",
                "stage": "$default", "time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390u64
            },
            "pathParameters": {"approvalId": "abc"},
            "body": "ZGVjaXNpb249YXBwcm92ZQ==",
            "isBase64Encoded": true
        });
        let req: Request = serde_json::from_value(json).unwrap();
        assert_eq!(path(&req), "/approvals/abc");
        assert_eq!(
            form_value(&body(&req).unwrap(), "decision").as_deref(),
            Some("approve")
        );
    }

    #[test]
    fn responses_hold_status_headers_and_body() {
        let resp = with_header(
            json_response(202, &serde_json::json!({"a": 1})),
            "location",
            "/orders/1",
        );
        assert_eq!(resp.status_code, 202);
        assert_eq!(
            response_header(&resp, "content-type"),
            Some("application/json")
        );
        assert_eq!(response_header(&resp, "location"), Some("/orders/1"));
        assert_eq!(response_body(&resp), br#"{"a":1}"#);
    }

    #[test]
    fn html_escape_covers_the_five_characters() {
        assert_eq!(
            html_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
