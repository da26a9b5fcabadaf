//! Who is calling: a signed-in person (session cookie), an integration (API token), a guest
//! viewer, or nobody; and whether they may do what they ask in an organisation.
//!
//! Session cookies are `HttpOnly; SameSite=Lax` (plus `Secure` behind TLS). Writes authenticated
//! by cookie must echo the session's CSRF token in `X-CSRF-Token`; API tokens are not sent by
//! browsers on their own, so token writes need no CSRF token. Every secret is stored hashed.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use sha2::{Digest, Sha256};
use vetrina_domain::account::{Action, ApiToken, Role, User};
use vetrina_domain::ids::{OrgId, ShowId};
use vetrina_store::accounts::Guest;
use vetrina_store::{now_ms, random_token};

use crate::AppState;
use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "vetrina_session";
pub const GUEST_COOKIE: &str = "vetrina_guest";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Prefix of API tokens, so leaked tokens are easy to recognise in logs and scanners.
pub const TOKEN_PREFIX: &str = "vt_";

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA-256 of a high-entropy secret, in hex. Fine for random tokens (not for passwords).
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    vetrina_domain::text::hex(&digest)
}

/// A new random secret (160 bits).
pub fn new_secret() -> String {
    random_token(20)
}

/// Password hashing parameters. Production uses Argon2id's recommended defaults; tests may
/// lower the cost so a suite signing in hundreds of times stays fast.
#[derive(Clone, Copy, Debug)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl Default for PasswordCost {
    fn default() -> Self {
        PasswordCost { memory_kib: Params::DEFAULT_M_COST, iterations: Params::DEFAULT_T_COST }
    }
}

fn argon2(cost: PasswordCost) -> Argon2<'static> {
    // The parameters are within Argon2's limits by construction (memory >= 8 KiB, t >= 1).
    let params = Params::new(cost.memory_kib.max(8), cost.iterations.max(1), 1, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str, cost: PasswordCost) -> anyhow::Result<String> {
    let mut salt_bytes = [0u8; 16];
    getrandom::getrandom(&mut salt_bytes)?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = argon2(cost).hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    Ok(hash.to_string())
}

/// Checks a password against a stored hash; the hash carries its own parameters.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A hash to verify against when the account does not exist, so the answer takes as long as
/// for a wrong password and does not tell which emails have accounts.
pub fn dummy_hash(cost: PasswordCost) -> String {
    hash_password("not a real password", cost).unwrap_or_default()
}

/// The value of one cookie from the `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// Whether cookies set in answer to this request must be `Secure`: the server's public URL is
/// https, or a TLS-terminating proxy in front says the request came over https.
pub fn secure_request(headers: &HeaderMap, public_url_is_https: bool) -> bool {
    public_url_is_https
        || headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
        || headers
            .get(header::FORWARDED)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split([';', ',']).any(|p| p.trim().eq_ignore_ascii_case("proto=https")))
}

/// A `Set-Cookie` value for a cookie only our pages' scripts send back (never readable by them).
pub fn set_cookie(name: &str, value: &str, max_age_s: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}")
}

/// Who made the request.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A person signed in with a session cookie.
    Person { user: User, session_hash: String, csrf_token: String, expires_at: i64 },
    /// An integration with an API token of one organisation.
    Token(ApiToken),
    /// Nobody signed in (maybe a guest viewer, see [`GuestViewer`]).
    Anonymous,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let now = now_ms();
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let token = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::trim)
                .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "the Authorization header must be \"Bearer <API token>\""))?;
            let key = format!("t:{}", hash_secret(token));
            if let Some(caller) = state.callers.get(&key) {
                return Ok(caller);
            }
            let generation = state.generation.current();
            let found = state.store.use_api_token(&key[2..], now).await?;
            let caller = found
                .map(Caller::Token)
                .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "the API token is unknown or was revoked"))?;
            state.callers.put(key, caller.clone(), generation);
            return Ok(caller);
        }
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else { return Ok(Caller::Anonymous) };
        let session_hash = hash_secret(secret);
        let key = format!("s:{session_hash}");
        let caller = match state.callers.get(&key) {
            Some(caller) => caller,
            None => {
                let generation = state.generation.current();
                let Some(session) = state.store.session(&session_hash, now).await? else { return Ok(Caller::Anonymous) };
                let caller =
                    Caller::Person { user: session.user, session_hash, csrf_token: session.csrf_token, expires_at: session.expires_at };
                state.callers.put(key, caller.clone(), generation);
                caller
            }
        };
        let Caller::Person { expires_at, csrf_token, .. } = &caller else { return Ok(Caller::Anonymous) };
        if *expires_at <= now {
            return Ok(Caller::Anonymous);
        }
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !same_secret(sent, csrf_token) {
                return Err(ApiError::forbidden(
                    "missing or wrong X-CSRF-Token header: writes made with a session cookie must echo the csrf_token of GET /api/v1/session",
                ));
            }
        }
        Ok(caller)
    }
}

/// What a caller may do in one organisation.
#[derive(Clone, Debug)]
pub struct Access {
    pub org_id: OrgId,
    /// The member role, or the token's role. `None` for a creator acting on their own show.
    pub role: Option<Role>,
}

impl Caller {
    /// Who acted, for logs people read: a person's name, or an API token's.
    pub fn display_name(&self) -> String {
        match self {
            Caller::Person { user, .. } => user.name.clone(),
            Caller::Token(t) => format!("API token {}", t.name),
            Caller::Anonymous => "anonymous".into(),
        }
    }

    pub fn user(&self) -> Result<&User, ApiError> {
        match self {
            Caller::Person { user, .. } => Ok(user),
            Caller::Token(_) => Err(ApiError::forbidden("this needs a person signed in, not an API token")),
            Caller::Anonymous => Err(ApiError::unauthorized()),
        }
    }

    /// The caller's role in `org`. Organisations the caller is not part of are "not found", so
    /// their ids reveal nothing.
    pub async fn role_in(&self, state: &AppState, org: &OrgId) -> Result<Role, ApiError> {
        match self {
            Caller::Anonymous => Err(ApiError::unauthorized()),
            Caller::Token(t) if &t.org_id == org => Ok(t.role),
            Caller::Token(_) => Err(ApiError::not_found("organisation")),
            Caller::Person { user, .. } => {
                let key = (org.clone(), user.id.clone());
                let role = match state.roles.get(&key) {
                    Some(role) => role,
                    None => {
                        let generation = state.generation.current();
                        let role = state.store.role_in(org, &user.id).await?;
                        state.roles.put(key, role, generation);
                        role
                    }
                };
                role.ok_or_else(|| ApiError::not_found("organisation"))
            }
        }
    }

    /// Checks that the caller may do `action` in `org`.
    pub async fn require(&self, state: &AppState, org: &OrgId, action: Action) -> Result<Access, ApiError> {
        let role = self.role_in(state, org).await?;
        if !role.allows(action) {
            return Err(ApiError::forbidden(format!("a {} may not do this", role.as_str())));
        }
        Ok(Access { org_id: org.clone(), role: Some(role) })
    }

    /// Like [`Caller::require`], but a creator invited to `show` may read it and present it.
    pub async fn require_for_show(&self, state: &AppState, org: &OrgId, show: &ShowId, action: Action) -> Result<Access, ApiError> {
        match self.require(state, org, action).await {
            Ok(access) => Ok(access),
            // A creator may also be a member with a lesser role: 404 (not a member) and 403 (role
            // too low) both fall back to the show's own grant.
            Err(e)
                if matches!(e.status(), StatusCode::NOT_FOUND | StatusCode::FORBIDDEN)
                    && matches!(action, Action::Read | Action::PresentShows) =>
            {
                let Caller::Person { user, .. } = self else { return Err(e) };
                if state.store.is_creator(org, show, &user.id).await? { Ok(Access { org_id: org.clone(), role: None }) } else { Err(e) }
            }
            Err(e) => Err(e),
        }
    }
}

/// A guest viewer's identity from the guest cookie, if any.
pub struct GuestViewer(pub Option<Guest>);

impl FromRequestParts<AppState> for GuestViewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<GuestViewer, ApiError> {
        match cookie(&parts.headers, GUEST_COOKIE) {
            Some(secret) => Ok(GuestViewer(state.store.guest(&hash_secret(secret)).await?)),
            None => Ok(GuestViewer(None)),
        }
    }
}

/// The address a request comes from, for limits per address: the peer, or, when the peer is this
/// machine (a reverse proxy in front), the address the proxy saw (the last `X-Forwarded-For`
/// entry). `None` for requests from this machine itself without a proxy header (the operator's
/// own tools and load tests), which no per-address limit applies to. An IPv4 address seen
/// through an IPv6 socket (`::ffff:a.b.c.d`) is that IPv4 address; an IPv6 address stands for its
/// /64, the network one subscriber is given, so rotating addresses within it gains nothing.
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl ClientIp {
    pub fn of(peer: Option<std::net::IpAddr>, headers: &HeaderMap) -> ClientIp {
        let Some(peer) = peer.map(|p| p.to_canonical()) else { return ClientIp(None) };
        if !peer.is_loopback() {
            return ClientIp(Some(network(peer)));
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
            .next_back();
        ClientIp(forwarded.map(|a| network(a.to_canonical())))
    }
}

/// An IPv6 address's /64; an IPv4 address itself.
fn network(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => std::net::IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientIp, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<crate::net::PeerAddr>>().map(|c| c.0.0.ip());
        Ok(ClientIp::of(peer, &parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_addresses() {
        let remote: std::net::IpAddr = "203.0.113.7".parse().unwrap();
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-for", "10.9.9.9, 198.51.100.4".parse().unwrap());
        assert_eq!(ClientIp::of(Some(remote), &proxied).0, Some(remote), "only a local proxy is believed");
        assert_eq!(ClientIp::of(Some(local), &proxied).0, Some("198.51.100.4".parse().unwrap()), "the address our proxy saw");
        assert_eq!(ClientIp::of(Some(local), &HeaderMap::new()).0, None, "this machine itself");
        assert_eq!(ClientIp::of(None, &proxied).0, None);
        // A dual-stack listener sees a local proxy as ::ffff:127.0.0.1.
        let mapped: std::net::IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(ClientIp::of(Some(mapped), &proxied).0, Some("198.51.100.4".parse().unwrap()), "a mapped local proxy is local");
        let mapped_remote: std::net::IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(ClientIp::of(Some(mapped_remote), &HeaderMap::new()).0, Some(remote));
        // One subscriber's /64 is one address.
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(ClientIp::of(Some(a), &HeaderMap::new()).0, ClientIp::of(Some(b), &HeaderMap::new()).0);
        assert_eq!(ClientIp::of(Some(a), &HeaderMap::new()).0, Some("2001:db8:1:2::".parse().unwrap()));
        assert_ne!(ClientIp::of(Some("2001:db8:1:3::1".parse().unwrap()), &HeaderMap::new()).0, ClientIp::of(Some(a), &HeaderMap::new()).0);
    }

    #[test]
    fn passwords() {
        let cost = PasswordCost { memory_kib: 64, iterations: 1 };
        let hash = hash_password("correct horse", cost).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(hash_password("correct horse", cost).unwrap(), hash, "salted");
    }

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; vetrina_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
        assert!(set_cookie("x", "y", 10, true).ends_with("; Secure"));
    }
}
