//! Single sign-on: the identity providers of the config file's `login:` section
//! ([`config`]) and what a sign-in through one of them does here, whatever the
//! protocol ([`ldap`] for directories).
//!
//! A sign-in brings an [`Identity`] — the provider's alias, the user's subject there
//! (an LDAP DN, an OIDC `sub`), a name, an e-mail address and the provider's groups.
//! [`Sso::sign_in`] then:
//! 1. applies the provider's restriction (e-mail domains, required groups);
//! 2. finds the user the identity is linked to; a first sign-in links it to the user
//!    with the same *verified* e-mail address when the provider allows that
//!    (`link_by_email`), else creates the user (`allow_register`: a plain user who sees
//!    nothing until a group grants it), else is refused — an identity is never linked
//!    to an existing user by its name, which anyone could choose at a provider;
//! 3. sets the role the provider's groups map to (when `roles` is configured) and
//!    makes the memberships the mapping gives exactly those (`groups`); memberships an
//!    admin made stay;
//! 4. clears a deprovisioning: the provider has the user again.
//!
//! Directories are asked again on a schedule ([`Sso::recheck_directories`]): a user the
//! directory no longer has (or no longer matches the user filter, e.g. disabled) is
//! deprovisioned, and its sessions and tokens stop working.

pub mod config;
pub mod github;
mod http;
pub mod ldap;
pub mod oidc;

use std::collections::HashMap;
use std::sync::Arc;

use config::{LoginSettings, MappedRole, Provider, ProviderKind};
use github::GitHubProvider;
use oidc::{OidcProvider, Pending, ProviderError};

use crate::auth::hash_token;
use crate::db::{Db, PendingSignIn, Role, User, UserChange, is_unique_violation, now_millis};

/// How long a browser may take at the provider between the redirect and the callback.
pub const SIGN_IN_WINDOW_MS: i64 = 10 * 60 * 1000;
/// Sign-ins started and not finished within [`SIGN_IN_WINDOW_MS`], at most: anyone can
/// start one, and each is a row.
const MAX_PENDING_SIGN_INS: i64 = 10_000;

/// A user as an identity provider vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's alias.
    pub provider: String,
    /// Who the user is at the provider, for good (an LDAP DN, an OIDC `sub`).
    pub subject: String,
    /// The name the user gets here when it is created.
    pub username: String,
    pub email: Option<String>,
    /// Whether the provider vouches for the address (LDAP: the directory holds it).
    pub email_verified: bool,
    pub groups: Vec<String>,
}

/// Why a sign-in is refused; the message is shown to the person signing in.
#[derive(Debug, thiserror::Error)]
pub enum SignInRefused {
    #[error("{0} may not sign in here: {1}")]
    Restricted(String, &'static str),
    #[error(
        "there is no account for you here yet: ask an admin to link your {provider} identity (packyard user link)"
    )]
    NotLinked { provider: String },
    /// Said as [`SignInRefused::NotLinked`] is, so that nobody learns from it which
    /// user names exist here.
    #[error(
        "there is no account for you here yet: ask an admin to link your {provider} identity (packyard user link)"
    )]
    NameTaken { provider: String, name: String },
    #[error("{0} is not a user name packyard allows: ask an admin to create and link your account")]
    InvalidName(String),
    #[error("{0} was removed by another identity provider: ask an admin")]
    Deprovisioned(String),
}

/// What a provider's callback brought, with the browser's binding cookie.
pub struct Callback<'a> {
    pub code: &'a str,
    pub state: &'a str,
    pub iss: Option<&'a str>,
    pub browser_secret: &'a str,
}

/// Why an admin's link of a user to an identity is refused.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("there is no identity provider {0} in PACKYARD_CONFIG's login: section")]
    UnknownProvider(String),
    #[error("there is no user {0}")]
    UnknownUser(String),
    #[error("the {provider} identity {subject} belongs to user {user} already")]
    Taken {
        provider: String,
        subject: String,
        user: String,
    },
    #[error("the subject is empty")]
    EmptySubject,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error(transparent)]
    Refused(#[from] SignInRefused),
    /// The callback's `state` is unknown, used already, too old, or another browser's.
    #[error("this sign-in expired or was used already: start again")]
    StaleState,
    #[error("there is no identity provider {0} to sign in with")]
    UnknownProvider(String),
    #[error("too many sign-ins are under way: try again in a few minutes")]
    Busy,
    #[error(transparent)]
    Oidc(#[from] ProviderError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Single sign-on, for the web UI's sign-in pages, the CLI and the periodic re-check.
#[derive(Clone)]
pub struct Sso {
    db: Db,
    settings: Arc<LoginSettings>,
    /// The providers the browser is sent to, by alias.
    redirects: Arc<HashMap<String, Redirect>>,
}

/// A provider the browser is sent to.
#[derive(Clone)]
enum Redirect {
    /// With what its discovery found.
    Oidc(Arc<OidcProvider>),
    GitHub(Arc<GitHubProvider>),
}

impl Sso {
    pub fn new(
        db: Db,
        settings: Arc<LoginSettings>,
        policy: &crate::outbound::NetworkPolicy,
    ) -> Sso {
        let redirects = settings
            .providers
            .iter()
            .filter_map(|provider| {
                let redirect = match &provider.kind {
                    ProviderKind::Oidc(oidc) => {
                        Redirect::Oidc(OidcProvider::new(oidc.clone(), policy))
                    }
                    ProviderKind::GitHub(github) => {
                        Redirect::GitHub(GitHubProvider::new(github.clone(), policy))
                    }
                    ProviderKind::Ldap(_) => return None,
                };
                Some((provider.alias.clone(), redirect))
            })
            .collect();
        Sso {
            db,
            settings,
            redirects: Arc::new(redirects),
        }
    }

    /// The redirect URL of provider `alias` on a site whose base URL is `base`.
    pub fn redirect_url(base: &str, alias: &str) -> String {
        format!("{}/login/{alias}/callback", base.trim_end_matches('/'))
    }

    fn redirect_provider(&self, alias: &str) -> Result<(&Provider, &Redirect), SsoError> {
        let unknown = || SsoError::UnknownProvider(alias.to_owned());
        let provider = self.settings.provider(alias).ok_or_else(unknown)?;
        let redirect = self.redirects.get(alias).ok_or_else(unknown)?;
        Ok((provider, redirect))
    }

    /// Starts a sign-in through OpenID Connect provider `alias`, for the browser that
    /// holds `browser_secret`: the URL to send it to. `next` is where it lands after.
    pub async fn begin(
        &self,
        alias: &str,
        base: &str,
        browser_secret: &str,
        next: &str,
    ) -> Result<String, SsoError> {
        let redirect = Self::redirect_url(base, alias);
        let (url, pending) = match self.redirect_provider(alias)?.1 {
            Redirect::Oidc(oidc) => oidc.start(&redirect).await?,
            Redirect::GitHub(github) => {
                let (url, state, pkce_verifier) = github.start(&redirect)?;
                // GitHub's OAuth has no nonce: the state and PKCE bind it.
                let pending = Pending {
                    state,
                    nonce: String::new(),
                    pkce_verifier,
                };
                (url, pending)
            }
        };
        let now = now_millis();
        // Sign-ins never finished are forgotten here (an index range), by every replica;
        // anyone may start one, so their number is bounded.
        self.db.prune_sign_ins(now - SIGN_IN_WINDOW_MS).await?;
        if self.db.pending_sign_ins().await? >= MAX_PENDING_SIGN_INS {
            return Err(SsoError::Busy);
        }
        self.db
            .save_sign_in(
                &hash_token(&pending.state),
                &PendingSignIn {
                    provider: alias.to_owned(),
                    browser_hash: hash_token(browser_secret),
                    nonce: pending.nonce,
                    pkce_verifier: pending.pkce_verifier,
                    next: next.to_owned(),
                    created_at: now,
                },
            )
            .await?;
        Ok(url)
    }

    /// Finishes a sign-in at provider `alias`'s callback: the `state` must be one this
    /// browser started there, within [`SIGN_IN_WINDOW_MS`], and not used before; the
    /// `iss` the provider added (RFC 9207) must be its issuer. The user signed in, and
    /// where it goes next.
    pub async fn complete(
        &self,
        alias: &str,
        base: &str,
        callback: &Callback<'_>,
    ) -> Result<(User, String), SsoError> {
        let (provider, redirect) = self.redirect_provider(alias)?;
        let pending = self
            .db
            .take_sign_in(&hash_token(callback.state))
            .await?
            .filter(|pending| {
                pending.provider == alias
                    && crate::auth::constant_time_eq(
                        pending.browser_hash.as_bytes(),
                        hash_token(callback.browser_secret).as_bytes(),
                    )
                    && now_millis() - pending.created_at < SIGN_IN_WINDOW_MS
            })
            .ok_or(SsoError::StaleState)?;
        let redirect_url = Self::redirect_url(base, alias);
        let verified = match redirect {
            Redirect::Oidc(oidc) => {
                if let Some(iss) = callback.iss
                    && iss.trim_end_matches('/') != oidc.settings().issuer.trim_end_matches('/')
                {
                    return Err(ProviderError::Refused(format!(
                        "the callback names another issuer ({iss})"
                    ))
                    .into());
                }
                let pending = Pending {
                    state: callback.state.to_owned(),
                    nonce: pending.nonce,
                    pkce_verifier: pending.pkce_verifier,
                };
                oidc.finish(&redirect_url, callback.code, &pending).await?
            }
            Redirect::GitHub(github) => {
                github
                    .finish(&redirect_url, callback.code, &pending.pkce_verifier)
                    .await?
            }
        };
        if verified.subject.is_empty() {
            return Err(ProviderError::Refused("the ID token has no subject".into()).into());
        }
        let email = verified.email.filter(|_| verified.email_verified);
        let username = verified
            .username
            .or_else(|| {
                email
                    .as_deref()
                    .and_then(|email| email.split('@').next())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| verified.subject.clone());
        let identity = Identity {
            provider: alias.to_owned(),
            subject: verified.subject,
            username,
            email_verified: email.is_some(),
            email,
            groups: verified.groups,
        };
        let user = self.sign_in(provider, &identity).await?;
        Ok((user, pending.next))
    }

    pub fn settings(&self) -> &LoginSettings {
        &self.settings
    }

    /// The user `identity` signs in as (see the module's documentation).
    pub async fn sign_in(
        &self,
        provider: &Provider,
        identity: &Identity,
    ) -> Result<User, SsoError> {
        let who = identity.username.clone();
        Self::permitted(provider, identity)?;
        let user = match self
            .db
            .user_of_identity(&identity.provider, &identity.subject)
            .await?
        {
            Some(user) => user,
            None => self.first_sign_in(provider, identity).await?,
        };
        if user.deprovisioned_at.is_some() {
            // Removed by another provider: this one's word does not bring it back.
            if user.deprovisioned_by.as_deref() != Some(provider.alias.as_str()) {
                return Err(SignInRefused::Deprovisioned(who).into());
            }
            self.db
                .set_deprovisioned(user.id, &provider.alias, None)
                .await?;
        }
        self.apply_mapping(provider, identity, &user).await?;
        self.db
            .touch_identity(
                &identity.provider,
                &identity.subject,
                identity.email.as_deref(),
                true,
            )
            .await?;
        Ok(self
            .db
            .user_of_identity(&identity.provider, &identity.subject)
            .await?
            .unwrap_or(user))
    }

    /// Links the identity to its user: by verified e-mail address, or a new user.
    async fn first_sign_in(
        &self,
        provider: &Provider,
        identity: &Identity,
    ) -> Result<User, SsoError> {
        let rules = &provider.rules;
        let link = |user: User| async move {
            match self
                .db
                .link_identity(
                    &identity.provider,
                    &identity.subject,
                    user.id,
                    identity.email.as_deref(),
                )
                .await
            {
                // Another replica linked it in the meantime: the same user.
                Err(error) if is_unique_violation(&error) => Ok(user),
                Err(error) => Err(SsoError::from(error)),
                Ok(()) => {
                    tracing::info!(provider = %identity.provider, user = %user.name, "identity linked");
                    Ok(user)
                }
            }
        };
        if let (true, Some(email)) = (
            rules.link_by_email && identity.email_verified,
            &identity.email,
        ) {
            // Only an address exactly one user has, and only a user who signs in no
            // other way yet and holds no power: an address is weaker proof than a
            // password, and a second identity's mapping would then apply to it.
            if let [user] = self.db.users_with_email(email).await?.as_slice()
                && self.db.identities_of(user.id).await?.is_empty()
                && !user.is_admin
                && !user.is_maintainer
                && user.deprovisioned_at.is_none()
                && !self.is_break_glass(&user.name)
            {
                return link(user.clone()).await;
            }
        }
        if !rules.allow_register {
            return Err(SignInRefused::NotLinked {
                provider: provider.alias.clone(),
            }
            .into());
        }
        if crate::auth::validate_user_name(&identity.username).is_err() {
            return Err(SignInRefused::InvalidName(identity.username.clone()).into());
        }
        let taken = || SignInRefused::NameTaken {
            provider: provider.alias.clone(),
            name: identity.username.clone(),
        };
        // The break-glass admin's name is never taken by a sign-in, even before an
        // operator creates that user.
        if self.is_break_glass(&identity.username) {
            return Err(taken().into());
        }
        let user = match self
            .db
            .create_account(&identity.username, Role::User, None)
            .await
        {
            Ok(user) => user,
            Err(error) if is_unique_violation(&error) => return Err(taken().into()),
            Err(error) => return Err(error.into()),
        };
        if identity.email_verified {
            self.db
                .set_user_email(&user.name, identity.email.as_deref())
                .await?;
        }
        tracing::info!(provider = %identity.provider, user = %user.name, "user registered at its first sign-in");
        link(user).await
    }

    /// Whether the provider's restriction lets `identity` in: one of the required
    /// groups, a verified address in an allowed domain.
    fn permitted(provider: &Provider, identity: &Identity) -> Result<(), SignInRefused> {
        let rules = &provider.rules;
        let who = || identity.username.clone();
        if !rules.required_groups.is_empty()
            && !identity
                .groups
                .iter()
                .any(|group| rules.required_groups.contains(group))
        {
            return Err(SignInRefused::Restricted(
                who(),
                "not in a group allowed to",
            ));
        }
        if !rules.allowed_email_domains.is_empty() {
            let domain = identity
                .email
                .as_deref()
                .filter(|_| identity.email_verified)
                .and_then(|email| email.rsplit_once('@'))
                .map(|(_, domain)| domain.to_ascii_lowercase());
            if !domain.is_some_and(|domain| rules.allowed_email_domains.contains(&domain)) {
                return Err(SignInRefused::Restricted(
                    who(),
                    "no verified e-mail address in an allowed domain",
                ));
            }
        }
        Ok(())
    }

    /// Whether `name` is the break-glass admin's, whom no provider maps, links by
    /// address or deprovisions: it is the way in when providers fail.
    fn is_break_glass(&self, name: &str) -> bool {
        self.settings.break_glass_admin.as_deref() == Some(name)
    }

    /// The role and the groups the provider's mapping gives `identity`'s groups.
    async fn apply_mapping(
        &self,
        provider: &Provider,
        identity: &Identity,
        user: &User,
    ) -> Result<(), SsoError> {
        if self.is_break_glass(&user.name) {
            return Ok(());
        }
        let rules = &provider.rules;
        if !rules.roles.is_empty() {
            let mapped = identity
                .groups
                .iter()
                .filter_map(|group| rules.roles.get(group))
                .max()
                .copied();
            let (role, full_access) = match mapped {
                Some(MappedRole::Admin) => (Role::Admin, false),
                Some(MappedRole::Maintainer) => (Role::Maintainer, false),
                Some(MappedRole::FullAccess) => (Role::User, true),
                None => (Role::User, false),
            };
            let current = if user.is_admin {
                Role::Admin
            } else if user.is_maintainer {
                Role::Maintainer
            } else {
                Role::User
            };
            if current != role || user.full_access != full_access {
                let change = UserChange {
                    role: Some(role),
                    full_access: Some(full_access),
                    ..UserChange::default()
                };
                self.db.change_user(&user.name, &change).await?;
                tracing::info!(provider = %provider.alias, user = %user.name, ?role, full_access, "role set by the identity provider");
            }
        }
        let mut groups: Vec<String> = identity
            .groups
            .iter()
            .filter_map(|group| rules.groups.get(group))
            .flatten()
            .cloned()
            .collect();
        groups.sort();
        groups.dedup();
        let (joined, left) = self
            .db
            .sync_mapped_groups(user.id, &provider.alias, &groups)
            .await?;
        if !joined.is_empty() || !left.is_empty() {
            tracing::info!(provider = %provider.alias, user = %user.name, ?joined, ?left, "groups kept in step with the identity provider");
        }
        Ok(())
    }

    /// Links user `name` to its identity `subject` at `provider` (an admin's explicit
    /// act: the only way an existing user gets an identity, but for `link_by_email`).
    pub async fn link(&self, name: &str, provider: &str, subject: &str) -> Result<(), LinkError> {
        if self.settings.provider(provider).is_none() {
            return Err(LinkError::UnknownProvider(provider.to_owned()));
        }
        let subject = subject.trim();
        if subject.is_empty() {
            return Err(LinkError::EmptySubject);
        }
        let Some(user) = self.user_named(name).await? else {
            return Err(LinkError::UnknownUser(name.to_owned()));
        };
        if let Some(holder) = self.db.user_of_identity(provider, subject).await? {
            if holder.id == user.id {
                return Ok(());
            }
            return Err(LinkError::Taken {
                provider: provider.to_owned(),
                subject: subject.to_owned(),
                user: holder.name,
            });
        }
        // One identity per provider and user: a new link replaces the old one.
        self.db.unlink_identity(provider, user.id).await?;
        self.db
            .link_identity(provider, subject, user.id, None)
            .await?;
        tracing::info!(user = %name, %provider, "identity linked by an admin");
        Ok(())
    }

    /// The user named `name`, if any (one row, not the whole table).
    async fn user_named(&self, name: &str) -> Result<Option<User>, sqlx::Error> {
        Ok(self
            .db
            .user_with_password(name)
            .await?
            .map(|(user, _)| user))
    }

    /// Removes user `name`'s identity at `provider`; whether it had one.
    pub async fn unlink(&self, name: &str, provider: &str) -> Result<bool, LinkError> {
        let Some(user) = self.user_named(name).await? else {
            return Err(LinkError::UnknownUser(name.to_owned()));
        };
        Ok(self.db.unlink_identity(provider, user.id).await?)
    }

    /// How often [`Sso::recheck`] should run: as often as the most eager directory
    /// wants, and at least every minute when a provider deprovisions idle users;
    /// `None` when no provider needs it.
    pub fn recheck_every(&self) -> Option<std::time::Duration> {
        let minute = std::time::Duration::from_secs(60);
        self.settings
            .providers
            .iter()
            .filter_map(|provider| match &provider.kind {
                ProviderKind::Ldap(directory) => Some(directory.recheck_interval.min(minute)),
                _ => provider.deprovision_after.map(|after| after.min(minute)),
            })
            .min()
    }

    /// Asks each directory about the users it has not been asked about within its
    /// re-check interval: one it no longer has is deprovisioned, one it has again is
    /// not. Deprovisions the users of other providers that have not signed in within
    /// the provider's `deprovision_after`. How many users changed.
    pub async fn recheck(&self) -> Result<usize, sqlx::Error> {
        let mut changed = 0;
        for provider in &self.settings.providers {
            if let Some(after) = provider.deprovision_after {
                let before = now_millis() - after.as_millis() as i64;
                let idle = self.db.deprovision_idle(&provider.alias, before).await?;
                if !idle.is_empty() {
                    tracing::info!(provider = %provider.alias, users = idle.len(), "deprovisioned users who did not sign in");
                }
                changed += idle.len();
            }
        }
        // The break-glass admin is never deprovisioned, whatever a directory says.
        let break_glass = match &self.settings.break_glass_admin {
            Some(name) => self.user_named(name).await?,
            None => None,
        };
        for provider in &self.settings.providers {
            let ProviderKind::Ldap(directory) = &provider.kind else {
                continue;
            };
            let before = now_millis() - directory.recheck_interval.as_millis() as i64;
            let due = self.db.identities_due(&provider.alias, before, 500).await?;
            for identity in due {
                let touch = || {
                    self.db
                        .touch_identity(&provider.alias, &identity.subject, None, false)
                };
                if break_glass
                    .as_ref()
                    .is_some_and(|user| user.id == identity.user_id)
                {
                    touch().await?;
                    continue;
                }
                let found = match directory.recheck(&identity.subject).await {
                    Ok(found) => found,
                    Err(ldap::DirectoryError::Entry(why)) => {
                        // This entry alone: the pass goes on, and it is tried again
                        // after the interval like any other.
                        tracing::warn!(provider = %provider.alias, subject = %identity.subject, %why, "re-checking a directory user failed");
                        touch().await?;
                        continue;
                    }
                    Err(error) => {
                        // An unreachable directory deprovisions nobody.
                        tracing::warn!(provider = %provider.alias, %error, "re-checking directory users failed");
                        break;
                    }
                };
                // Still there, but outside the provider's rules (left a required
                // group): as good as gone. Otherwise its role and groups follow the
                // directory now, not at its next sign-in.
                let there = match found {
                    None => false,
                    Some(found) => {
                        let user = self
                            .db
                            .user_of_identity(&provider.alias, &identity.subject)
                            .await?;
                        let seen = Identity {
                            provider: provider.alias.clone(),
                            subject: identity.subject.clone(),
                            username: found.username,
                            email_verified: directory.trust_email && found.email.is_some(),
                            email: found.email,
                            groups: found.groups,
                        };
                        match (Self::permitted(provider, &seen), user) {
                            (Ok(()), Some(user)) => {
                                if let Err(error) = self.apply_mapping(provider, &seen, &user).await
                                {
                                    tracing::warn!(provider = %provider.alias, %error, "applying a directory user's groups failed");
                                }
                                true
                            }
                            (Ok(()), None) => true,
                            (Err(_), _) => false,
                        }
                    }
                };
                let at = (!there).then(now_millis);
                if self
                    .db
                    .set_deprovisioned(identity.user_id, &provider.alias, at)
                    .await?
                {
                    changed += 1;
                    tracing::info!(provider = %provider.alias, subject = %identity.subject, deprovisioned = !there, "directory re-check changed a user");
                }
                touch().await?;
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;
    use config::{LdapSettings, Rules};

    fn provider(rules: Rules) -> Provider {
        Provider {
            alias: "corp".into(),
            title: "Corp".into(),
            kind: ProviderKind::Ldap(LdapSettings::nowhere()),
            rules,
            deprovision_after: None,
        }
    }

    fn identity(subject: &str, email: Option<&str>, verified: bool) -> Identity {
        Identity {
            provider: "corp".into(),
            subject: subject.into(),
            username: subject.into(),
            email: email.map(str::to_owned),
            email_verified: verified,
            groups: Vec::new(),
        }
    }

    fn service(db: &Db, provider: &Provider) -> Sso {
        let settings = LoginSettings {
            providers: vec![provider.clone()],
            password_login: true,
            break_glass_admin: None,
        };
        let policy = crate::outbound::NetworkPolicy::from_env(|_| None).unwrap();
        Sso::new(db.clone(), Arc::new(settings), &policy)
    }

    #[tokio::test]
    async fn only_verified_addresses_of_allowed_domains_sign_in_and_link() {
        for (db, _dir) in testing::engines().await {
            let restricted = provider(Rules {
                allow_register: true,
                allowed_email_domains: vec!["example.com".into()],
                ..Rules::default()
            });
            let sso = service(&db, &restricted);
            for (who, email, verified) in [
                ("eve", Some("eve@evil.test"), true),
                ("mallory", Some("mallory@example.com"), false),
                ("nobody", None, true),
            ] {
                let refused = sso
                    .sign_in(&restricted, &identity(who, email, verified))
                    .await;
                assert!(
                    matches!(
                        refused,
                        Err(SsoError::Refused(SignInRefused::Restricted(..)))
                    ),
                    "{who}: {refused:?}"
                );
            }
            assert!(db.users().await.unwrap().is_empty());
            let alice = sso
                .sign_in(
                    &restricted,
                    &identity("alice", Some("Alice@Example.com"), true),
                )
                .await
                .unwrap();
            assert_eq!(alice.name, "alice");

            // link_by_email: a verified address that one user has links to it.
            let linking = provider(Rules {
                link_by_email: true,
                ..Rules::default()
            });
            let sso = service(&db, &linking);
            db.create_account("bob", Role::User, None).await.unwrap();
            db.set_user_email("bob", Some("bob@example.com"))
                .await
                .unwrap();
            let unverified = sso
                .sign_in(
                    &linking,
                    &identity("bob-at-idp", Some("bob@example.com"), false),
                )
                .await;
            assert!(matches!(
                unverified,
                Err(SsoError::Refused(SignInRefused::NotLinked { .. }))
            ));
            let linked = sso
                .sign_in(
                    &linking,
                    &identity("bob-at-idp", Some("BOB@example.com"), true),
                )
                .await
                .unwrap();
            assert_eq!(linked.name, "bob");
            // Not to a user who holds power, nor to one another identity speaks for.
            for (name, email, role) in [
                ("root", "root@example.com", Role::Admin),
                ("ops", "ops@example.com", Role::Maintainer),
            ] {
                db.create_account(name, role, None).await.unwrap();
                db.set_user_email(name, Some(email)).await.unwrap();
                let refused = sso
                    .sign_in(
                        &linking,
                        &identity(&format!("{name}-at-idp"), Some(email), true),
                    )
                    .await;
                assert!(
                    matches!(
                        refused,
                        Err(SsoError::Refused(SignInRefused::NotLinked { .. }))
                    ),
                    "{name}: {refused:?}"
                );
            }
            let second = sso
                .sign_in(
                    &linking,
                    &identity("bob-again", Some("bob@example.com"), true),
                )
                .await;
            assert!(matches!(
                second,
                Err(SsoError::Refused(SignInRefused::NotLinked { .. }))
            ));
        }
    }

    #[tokio::test]
    async fn a_user_one_provider_removed_is_not_brought_back_by_another() {
        for (db, _dir) in testing::engines().await {
            let mut corp = provider(Rules {
                allow_register: true,
                ..Rules::default()
            });
            let settings = LoginSettings {
                providers: vec![corp.clone()],
                password_login: true,
                break_glass_admin: Some("root".into()),
            };
            let policy = crate::outbound::NetworkPolicy::from_env(|_| None).unwrap();
            let sso = Sso::new(db.clone(), Arc::new(settings), &policy);
            let alice = sso
                .sign_in(&corp, &identity("alice", None, false))
                .await
                .unwrap();
            let mut other = corp.clone();
            other.alias = "other".into();
            db.link_identity("other", "alice-elsewhere", alice.id, None)
                .await
                .unwrap();
            assert!(
                db.set_deprovisioned(alice.id, "corp", Some(1))
                    .await
                    .unwrap()
            );
            let mut elsewhere = identity("alice-elsewhere", None, false);
            elsewhere.provider = "other".into();
            let refused = sso.sign_in(&other, &elsewhere).await;
            assert!(matches!(
                refused,
                Err(SsoError::Refused(SignInRefused::Deprovisioned(_)))
            ));
            // The provider that removed her brings her back.
            let back = sso
                .sign_in(&corp, &identity("alice", None, false))
                .await
                .unwrap();
            assert!(back.deprovisioned_at.is_none());
            // Nobody signs in as the break-glass admin, even before it exists.
            corp.rules.allow_register = true;
            let squat = sso.sign_in(&corp, &identity("root", None, false)).await;
            assert!(matches!(
                squat,
                Err(SsoError::Refused(SignInRefused::NameTaken { .. }))
            ));
            assert!(db.users().await.unwrap().iter().all(|u| u.name != "root"));
        }
    }
}
