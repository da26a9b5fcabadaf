//! Accounts and tenancy: roles inside an organisation and what each may do.
//!
//! The policy lives here, in one table ([`Role::allows`]), so the web plane asks one question per
//! route ("may this caller do X in this organisation?") and the answer is testable without HTTP.

use serde::{Deserialize, Serialize};

use crate::Invalid;
use crate::ids::{InvitationId, OrgId, ShowId, TokenId, UserId};

/// A member's role in an organisation, from most to least powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Created the organisation; the only one who can make or remove other owners.
    Owner,
    /// Runs the organisation day to day: catalogue, shows, team, tokens.
    Admin,
    /// Presents shows: reads the catalogue, prepares run of show, goes live.
    Host,
    /// Keeps the chat clean during shows.
    Moderator,
}

/// Something a caller may want to do inside one organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// See the organisation, its catalogue and its shows.
    Read,
    /// Create, edit, import and delete products.
    EditCatalogue,
    /// Create, edit, schedule and delete shows.
    EditShows,
    /// Edit a show's run of show and prepared answers; go live.
    PresentShows,
    /// Invite, change and remove members.
    ManageTeam,
    /// Rename the organisation, change its currency and time zone.
    ManageOrg,
    /// Create and revoke API tokens.
    ManageTokens,
    /// Moderate live rooms: see and lift bans.
    Moderate,
    /// See orders (buyers' addresses), mark them paid or fulfilled, cancel them.
    ManageOrders,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Host, Role::Moderator];

    pub fn allows(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Owner | Role::Admin => true,
            Role::Host => matches!(action, Read | PresentShows | Moderate),
            Role::Moderator => matches!(action, Read | Moderate),
        }
    }

    /// Whether someone with this role may give `other` to a member (or take it away).
    /// Only owners make owners; admins manage everyone below owner.
    pub fn may_assign(self, other: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => other != Role::Owner,
            Role::Host | Role::Moderator => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Host => "host",
            Role::Moderator => "moderator",
        }
    }

    pub fn parse(s: &str) -> Result<Role, Invalid> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Invalid::new("role", format!("{s:?} is not a role: use owner, admin, host or moderator")))
    }
}

/// A person who can sign in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
}

/// An organisation: a merchant with its catalogue, shows and team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Org {
    pub id: OrgId,
    pub name: String,
    /// The currency of the catalogue's prices.
    pub currency: crate::money::Currency,
    /// Where shows are planned unless a show says otherwise.
    pub time_zone: String,
    /// Words the live chat refuses in viewers' messages (case does not matter).
    pub blocked_words: Vec<String>,
    /// Shipping, taxes and the merchant's own shop for hand-off.
    pub shop: crate::shop::ShopSettings,
    pub created_at: i64,
}

/// Checks a list of blocked words: at most 500, each 1 to 50 characters, trimmed, lower case,
/// without repeats.
pub fn blocked_words(words: &[String]) -> Result<Vec<String>, Invalid> {
    if words.len() > 500 {
        return Err(Invalid::new("blocked_words", "at most 500 words"));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let w = crate::text::limit(&format!("blocked_words/{i}"), w, 50)?.to_lowercase();
        if !w.is_empty() && !out.contains(&w) {
            out.push(w);
        }
    }
    Ok(out)
}

/// One person's place in an organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub created_at: i64,
}

/// What someone was invited to: a role in the organisation, or hosting one show as a creator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Invitation {
    pub id: InvitationId,
    pub org_id: OrgId,
    pub email: String,
    /// The member role offered; absent for a creator invited to one show.
    pub role: Option<Role>,
    /// The show a creator is invited to host.
    pub show_id: Option<ShowId>,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
}

/// An API token for an integration; the secret is shown once at creation and kept only hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: TokenId,
    pub org_id: OrgId,
    pub name: String,
    /// The token acts with this role's permissions (never owner).
    pub role: Role,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Checks an email address enough to catch typos; the real check is that mail arrives.
pub fn email(value: &str) -> Result<String, Invalid> {
    let value = value.trim().to_lowercase();
    let ok = value.len() <= 254
        && value
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'))
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(Invalid::new("email", format!("{value:?} is not an email address")));
    }
    Ok(value)
}

/// Password rules: long enough to matter, short enough not to be a hashing denial of service.
pub fn password(value: &str) -> Result<&str, Invalid> {
    let n = value.chars().count();
    if n < 8 {
        return Err(Invalid::new("password", "must be at least 8 characters"));
    }
    if value.len() > 256 {
        return Err(Invalid::new("password", "must be at most 256 bytes"));
    }
    Ok(value)
}

/// A guest viewer's chosen display name: 1 to 40 characters, no control characters.
pub fn display_name(value: &str) -> Result<String, Invalid> {
    crate::text::name("display_name", value, 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(Role::Owner.allows(Action::ManageOrg));
        assert!(Role::Admin.allows(Action::ManageTeam));
        assert!(!Role::Host.allows(Action::EditCatalogue));
        assert!(Role::Host.allows(Action::PresentShows));
        assert!(!Role::Moderator.allows(Action::PresentShows));
        assert!(Role::Moderator.allows(Action::Read));
        assert!(!Role::Admin.may_assign(Role::Owner));
        assert!(Role::Owner.may_assign(Role::Owner));
    }

    #[test]
    fn emails() {
        assert_eq!(email(" Anna@Boutique.IT ").unwrap(), "anna@boutique.it");
        assert!(email("anna").is_err());
        assert!(email("anna@it").is_err());
        assert!(email("a b@c.it").is_err());
    }
}

/// A viewer banned from an organisation's live chats (until a moderator lifts the ban).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RoomBan {
    /// `usr_...` (an account) or `gst_...` (a guest).
    pub identity: String,
    /// Their display name when banned.
    pub name: String,
    /// The host or moderator who banned them.
    pub by: String,
    /// The show they were banned in.
    #[schema(value_type = Option<String>)]
    pub show_id: Option<crate::ids::ShowId>,
    /// Unix ms.
    pub created_at: i64,
}
