//! Users, sessions, organisations, members, invitations, API tokens and guests.
//!
//! Secrets (session tokens, invitation tokens, API tokens) arrive here already hashed: the store
//! never sees a usable credential.

use sqlx::Row;
use sqlx::any::AnyRow;
use vetrina_domain::account::{ApiToken, Invitation, Member, Org, Role, User};
use vetrina_domain::ids::{InvitationId, OrgId, ShowId, TokenId, UserId};
use vetrina_domain::money::Currency;

use crate::{Result, Store, StoreError, conflict_on_unique, found, json_list, new_id, now_ms};

fn user(row: &AnyRow) -> Result<User> {
    Ok(User { id: UserId(row.try_get("user_id")?), email: row.try_get("email")?, name: row.try_get("user_name")? })
}

fn role(row: &AnyRow, col: &str) -> Result<Role> {
    let text: String = row.try_get(col)?;
    Role::parse(&text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn org(row: &AnyRow) -> Result<Org> {
    let currency: String = row.try_get("currency")?;
    Ok(Org {
        id: OrgId(row.try_get("id")?),
        name: row.try_get("name")?,
        currency: Currency::parse(&currency).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        time_zone: row.try_get("time_zone")?,
        blocked_words: json_list(row, "blocked_words")?,
        shop: serde_json::from_str(&row.try_get::<String, _>("shop_settings")?)
            .map_err(|e| StoreError::Corrupt(format!("shop_settings: {e}")))?,
        created_at: row.try_get("created_at")?,
    })
}

fn invitation(row: &AnyRow) -> Result<Invitation> {
    let role_text: Option<String> = row.try_get("role")?;
    Ok(Invitation {
        id: InvitationId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        email: row.try_get("email")?,
        role: role_text.map(|r| Role::parse(&r)).transpose().map_err(|e| StoreError::Corrupt(e.to_string()))?,
        show_id: row.try_get::<Option<String>, _>("show_id")?.map(ShowId),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        accepted_at: row.try_get("accepted_at")?,
    })
}

fn api_token(row: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: TokenId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        name: row.try_get("name")?,
        role: role(row, "role")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

const USER_COLUMNS: &str = "u.id AS user_id, u.email, u.name AS user_name";

/// A signed-in session: who, and the token that cookie-authenticated writes must echo.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// A guest viewer: a display name behind a cookie.
#[derive(Clone, Debug)]
pub struct Guest {
    pub id: String,
    pub display_name: String,
}

impl Store {
    pub async fn create_user(&self, email: &str, name: &str, password_hash: &str) -> Result<User> {
        let id = new_id(UserId::PREFIX);
        sqlx::query("INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(email)
            .bind(name)
            .bind(password_hash)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, || format!("an account with the email {email} already exists")))?;
        Ok(User { id: UserId(id), email: email.to_string(), name: name.to_string() })
    }

    /// The user with this email and their password hash.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = $1"))
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((user(&r)?, r.try_get("password_hash")?))).transpose()
    }

    pub async fn set_password(&self, user_id: &UserId, password_hash: &str) -> Result<()> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn create_session(&self, user_id: &UserId, token_hash: &str, csrf_token: &str, expires_at: i64) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(user_id.as_str())
            .bind(csrf_token)
            .bind(now_ms())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The session for this token hash, if it exists and has not expired at `now`.
    pub async fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, s.csrf_token, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok(SessionRecord { user: user(&r)?, csrf_token: r.try_get("csrf_token")?, expires_at: r.try_get("expires_at")? }))
            .transpose()
    }

    /// Forgets sessions that expired before `now`; returns how many.
    pub async fn purge_expired_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    /// Creates an organisation with `owner` as its first owner.
    pub async fn create_org(&self, name: &str, currency: &Currency, time_zone: &str, owner: &UserId) -> Result<Org> {
        let id = new_id(OrgId::PREFIX);
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO orgs (id, name, currency, time_zone, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(name)
            .bind(currency.code())
            .bind(time_zone)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO members (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(owner.as_str())
            .bind(Role::Owner.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Org {
            id: OrgId(id),
            name: name.to_string(),
            currency: currency.clone(),
            time_zone: time_zone.to_string(),
            blocked_words: Vec::new(),
            shop: Default::default(),
            created_at: now,
        })
    }

    pub async fn org(&self, id: &OrgId) -> Result<Org> {
        let row = sqlx::query("SELECT * FROM orgs WHERE id = $1").bind(id.as_str()).fetch_optional(&self.pool).await?;
        org(&row.ok_or(StoreError::NotFound)?)
    }

    /// Saves the organisation's settings (all of them: read, change, write).
    pub async fn update_org(&self, org: &Org) -> Result<Org> {
        let id = &org.id;
        found(
            sqlx::query("UPDATE orgs SET name = $1, currency = $2, time_zone = $3, blocked_words = $4, shop_settings = $5 WHERE id = $6")
                .bind(&org.name)
                .bind(org.currency.code())
                .bind(&org.time_zone)
                .bind(crate::to_json(&org.blocked_words))
                .bind(crate::to_json(&org.shop))
                .bind(id.as_str())
                .execute(&self.pool)
                .await?,
        )?;
        self.org(id).await
    }

    /// The organisations `user` belongs to, with their role in each.
    pub async fn memberships(&self, user: &UserId) -> Result<Vec<(Org, Role)>> {
        let rows = sqlx::query(
            "SELECT o.*, m.role AS member_role FROM members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY o.name",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((org(r)?, role(r, "member_role")?))).collect()
    }

    /// `user`'s role in `org`, if they are a member.
    pub async fn role_in(&self, org: &OrgId, user: &UserId) -> Result<Option<Role>> {
        let row = sqlx::query("SELECT role FROM members WHERE org_id = $1 AND user_id = $2")
            .bind(org.as_str())
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| role(&r, "role")).transpose()
    }

    pub async fn members(&self, org: &OrgId) -> Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, m.role, m.created_at FROM members m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 ORDER BY m.created_at, u.email"
        ))
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(Member { user: user(r)?, role: role(r, "role")?, created_at: r.try_get("created_at")? })).collect()
    }

    /// Changes a member's role; refuses to leave the organisation without an owner.
    pub async fn set_role(&self, org: &OrgId, user: &UserId, new_role: Role) -> Result<()> {
        self.change_membership(org, user, Some(new_role)).await
    }

    /// Removes a member; refuses to remove the last owner.
    pub async fn remove_member(&self, org: &OrgId, user: &UserId) -> Result<()> {
        self.change_membership(org, user, None).await
    }

    async fn change_membership(&self, org: &OrgId, user: &UserId, new_role: Option<Role>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let current = sqlx::query("SELECT role FROM members WHERE org_id = $1 AND user_id = $2")
            .bind(org.as_str())
            .bind(user.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        if role(&current, "role")? == Role::Owner && new_role != Some(Role::Owner) {
            let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM members WHERE org_id = $1 AND role = 'owner'")
                .bind(org.as_str())
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
            if n <= 1 {
                return Err(StoreError::Conflict("the organisation must keep at least one owner".into()));
            }
        }
        match new_role {
            Some(r) => {
                sqlx::query("UPDATE members SET role = $1 WHERE org_id = $2 AND user_id = $3")
                    .bind(r.as_str())
                    .bind(org.as_str())
                    .bind(user.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            None => {
                sqlx::query("DELETE FROM members WHERE org_id = $1 AND user_id = $2")
                    .bind(org.as_str())
                    .bind(user.as_str())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM show_hosts WHERE user_id = $1 AND show_id IN (SELECT id FROM shows WHERE org_id = $2)")
                    .bind(user.as_str())
                    .bind(org.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_invitation(
        &self,
        org: &OrgId,
        email: &str,
        role: Option<Role>,
        show: Option<&ShowId>,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<Invitation> {
        let id = new_id(InvitationId::PREFIX);
        sqlx::query(
            "INSERT INTO invitations (id, org_id, email, role, show_id, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(org.as_str())
        .bind(email)
        .bind(role.map(Role::as_str))
        .bind(show.map(ShowId::as_str))
        .bind(token_hash)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        self.invitation(org, &InvitationId(id)).await
    }

    pub async fn invitation(&self, org: &OrgId, id: &InvitationId) -> Result<Invitation> {
        let row = sqlx::query("SELECT * FROM invitations WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?;
        invitation(&row.ok_or(StoreError::NotFound)?)
    }

    pub async fn invitations(&self, org: &OrgId) -> Result<Vec<Invitation>> {
        let rows = sqlx::query("SELECT * FROM invitations WHERE org_id = $1 AND accepted_at IS NULL ORDER BY created_at DESC")
            .bind(org.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(invitation).collect()
    }

    pub async fn invitation_by_token(&self, token_hash: &str) -> Result<Invitation> {
        let row = sqlx::query("SELECT * FROM invitations WHERE token_hash = $1").bind(token_hash).fetch_optional(&self.pool).await?;
        invitation(&row.ok_or(StoreError::NotFound)?)
    }

    pub async fn delete_invitation(&self, org: &OrgId, id: &InvitationId) -> Result<()> {
        self.delete_in_org("invitations", id.as_str(), org).await
    }

    /// Deletes the row `id` of `table` if it belongs to `org` (`NotFound` otherwise).
    async fn delete_in_org(&self, table: &'static str, id: &str, org: &OrgId) -> Result<()> {
        let sql = format!("DELETE FROM {table} WHERE id = $1 AND org_id = $2");
        found(sqlx::query(&sql).bind(id).bind(org.as_str()).execute(&self.pool).await?)
    }

    /// Accepts an open invitation for `user` at `now`: adds the membership, or the creator's
    /// place on the show. Once only.
    pub async fn accept_invitation(&self, token_hash: &str, user: &UserId, now: i64) -> Result<Invitation> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE invitations SET accepted_at = $1 WHERE token_hash = $2 AND accepted_at IS NULL AND expires_at > $1")
            .bind(now)
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("this invitation was already used or has expired: ask for a new one".into()));
        }
        let row = sqlx::query("SELECT * FROM invitations WHERE token_hash = $1").bind(token_hash).fetch_one(&mut *tx).await?;
        let inv = invitation(&row)?;
        match (&inv.role, &inv.show_id) {
            (Some(role), _) => {
                let existing = sqlx::query("SELECT role FROM members WHERE org_id = $1 AND user_id = $2")
                    .bind(inv.org_id.as_str())
                    .bind(user.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if existing.is_some() {
                    return Err(StoreError::Conflict("you are already a member of this organisation".into()));
                }
                sqlx::query("INSERT INTO members (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(inv.org_id.as_str())
                    .bind(user.as_str())
                    .bind(role.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            (None, Some(show)) => {
                sqlx::query("INSERT INTO show_creators (show_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(show.as_str())
                    .bind(user.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            (None, None) => return Err(StoreError::Corrupt(format!("invitation {} has neither role nor show", inv.id))),
        }
        tx.commit().await?;
        Ok(inv)
    }

    pub async fn create_api_token(&self, org: &OrgId, name: &str, role: Role, token_hash: &str) -> Result<ApiToken> {
        let id = new_id(TokenId::PREFIX);
        let now = now_ms();
        sqlx::query("INSERT INTO api_tokens (id, org_id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(org.as_str())
            .bind(name)
            .bind(role.as_str())
            .bind(token_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(ApiToken { id: TokenId(id), org_id: org.clone(), name: name.to_string(), role, created_at: now, last_used_at: None })
    }

    pub async fn api_tokens(&self, org: &OrgId) -> Result<Vec<ApiToken>> {
        let rows =
            sqlx::query("SELECT * FROM api_tokens WHERE org_id = $1 ORDER BY created_at").bind(org.as_str()).fetch_all(&self.pool).await?;
        rows.iter().map(api_token).collect()
    }

    pub async fn delete_api_token(&self, org: &OrgId, id: &TokenId) -> Result<()> {
        self.delete_in_org("api_tokens", id.as_str(), org).await
    }

    /// The token with this hash, marking it used at `now`.
    pub async fn use_api_token(&self, token_hash: &str, now: i64) -> Result<Option<ApiToken>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE token_hash = $1").bind(token_hash).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        let token = api_token(&row)?;
        // Recording the last use is best kept coarse: once a minute is enough to see stale tokens.
        if token.last_used_at.is_none_or(|t| now - t > 60_000) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(token.id.as_str())
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(token))
    }

    pub async fn create_guest(&self, display_name: &str, token_hash: &str) -> Result<Guest> {
        let id = new_id("gst_");
        sqlx::query("INSERT INTO guests (id, token_hash, display_name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(token_hash)
            .bind(display_name)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(Guest { id, display_name: display_name.to_string() })
    }

    pub async fn guest(&self, token_hash: &str) -> Result<Option<Guest>> {
        let row =
            sqlx::query("SELECT id, display_name FROM guests WHERE token_hash = $1").bind(token_hash).fetch_optional(&self.pool).await?;
        row.map(|r| Ok(Guest { id: r.try_get("id")?, display_name: r.try_get("display_name")? })).transpose()
    }

    /// The user ids in `org` that may host its shows (owners, admins, hosts).
    pub async fn presenters(&self, org: &OrgId) -> Result<Vec<UserId>> {
        let rows = sqlx::query("SELECT user_id FROM members WHERE org_id = $1 AND role IN ('owner', 'admin', 'host')")
            .bind(org.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(UserId(r.try_get("user_id")?))).collect()
    }
}

impl Store {
    /// Adds `user` to `org` with `role` directly (bootstrap and demo; the web uses invitations).
    pub async fn add_member(&self, org: &OrgId, user: &UserId, role: Role) -> Result<()> {
        sqlx::query("INSERT INTO members (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(org.as_str())
            .bind(user.as_str())
            .bind(role.as_str())
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, || "already a member of this organisation".to_string()))?;
        Ok(())
    }

    /// The organisation a named seed (such as the demo) made, if it ran before.
    pub async fn seeded_org(&self, name: &str) -> Result<Option<OrgId>> {
        let row = sqlx::query("SELECT org_id FROM demo_seed WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        row.map(|r| Ok(OrgId(r.try_get("org_id")?))).transpose()
    }

    /// Records that the seed `name` made `org`, so it is not made twice.
    pub async fn record_seed(&self, name: &str, org: &OrgId) -> Result<()> {
        sqlx::query("INSERT INTO demo_seed (name, org_id) VALUES ($1, $2)").bind(name).bind(org.as_str()).execute(&self.pool).await?;
        Ok(())
    }
}
