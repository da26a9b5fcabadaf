//! Accounts and tenancy: roles inside an organisation and what each may do.
//!
//! The policy lives here, in one table ([`Role::allows`]), so the web plane asks one question per
//! route ("may this caller do X in this organisation?") and the answer is testable without HTTP.

use serde::{Deserialize, Serialize};

use crate::Invalid;

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
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Host, Role::Moderator];

    pub fn allows(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Owner | Role::Admin => true,
            Role::Host => matches!(action, Read | PresentShows),
            Role::Moderator => matches!(action, Read),
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

/// Checks an email address enough to catch typos; the real check is that mail arrives.
pub fn email(value: &str) -> Result<String, Invalid> {
    let value = value.trim().to_lowercase();
    let ok = value.len() <= 254
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
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
    crate::text::required("display_name", value, 40)
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
