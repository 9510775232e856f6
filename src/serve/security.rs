//! Who may ask, and what every answer carries.
//!
//! - **Token**: when the server has one (always off loopback), every request must carry it:
//!   `Authorization: Bearer TOKEN`, or the cookie set when the page is opened as
//!   `/?token=TOKEN` (the address printed at start).
//! - **DNS rebinding**: on loopback without a token, the `Host` header must name the
//!   loopback address itself (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`), so a page
//!   of another site whose name resolves to 127.0.0.1 cannot read the API.
//! - **Cross-site requests**: a request that changes something (any method but GET and
//!   HEAD) must carry `X-Lookalike: 1`, which a cross-site form cannot send and a cross-site
//!   script cannot without a CORS preflight the server never grants; an `Origin` header, if
//!   present, must be this server's.
//! - **Headers**: a strict Content-Security-Policy (scripts, styles and images from the
//!   server only), no MIME sniffing, no framing, no referrer; API answers are not cached.

use super::api::ApiError;
use super::Shared;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The Content-Security-Policy of every answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The header a state-changing request must carry.
pub const REQUEST_HEADER: &str = "x-lookalike";

const COOKIE: &str = "lookalike_token";

/// Checks the request (token, host, cross-site guard), then adds the security headers to
/// the answer.
pub async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let mut response = match check(&shared, &request) {
        Ok(Some(redirect)) => redirect,
        Ok(None) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    };
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// `Ok(Some(answer))`: answer at once (the token was given in the address: set the cookie
/// and go to the page without it); `Ok(None)`: go on.
fn check(shared: &Shared, request: &Request) -> Result<Option<Response>, ApiError> {
    let headers = request.headers();
    if let Some(token) = &shared.opts.token {
        if let Some(given) = token_in_query(request.uri().query()) {
            if !same(given.as_bytes(), token.as_bytes()) {
                return Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong token"));
            }
            let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
            let mut redirect = (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, request.uri().path().to_string())],
            )
                .into_response();
            redirect.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).expect("hex token"),
            );
            return Ok(Some(redirect));
        }
        if !carries_token(headers, token) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this server needs its token: open the address it printed at start \
                 (ending in ?token=...), or send `Authorization: Bearer TOKEN`",
            ));
        }
    } else if !loopback_host(headers, shared.addr.port()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this server answers requests for 127.0.0.1, localhost or [::1] only",
        ));
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        if headers.get(REQUEST_HEADER).map(|v| v.as_bytes()) != Some(b"1") {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "requests that change something must carry the header `X-Lookalike: 1`",
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let host = headers.get(header::HOST).map(|h| h.as_bytes());
            let expected = host.map(|h| [b"http://".as_slice(), h].concat());
            if expected.as_deref() != Some(origin.as_bytes()) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "cross-site requests are refused",
                ));
            }
        }
    }
    Ok(None)
}

fn token_in_query(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
}

fn carries_token(headers: &HeaderMap, token: &str) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='));
    [bearer, cookie]
        .into_iter()
        .flatten()
        .any(|given| same(given.as_bytes(), token.as_bytes()))
}

fn loopback_host(headers: &HeaderMap, port: u16) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|name| host == format!("{name}:{port}"))
}

/// Compares in time independent of where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_from_the_header_or_the_cookie() {
        let mut h = HeaderMap::new();
        assert!(!carries_token(&h, "abc"));
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert!(carries_token(&h, "abc"));
        assert!(!carries_token(&h, "abd"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "x=1; lookalike_token=abc".parse().unwrap());
        assert!(carries_token(&h, "abc"));
        assert!(!carries_token(&h, "ab"));
        assert_eq!(token_in_query(Some("a=1&token=xyz")), Some("xyz"));
        assert_eq!(token_in_query(Some("tokens=1")), None);
    }

    #[test]
    fn only_loopback_names_with_the_port_are_hosts() {
        let host = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, v.parse().unwrap());
            loopback_host(&h, 8080)
        };
        assert!(host("127.0.0.1:8080"));
        assert!(host("localhost:8080"));
        assert!(host("[::1]:8080"));
        assert!(!host("evil.example:8080"));
        assert!(!host("127.0.0.1:9090"));
        assert!(!loopback_host(&HeaderMap::new(), 8080));
    }
}
