//! `--auth-hs256-secret`: what API Gateway's JWT authorizer does in front of
//! the order routes (infra/api.tf), done locally with a shared HS256 secret
//! instead of the issuer's JWKS.
//!
//! As API Gateway: the token comes from `Authorization` (with or without the
//! `Bearer ` prefix); its signature, `exp` and `nbf` are checked without
//! leeway, and `iss` / `aud` when configured; a request without a valid token
//! is `401 {"message":"Unauthorized"}` and never reaches the handler; an
//! accepted token's claims go into `requestContext.authorizer.jwt.claims`,
//! every value a string (numbers as decimal text, arrays as `[a b]`).
//! The approval routes are not behind it: their link is the capability.

use std::collections::HashMap;
use std::path::PathBuf;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// How the local JWT authorizer is configured (`saga-local serve --auth-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// File holding the HS256 secret (`--auth-hs256-secret`); trailing
    /// whitespace (the newline of `openssl rand -hex 32 > file`) is not part of it.
    pub hs256_secret_file: PathBuf,
    /// The required `iss` (`--auth-issuer`), like `jwt_issuer` in Terraform.
    pub issuer: Option<String>,
    /// Accepted `aud` values (`--auth-audience`, repeatable), like `jwt_audience`.
    pub audience: Vec<String>,
}

/// Why the authorizer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the HS256 secret {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the HS256 secret {path} is empty")]
    Empty { path: PathBuf },
}

/// Checks bearer tokens the way the configured authorizer would.
pub struct Authorizer {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Authorizer")
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .finish_non_exhaustive()
    }
}

impl Authorizer {
    /// Read the secret and fix the checks.
    pub fn load(config: &AuthConfig) -> Result<Self, AuthError> {
        let path = &config.hs256_secret_file;
        let raw = std::fs::read(path).map_err(|source| AuthError::Read {
            path: path.clone(),
            source,
        })?;
        let end = raw
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        let empty = || AuthError::Empty { path: path.clone() };
        if end == 0 {
            return Err(empty());
        }
        let key = DecodingKey::from_secret(&raw[..end]).map_err(|_| empty())?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_nbf = true;
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
        }
        if config.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&config.audience);
        }
        Ok(Self { key, validation })
    }

    /// The request with the token's claims where API Gateway puts them, or
    /// the `401` API Gateway answers instead of invoking the function.
    pub fn authorize(&self, req: saga_apigw::Request) -> Result<saga_apigw::Request, Unauthorized> {
        let claims = self.claims(&req)?;
        Ok(saga_apigw::with_jwt_claims(req, claims, None))
    }

    fn claims(&self, req: &saga_apigw::Request) -> Result<HashMap<String, String>, Unauthorized> {
        let value = saga_apigw::checked_header(req, "authorization")
            .ok()
            .flatten()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(Unauthorized::Missing)?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => value,
        };
        let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(
            token,
            &self.key,
            &self.validation,
        )
        .map_err(|e| Unauthorized::Invalid(describe(e.kind())))?;
        Ok(data
            .claims
            .into_iter()
            .map(|(name, value)| (name, claim_text(&value)))
            .collect())
    }
}

/// Why a request was refused; as a response, API Gateway's `401`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthorized {
    /// No token came.
    Missing,
    /// The token was refused, and why (for `WWW-Authenticate`).
    Invalid(&'static str),
}

fn describe(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidIssuer => "the token has the wrong issuer",
        ErrorKind::InvalidAudience => "the token has the wrong audience",
        ErrorKind::InvalidSignature => "the token's signature is invalid",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted",
        _ => "the token is malformed",
    }
}

/// A claim as API Gateway hands it to the function: always a string.
fn claim_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(claim_text).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

impl IntoResponse for Unauthorized {
    /// API Gateway's answer to a request its JWT authorizer refused.
    fn into_response(self) -> Response {
        unauthorized(self)
    }
}

fn unauthorized(why: Unauthorized) -> Response {
    let challenge = match why {
        Unauthorized::Missing => "Bearer".to_owned(),
        Unauthorized::Invalid(description) => {
            format!("Bearer error=\"invalid_token\", error_description=\"{description}\"")
        }
    };
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"message":"Unauthorized"}"#,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use saga_apigw::http::Method;
    use serde_json::json;

    const SECRET: &[u8] = b"local-test-secret";

    fn authorizer(issuer: Option<&str>, audience: &[&str]) -> (tempfile::TempDir, Authorizer) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, [SECRET, b"\n"].concat()).unwrap();
        let config = AuthConfig {
            hs256_secret_file: file,
            issuer: issuer.map(str::to_owned),
            audience: audience.iter().map(|a| (*a).to_owned()).collect(),
        };
        (dir, Authorizer::load(&config).unwrap())
    }

    fn token(claims: &Value, secret: &[u8]) -> String {
        let key = EncodingKey::from_secret(secret).unwrap();
        encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn request(authorization: Option<&str>) -> saga_apigw::Request {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| ("authorization", a))
            .into_iter()
            .collect();
        saga_apigw::event(Method::GET, "/orders/x", &headers, None)
    }

    fn challenge(result: Result<saga_apigw::Request, Unauthorized>) -> String {
        let resp = result.expect_err("refused").into_response();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        resp.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn valid_tokens_put_string_claims_where_api_gateway_does() {
        let (_dir, auth) = authorizer(None, &[]);
        let exp = now() + 300;
        let t = token(
            &json!({"sub": "c-1", "exp": exp, "groups": ["a", "b"]}),
            SECRET,
        );
        for value in [format!("Bearer {t}"), t.clone()] {
            let req = auth.authorize(request(Some(&value))).unwrap();
            let claims = saga_apigw::jwt_claims(&req).unwrap();
            assert_eq!(claims["sub"], "c-1");
            assert_eq!(claims["exp"], exp.to_string());
            assert_eq!(claims["groups"], "[a b]");
        }
    }

    #[test]
    fn missing_forged_expired_and_premature_tokens_are_401() {
        let (_dir, auth) = authorizer(None, &[]);
        assert_eq!(challenge(auth.authorize(request(None))), "Bearer");
        let forged = token(&json!({"sub": "c-1", "exp": now() + 300}), b"another");
        assert!(
            challenge(auth.authorize(request(Some(&format!("Bearer {forged}")))))
                .contains("signature")
        );
        let expired = token(&json!({"sub": "c-1", "exp": now() - 1}), SECRET);
        assert!(challenge(auth.authorize(request(Some(&expired)))).contains("expired"));
        let early = token(
            &json!({"sub": "c-1", "exp": now() + 300, "nbf": now() + 60}),
            SECRET,
        );
        assert!(challenge(auth.authorize(request(Some(&early)))).contains("not valid yet"));
        let no_exp = token(&json!({"sub": "c-1"}), SECRET);
        assert!(challenge(auth.authorize(request(Some(&no_exp)))).contains("invalid_token"));
        assert!(challenge(auth.authorize(request(Some("Bearer garbage")))).contains("malformed"));
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let (_dir, auth) = authorizer(Some("https://issuer.example"), &["orders"]);
        let good = json!({"sub": "c", "exp": now() + 300, "iss": "https://issuer.example", "aud": "orders"});
        assert!(auth.authorize(request(Some(&token(&good, SECRET)))).is_ok());
        let mut wrong_iss = good.clone();
        wrong_iss["iss"] = json!("https://evil.example");
        assert!(
            challenge(auth.authorize(request(Some(&token(&wrong_iss, SECRET))))).contains("issuer")
        );
        let mut wrong_aud = good.clone();
        wrong_aud["aud"] = json!("other");
        assert!(
            challenge(auth.authorize(request(Some(&token(&wrong_aud, SECRET)))))
                .contains("audience")
        );
    }

    #[test]
    fn an_empty_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "\n").unwrap();
        let config = AuthConfig {
            hs256_secret_file: file,
            issuer: None,
            audience: vec![],
        };
        assert!(matches!(
            Authorizer::load(&config),
            Err(AuthError::Empty { .. })
        ));
    }
}
