//! `packyard import packeton`: a Packeton installation's users (with their passwords,
//! API tokens and personal access tokens), groups with their ACL, sub-repositories and
//! packages with their versions and archives, read from its database ([`source`]) and
//! storage ([`env`]) and made the same in packyard, so that every client's credentials
//! and lock files keep working. Objects are matched by name; each is created, updated
//! where it differs, or left alone, and the [`Report`] says which and what could not be
//! carried over. Only objects an import created are ever changed (`imported`): one
//! packyard had under the same name is reported and left alone, since another
//! installation's data must not add a known token to an admin here.
//!
//! How Packeton's rules map:
//! - roles: `ROLE_ADMIN`/`ROLE_SUPER_ADMIN` → admin, `ROLE_MAINTAINER` → maintainer,
//!   `ROLE_FULL_CUSTOMER` → full access, anything else a plain user;
//! - `expiresAt` (a date) → access expiry at the start of that day (UTC), as Packeton
//!   refuses from then; a disabled user's access expires at the import;
//! - `expiredUpdatesAt` (user and group) → the update freeze at that moment (UTC);
//! - the `apiToken` → an API token named `packeton-api-token`, used with the user name
//!   as before; each personal access token → `packeton-pat-{id}`, used as `pat_…`
//!   with its scopes and expiry; all stored as hashes;
//! - the password hash → the same hash, verified at web login and replaced by an
//!   argon2id one at the first (a user who already has a password here keeps it);
//! - `sub_repos` → the user's sub-repository limit: its ids as slugs, `0` as `root`,
//!   and none at all (Packeton's default) as `root` only, since Packeton lets such a
//!   user into no sub-repository;
//! - group `proxies` → the mirrors its members may use (those configured here);
//! - ACL permissions → grants of the package by name, with the constraint.

pub mod archives;
pub mod crypt;
pub mod env;
pub mod mirrors;
pub mod php;
pub mod source;
mod webhooks;

use std::collections::{BTreeSet, HashMap, HashSet};

use archives::{ArchiveError, Archives, PacketonServer, Wanted};
use composer::package_name::PackageName;
use source::{
    PacketonCredentials, PacketonDb, PacketonGroup, PacketonPackage, PacketonSubRepository,
    PacketonToken, PacketonUser, PacketonVersion,
};
use storage::{StoreName, keys};

use super::{Outcome, Report};
use crate::access::Actor;
use crate::access::subrepos::SubRepositoryChange;
use crate::app::App;
use crate::auth::password::{self, LEGACY_SHA512};
use crate::auth::{hash_token, validate_user_name};
use crate::db::{
    GroupChange, NewGitPackage, PackageKind, ROOT_SUB_REPOSITORY, Role, ScanRecord,
    SubRepositoryFields, User, UserChange, VersionRecord,
};
use crate::tokens::{Scope, Scopes};

/// What an import made of Packeton's rows, by their Packeton id: a sub-repository's
/// slug here, a group's name here.
type ByPacketonId = HashMap<i64, String>;

/// The name of the token a Packeton user's `apiToken` becomes.
pub const API_TOKEN_NAME: &str = "packeton-api-token";

/// What to import from.
#[derive(Debug, Clone)]
pub struct Options {
    /// Packeton's `DATABASE_URL`.
    pub database_url: String,
    /// Packeton's `.env`, for where its files are (see [`env`]).
    pub packeton_env: Option<std::path::PathBuf>,
    /// Packeton's YAML configuration, for its mirrors (see [`mirrors`]).
    pub packeton_config: Option<std::path::PathBuf>,
    /// The running Packeton, asked for archives its storage does not hold here.
    pub packeton_url: Option<String>,
    pub dry_run: bool,
}

/// Why an import could not run at all (objects that cannot be imported are report
/// lines, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Source(#[from] source::SourceError),
    #[error("writing to packyard's database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Admin(#[from] crate::access::AdminError),
    #[error(transparent)]
    Env(#[from] env::EnvError),
    #[error("packyard's storage: {0}")]
    Storage(#[from] storage::StorageError),
    #[error(transparent)]
    Bucket(#[from] archives::BucketError),
    #[error(transparent)]
    Server(#[from] archives::ServerError),
    #[error("Packeton's configuration {}: {why}", path.display())]
    PacketonConfig {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("packyard's webhooks: {0}")]
    Webhook(#[from] crate::webhooks::WebhookError),
}

/// Imports what `options` names into `app`.
pub async fn import(app: &App, options: &Options) -> Result<Report, ImportError> {
    let packeton_env = env::PacketonEnv::load(options.packeton_env.as_deref())?;
    let source = PacketonDb::open(&options.database_url).await?;
    let users = source.users().await?;
    // Whatever keeps the import from reading archives stops it before anything is
    // written, rather than leave every version out.
    let server = match &options.packeton_url {
        None => None,
        Some(url) => {
            let admin = users
                .iter()
                .filter(|user| user.enabled && role_of(user) == Role::Admin)
                .find_map(|user| {
                    let token = user.api_token.as_ref().filter(|t| t.len() > 6)?;
                    Some((user.username.clone(), token.clone()))
                })
                .ok_or(archives::ServerError::NoAdmin)?;
            Some(PacketonServer::new(
                url,
                admin.0,
                admin.1,
                &app.settings.network_policy,
            )?)
        }
    };
    let archives = Archives::open(packeton_env.archives(), server).await?;
    let mut report = Report {
        dry_run: options.dry_run,
        ..Report::default()
    };
    if let Some(file) = &options.packeton_config {
        report.config = mirrors::import(file, &packeton_env, &app.settings.mirrors, &mut report)?;
    }
    let mut imported = HashMap::new();
    for kind in ["sub-repository", "group", "user", "package", "webhook"] {
        imported.insert(kind, app.db.imported_names(kind).await?);
    }
    let mut import = Import {
        app,
        dry_run: options.dry_run,
        report,
        imported,
    };
    let sub_repositories = source.sub_repositories().await?;
    let slugs = import.sub_repositories(&sub_repositories).await?;
    let groups = source.groups().await?;
    let group_names = import.groups(&groups).await?;
    let tokens = source.tokens().await?;
    import.users(&users, &tokens, &slugs, &group_names).await?;
    let packages = source.packages().await?;
    let app_secret = packeton_env.get("APP_SECRET").map(str::to_owned);
    import
        .packages(&packages, &archives, app_secret.as_deref())
        .await?;
    import.webhooks(&source.webhooks().await?).await?;
    import.report.add(
        "downloads",
        "install counts",
        Outcome::Skipped(
            "Packeton keeps them in Redis, not in its database: packyard counts from the switch on"
                .to_owned(),
        ),
    );
    if !import.dry_run && import.report.changed_anything() {
        app.apply_access_changes().await?;
    }
    Ok(import.report)
}

struct Import<'a> {
    app: &'a App,
    dry_run: bool,
    report: Report,
    /// What earlier imports created, by kind: the objects an import may change.
    imported: HashMap<&'static str, HashSet<String>>,
}

/// What the `imported` table calls this source.
const SOURCE: &str = "packeton";

impl Import<'_> {
    /// Whether packyard's existing object `kind` `name` was made by an import (and so
    /// may be changed by one); else a report line says it is left alone.
    fn may_change(&mut self, kind: &'static str, name: &str) -> bool {
        if self
            .imported
            .get(kind)
            .is_some_and(|names| names.contains(name))
        {
            return true;
        }
        self.report.add(
            kind,
            name,
            Outcome::Skipped(format!(
                "packyard already has a {kind} named {name} that no import made: left alone"
            )),
        );
        false
    }

    /// Whether `name` may name a user or group here; a report line says why not.
    fn valid_name(&mut self, kind: &'static str, name: &str) -> bool {
        match validate_user_name(name) {
            Ok(()) => true,
            Err(error) => {
                self.report
                    .add(kind, name, Outcome::Skipped(error.to_string()));
                false
            }
        }
    }

    /// Notes that this import created `kind` `name` (not in a dry run).
    async fn created(&self, kind: &str, name: &str) -> Result<(), ImportError> {
        if !self.dry_run {
            self.app.db.note_imported(kind, name, SOURCE).await?;
        }
        Ok(())
    }

    /// Reports `kind` `name` with `outcome` and `notes`, noted as this import's when it
    /// was created.
    async fn finish(
        &mut self,
        kind: &'static str,
        name: &str,
        outcome: Outcome,
        notes: Vec<String>,
    ) -> Result<(), ImportError> {
        if outcome == Outcome::Created {
            self.created(kind, name).await?;
        }
        self.report.add(kind, name, outcome).notes = notes;
        Ok(())
    }

    /// Sub-repositories by Packeton id → their slug here (those imported).
    async fn sub_repositories(
        &mut self,
        rows: &[PacketonSubRepository],
    ) -> Result<ByPacketonId, ImportError> {
        let admin = self.app.access_admin();
        let mut slugs = HashMap::new();
        // Read once: each row below touches only its own sub-repository.
        let current = admin.sub_repositories().await?;
        for row in rows {
            let existing = current.iter().find(|sub| sub.slug == row.slug);
            if existing.is_some() && !self.may_change("sub-repository", &row.slug) {
                continue;
            }
            let fields = SubRepositoryFields {
                name: row.name.clone(),
                packages: row.packages.clone(),
                hosts: row.hosts.clone(),
                public: row.public,
                mirrors: existing.map(|sub| sub.mirrors.clone()).unwrap_or_default(),
            };
            let outcome = match existing {
                Some(sub)
                    if sub.name == fields.name
                        && sub.public == fields.public
                        && sorted(&sub.packages) == sorted(&fields.packages)
                        && sorted(&sub.hosts) == sorted(&fields.hosts) =>
                {
                    Outcome::Unchanged
                }
                Some(_) => {
                    let change = SubRepositoryChange {
                        name: Some(fields.name),
                        packages: Some(fields.packages),
                        hosts: Some(fields.hosts),
                        public: Some(fields.public),
                        ..SubRepositoryChange::default()
                    };
                    self.write_sub_repository(&row.slug, Err(change)).await
                }
                None => self.write_sub_repository(&row.slug, Ok(fields)).await,
            };
            let imported = !matches!(outcome, Outcome::Skipped(_));
            if outcome == Outcome::Created {
                self.created("sub-repository", &row.slug).await?;
            }
            let line = self.report.add("sub-repository", &row.slug, outcome);
            if row.has_landing_page {
                line.notes
                    .push("its landing page (HTML markup) is not carried over".to_owned());
            }
            if imported {
                slugs.insert(row.id, row.slug.clone());
            }
        }
        Ok(slugs)
    }

    /// Creates (`Ok`) or changes (`Err`) a sub-repository; a refusal is a skip.
    async fn write_sub_repository(
        &self,
        slug: &str,
        write: Result<SubRepositoryFields, SubRepositoryChange>,
    ) -> Outcome {
        let created = write.is_ok();
        if self.dry_run {
            // The same checks, by a dry run of the rules: a slug of ours is refused.
            if let Err(error) = crate::access::subrepos::check_slug(slug) {
                return Outcome::Skipped(error.to_string());
            }
        } else {
            let admin = self.app.access_admin();
            let written = match write {
                Ok(fields) => admin
                    .add_sub_repository(Actor::Operator, slug, fields)
                    .await
                    .map(drop),
                Err(change) => admin
                    .change_sub_repository(Actor::Operator, slug, change)
                    .await
                    .map(drop),
            };
            if let Err(error) = written {
                return Outcome::Skipped(error.to_string());
            }
        }
        if created {
            Outcome::Created
        } else {
            Outcome::Updated
        }
    }

    /// Groups by Packeton id → their name here (those imported).
    async fn groups(&mut self, rows: &[PacketonGroup]) -> Result<ByPacketonId, ImportError> {
        let mut names = HashMap::new();
        let mirrors: Vec<String> = self.app.mirrors.aliases().cloned().collect();
        // Read once: each row below touches only its own group.
        let mut held: HashMap<String, crate::db::GroupRow> = self
            .app
            .db
            .access_rules()
            .await?
            .groups
            .into_iter()
            .map(|group| (group.name.clone(), group))
            .collect();
        for row in rows {
            if !self.valid_name("group", &row.name) {
                continue;
            }
            let mut notes = Vec::new();
            let mut grants: Vec<(String, Option<String>)> = Vec::new();
            for (package, versions) in &row.permissions {
                let package = package.to_ascii_lowercase();
                if let Some(versions) = versions
                    && let Err(error) = composer::constraint::Constraint::parse(versions)
                {
                    notes.push(format!(
                        "grant of {package} dropped: its constraint {versions:?} does not parse ({error})"
                    ));
                    continue;
                }
                if crate::access::check_grant_target(&package).is_err() {
                    notes.push(format!("grant of {package:?} dropped: not a package name"));
                    continue;
                }
                grants.push((package, versions.clone()));
            }
            grants.sort();
            grants.dedup_by(|a, b| a.0 == b.0);
            let (usable, unknown): (Vec<String>, Vec<String>) = row
                .proxies
                .iter()
                .cloned()
                .partition(|alias| mirrors.contains(alias));
            if !unknown.is_empty() {
                notes.push(format!(
                    "mirrors not configured here, left out: {}",
                    unknown.join(", ")
                ));
            }
            let updates_until = row.expired_updates_at.as_deref().and_then(moment);
            let current = held.remove(&row.name);
            if current.is_some() && !self.may_change("group", &row.name) {
                continue;
            }
            let outcome = match &current {
                Some(group)
                    if group.updates_until == updates_until
                        && group.mirrors == usable
                        && group.grants == grants =>
                {
                    Outcome::Unchanged
                }
                Some(_) => Outcome::Updated,
                None => Outcome::Created,
            };
            if !self.dry_run && outcome != Outcome::Unchanged {
                let change = GroupChange {
                    updates_until: Some(updates_until),
                    // Packeton has no cooldowns: one set here stays.
                    min_release_age: None,
                    mirrors: Some(usable),
                    subrepos: None,
                    grants: Some(grants),
                };
                if current.is_none() {
                    self.app.db.create_group(&row.name, &change).await?;
                } else {
                    self.app.db.change_group(&row.name, &change).await?;
                }
            }
            self.finish("group", &row.name, outcome, notes).await?;
            names.insert(row.id, row.name.clone());
        }
        Ok(names)
    }

    async fn users(
        &mut self,
        rows: &[PacketonUser],
        tokens: &[PacketonToken],
        slugs: &ByPacketonId,
        group_names: &ByPacketonId,
    ) -> Result<(), ImportError> {
        let now = crate::db::now_millis();
        // Read once (the groups are all written by now): each user below changes only
        // its own memberships.
        let groups = self.app.db.access_rules().await?.groups;
        let groups_here: HashMap<&str, i64> = groups
            .iter()
            .map(|group| (group.name.as_str(), group.id))
            .collect();
        for row in rows {
            if !self.valid_name("user", &row.username) {
                continue;
            }
            let mut notes = Vec::new();
            let existing = self.app.db.user_with_password(&row.username).await?;
            if existing.is_some() && !self.may_change("user", &row.username) {
                continue;
            }
            let expired_at = existing
                .as_ref()
                .and_then(|(user, _)| user.expires_at)
                .filter(|at| *at <= now);
            let desired = desired_user(row, slugs, expired_at.unwrap_or(now), &mut notes);
            let password = stored_password(row, &mut notes);
            let token_hash = row
                .api_token
                .as_deref()
                .filter(|token| token.len() > 6)
                .map(hash_token);
            let memberships: BTreeSet<String> = row
                .groups
                .iter()
                .filter_map(|id| group_names.get(id).cloned())
                .collect();
            let mut pats: Vec<&PacketonToken> =
                tokens.iter().filter(|t| t.owner == row.id).collect();
            // A token another user here holds already (a hand-edited database) is
            // nobody's to take over.
            let token_hash = match token_hash {
                Some(hash) if self.held_by_another(&hash, &row.username).await? => {
                    notes.push("its apiToken is another user's here too: not imported".to_owned());
                    None
                }
                other => other,
            };
            let mut kept = Vec::new();
            for pat in pats {
                let hash = hash_token(&format!("pat_{}", pat.secret));
                if self.held_by_another(&hash, &row.username).await? {
                    notes.push(format!(
                        "token {} is another user's here too: not imported",
                        pat_name(pat)
                    ));
                } else {
                    kept.push(pat);
                }
            }
            pats = kept;

            let mut changed = existing.is_none();
            if let Some((user, hash)) = &existing {
                changed |= !same_user(user, &desired);
                // A password already here stays: it may be Packeton's, rehashed at a
                // login, or one set since.
                changed |= password.is_some() && hash.is_none();
                changed |= self.app.db.user_email(&row.username).await?.as_deref()
                    != Some(row.email.as_str()).filter(|e| !e.is_empty());
                let theirs: BTreeSet<String> = groups
                    .iter()
                    .filter(|group| group.members.contains(&row.username))
                    .map(|group| group.name.clone())
                    .collect();
                changed |= theirs != memberships;
            }
            let credentials = match &existing {
                Some(_) => self.app.db.user_credentials(&row.username).await?,
                None => None,
            };
            let held: Vec<(String, String)> = credentials
                .iter()
                .flat_map(|c| c.tokens.iter())
                .map(|(hash, row)| (row.name.clone(), hash.clone()))
                .collect();
            let holds = |name: &str, hash: &str| held.iter().any(|(n, h)| n == name && h == hash);
            if let Some(hash) = &token_hash {
                changed |= !holds(API_TOKEN_NAME, hash);
            }
            for pat in &pats {
                changed |= !holds(&pat_name(pat), &hash_token(&format!("pat_{}", pat.secret)));
            }
            let outcome = match (&existing, changed) {
                (None, _) => Outcome::Created,
                (Some(_), true) => Outcome::Updated,
                (Some(_), false) => Outcome::Unchanged,
            };
            if !self.dry_run && outcome != Outcome::Unchanged {
                // A password set here (by its user or an admin) is kept.
                let has_password = existing.as_ref().is_some_and(|(_, hash)| hash.is_some());
                let new_password = password.as_deref().filter(|_| !has_password);
                self.write_user(row, &desired, new_password, existing.is_none())
                    .await?;
                let ids: Vec<i64> = memberships
                    .iter()
                    .filter_map(|name| groups_here.get(name.as_str()).copied())
                    .collect();
                self.app.db.set_user_groups(&row.username, &ids).await?;
                if let Some(hash) = &token_hash
                    && !holds(API_TOKEN_NAME, hash)
                {
                    self.replace_token(&row.username, API_TOKEN_NAME, &Scopes(None), None, hash)
                        .await?;
                }
                for pat in &pats {
                    let hash = hash_token(&format!("pat_{}", pat.secret));
                    if !holds(&pat_name(pat), &hash) {
                        let (scopes, dropped) = pat_scopes(pat);
                        if !dropped.is_empty() {
                            notes.push(format!(
                                "token {}: scopes packyard does not have, left out: {}",
                                pat_name(pat),
                                dropped.join(", ")
                            ));
                        }
                        let expires = pat.expire_at.as_deref().map(|at| (at, moment(at)));
                        if let Some((at, None)) = expires {
                            notes.push(format!(
                                "token {} not imported: its expiry {at:?} is no date",
                                pat_name(pat)
                            ));
                            continue;
                        }
                        let expires = expires.and_then(|(_, at)| at);
                        self.replace_token(&row.username, &pat_name(pat), &scopes, expires, &hash)
                            .await?;
                    }
                }
            }
            if row
                .api_token
                .as_deref()
                .is_some_and(|token| token.len() <= 6)
            {
                notes.push("its apiToken is 6 characters or fewer, which Packeton refuses too: not imported".to_owned());
            }
            self.finish("user", &row.username, outcome, notes).await?;
        }
        Ok(())
    }

    /// Creates or updates user `row` as `desired`, with the password hash `password`
    /// (Packeton's) when given.
    async fn write_user(
        &self,
        row: &PacketonUser,
        desired: &UserChange,
        password: Option<&str>,
        create: bool,
    ) -> Result<(), ImportError> {
        let db = &self.app.db;
        if create {
            // A token nobody knows: the user's real ones are added next.
            let placeholder = hash_token(&crate::tokens::generate());
            db.create_user(&row.username, Role::User, &placeholder)
                .await?;
            db.revoke_all_tokens(&row.username).await?;
        }
        db.change_user(&row.username, desired).await?;
        let email = Some(row.email.as_str()).filter(|e| !e.is_empty());
        db.set_user_email(&row.username, email).await?;
        if let Some(hash) = password {
            db.set_password(&row.username, Some(hash)).await?;
        }
        Ok(())
    }

    /// Whether a user other than `user` holds the token with `hash`.
    async fn held_by_another(&self, hash: &str, user: &str) -> Result<bool, ImportError> {
        Ok(self
            .app
            .db
            .token_owner(hash)
            .await?
            .is_some_and(|(owner, _)| owner.name != user))
    }

    /// Gives `user` the token `name` with `hash`, replacing one of that name.
    async fn replace_token(
        &self,
        user: &str,
        name: &str,
        scopes: &Scopes,
        expires_at: Option<i64>,
        hash: &str,
    ) -> Result<(), ImportError> {
        self.app.db.revoke_token(user, name).await?;
        self.app
            .db
            .create_token(user, name, scopes, expires_at, None, hash)
            .await?;
        Ok(())
    }
}

impl Import<'_> {
    /// Packages with their versions as Packeton published them, and their archives.
    async fn packages(
        &mut self,
        rows: &[PacketonPackage],
        archives: &Archives,
        app_secret: Option<&str>,
    ) -> Result<(), ImportError> {
        for package in rows {
            let kind = match package.repo_type.as_str() {
                "vcs" => PackageKind::Git,
                // Uploaded archives, and what the composer-push route creates (a
                // `custom` package: a composer.json per version, its archive uploaded):
                // both are versions with an archive in the artifact storage.
                "artifact" | "custom" => PackageKind::Artifact,
                other => {
                    self.report.add(
                        "package",
                        &package.name,
                        Outcome::Skipped(format!(
                            "a {other} package (Packeton's virtual, mono-repository, integration and proxied packages are not served by packyard: add its repository or upload its archives)"
                        )),
                    );
                    continue;
                }
            };
            if let Err(error) = PackageName::parse(&package.name) {
                self.report.add(
                    "package",
                    &package.name,
                    Outcome::Skipped(error.to_string()),
                );
                continue;
            }
            let mut notes = Vec::new();
            if kind == PackageKind::Git {
                // As `packyard package add` checks it: a repository on this server's
                // own disk is not taken from another installation's data.
                let refused = match crate::repository_url::validate(&package.repository) {
                    Err(error) => Some(error.to_string()),
                    Ok(()) if crate::repository_url::is_local(&package.repository) => Some(
                        "its repository is on the server's own disk: add it with `packyard package add` if it should be".to_owned(),
                    ),
                    Ok(()) => None,
                };
                if let Some(why) = refused {
                    self.report
                        .add("package", &package.name, Outcome::Skipped(why));
                    continue;
                }
                if crate::redact::credentials_in(&package.repository).is_some() {
                    notes.push("the credentials in its repository URL are not carried over: give them with `packyard package` again".to_owned());
                }
            }
            // A package the import leaves alone is decided before any of its archives is
            // read, so none is fetched, hashed or written under packyard's own keys.
            let existing = self.app.db.package_with_versions(&package.name).await?;
            if existing.is_some() && !self.may_change("package", &package.name) {
                continue;
            }
            if let Some((row, _)) = &existing
                && row.kind != kind
            {
                self.report.add(
                    "package",
                    &package.name,
                    Outcome::Skipped(format!(
                        "packyard has it as an {} package already",
                        row.kind
                    )),
                );
                continue;
            }
            let mut records = Vec::new();
            for version in &package.versions {
                match self
                    .version(package, version, kind, archives, &mut notes)
                    .await?
                {
                    Ok(record) => records.push(record),
                    Err(why) => {
                        notes.push(format!("version {} not imported: {why}", version.version));
                    }
                }
            }
            let outcome = match &existing {
                None => Outcome::Created,
                Some((_, held)) => {
                    let differs = records
                        .iter()
                        .any(|record| !held.iter().any(|h| h == record));
                    if differs {
                        Outcome::Updated
                    } else {
                        Outcome::Unchanged
                    }
                }
            };
            if !self.dry_run {
                let credentials = match (&package.credentials, &existing, kind) {
                    (Some(credentials), None, PackageKind::Git) => {
                        self.git_credentials(package, credentials, app_secret, &mut notes)
                    }
                    _ => None,
                };
                self.write_package(
                    package,
                    kind,
                    existing.as_ref().map(|(_, held)| held.as_slice()),
                    &records,
                    credentials,
                )
                .await?;
            }
            if package.full_visibility && !self.dry_run {
                self.app.db.set_package_public(&package.name, true).await?;
            }
            self.finish("package", &package.name, outcome, notes)
                .await?;
        }
        Ok(())
    }

    /// Packeton's git credentials of `package` as packyard's: opened with Packeton's
    /// APP_SECRET, sealed with PACKYARD_SECRET for the package's repository. The SSH
    /// key, and the Composer auth (`http-basic` for the repository's host, a
    /// `github-oauth` or `gitlab-token` token) as a user name and password. `None`, with
    /// a note, when they cannot be carried over.
    fn git_credentials(
        &self,
        package: &PacketonPackage,
        stored: &PacketonCredentials,
        app_secret: Option<&str>,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        let open = |value: &Option<String>, what: &str, notes: &mut Vec<String>| match value {
            None => None,
            Some(value) => match crypt::decrypt(value, app_secret) {
                Ok(plain) => Some(plain),
                Err(error) => {
                    notes.push(format!(
                        "its credentials {:?}: {what}: {error}",
                        stored.name
                    ));
                    None
                }
            },
        };
        let ssh_key = open(&stored.ssh_key, "the SSH key", notes);
        let auth = open(&stored.composer_config, "the Composer auth", notes)
            .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok());
        let host = reqwest::Url::parse(&package.repository)
            .ok()
            .and_then(|url| url.host_str().map(str::to_ascii_lowercase));
        let (mut username, mut password) = (None, None);
        if let (Some(auth), Some(host)) = (&auth, &host) {
            let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
            if let Some(basic) = auth.get("http-basic").and_then(|b| b.get(host.as_str())) {
                username = basic.get("username").and_then(text);
                password = basic.get("password").and_then(text);
            } else if let Some(token) = auth.get("github-oauth").and_then(|t| t.get(host.as_str()))
            {
                username = Some("x-access-token".to_owned());
                password = text(token);
            } else if let Some(token) = auth.get("gitlab-token").and_then(|t| t.get(host.as_str()))
            {
                username = Some("oauth2".to_owned());
                password = token.get("token").and_then(text).or_else(|| text(token));
            }
        }
        if ssh_key.is_none() && password.is_none() {
            if auth.is_some() {
                notes.push(format!(
                    "its credentials {:?} hold no auth for its repository's host: not carried over",
                    stored.name
                ));
            }
            return None;
        }
        let credentials = crate::git_packages::Credentials {
            username,
            password,
            ssh_key,
        };
        let Ok(secrets) = self.app.secrets() else {
            notes.push(
                "its credentials are not carried over: set PACKYARD_SECRET, which seals them"
                    .to_owned(),
            );
            return None;
        };
        let url = crate::redact::public(&package.repository);
        let owner = crate::secrets::SealedFor::PackageCredentials {
            package: &package.name,
            repository: &url,
        };
        let plain = serde_json::to_vec(&credentials).expect("credentials serialize");
        Some(secrets.seal(&plain, owner))
    }

    /// Stores the versions of `package` that packyard does not hold as they are.
    async fn write_package(
        &self,
        package: &PacketonPackage,
        kind: PackageKind,
        held: Option<&[VersionRecord]>,
        records: &[VersionRecord],
        sealed_credentials: Option<String>,
    ) -> Result<(), ImportError> {
        let db = &self.app.db;
        if held.is_none() && kind == PackageKind::Git {
            let url = crate::redact::public(&package.repository);
            let new = NewGitPackage {
                name: package.name.clone(),
                repository_key: crate::repository_url::key(&url),
                repository_url: url,
                credentials: sealed_credentials,
                webhook_secret: None,
            };
            db.create_git_package(&new, records, &ScanRecord::default())
                .await?;
            return Ok(());
        }
        for record in records {
            if !held.is_some_and(|held| held.contains(record)) {
                db.save_version(&package.name, kind, record).await?;
            }
        }
        Ok(())
    }

    /// Version `version` as packyard stores it, its archive copied from Packeton's
    /// storage and checked; the inner `Err` says why it is not imported.
    async fn version(
        &self,
        package: &PacketonPackage,
        version: &PacketonVersion,
        kind: PackageKind,
        archives: &Archives,
        notes: &mut Vec<String>,
    ) -> Result<Result<VersionRecord, VersionSkipped>, ImportError> {
        let Some(reference) = version.reference.clone() else {
            return Ok(Err(VersionSkipped::NoReference));
        };
        let (store, key) = match kind {
            PackageKind::Git => (
                StoreName::Dist,
                keys::dist(&package.name, &version.version, &reference),
            ),
            PackageKind::Artifact => (StoreName::Artifact, keys::artifact(&reference, "zip")),
        };
        if kind == PackageKind::Artifact
            && !(reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Ok(Err(VersionSkipped::NotASha1(reference)));
        }
        let wanted = Wanted {
            uploads: kind == PackageKind::Artifact,
            key: &key,
            package: &package.name,
            reference: &reference,
        };
        let found = archives.read(&wanted, self.app.settings.max_upload).await;
        let shasum = match found {
            Err(error) => return Ok(Err(error.into())),
            Ok(Some((bytes, location))) => {
                let sha1 = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&bytes));
                // The checksum Packeton published (an upload's reference is a random
                // name, not its content's sha1).
                let recorded = version.dist_shasum.as_deref();
                if let Some(recorded) = recorded.filter(|r| !r.eq_ignore_ascii_case(&sha1)) {
                    return Ok(Err(VersionSkipped::Corrupted {
                        location,
                        actual: sha1,
                        recorded: recorded.to_owned(),
                    }));
                }
                let target = self.app.storage.store(store);
                if target.size(&key).await?.is_some() {
                    let held = crate::storage_ops::sha1_of(target, &key).await?;
                    if held != sha1 {
                        return Ok(Err(VersionSkipped::HeldDiffers {
                            store,
                            key,
                            held,
                            theirs: sha1,
                        }));
                    }
                } else if !self.dry_run {
                    target.put_bytes(&key, bytes.into()).await?;
                }
                sha1
            }
            Ok(None) => {
                let missing = VersionSkipped::Missing(archives.location(&wanted));
                if kind == PackageKind::Artifact {
                    return Ok(Err(missing));
                }
                notes.push(format!(
                    "version {}: {missing}; it is built from the repository at its first download",
                    version.version
                ));
                String::new()
            }
        };
        Ok(Ok(VersionRecord {
            version: version.version.clone(),
            version_normalized: version.normalized.clone(),
            reference,
            shasum,
            dist_store: store,
            dist_key: key,
            metadata: serde_json::to_string(&published_fields(package, version))
                .expect("JSON serializes"),
            released_at: version.released_at.as_deref().and_then(moment).unwrap_or(0),
            // When Packeton published it: an imported version is not new.
            published_at: version.created_at.as_deref().and_then(moment).unwrap_or(0),
        }))
    }
}

/// Why one version is not imported: a note of the report, not a failure of the run.
#[derive(Debug, thiserror::Error)]
pub enum VersionSkipped {
    #[error("it has no dist or source reference")]
    NoReference,
    #[error("its reference {0:?} is not the 40 hex digits Packeton names an uploaded archive by")]
    NotASha1(String),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(
        "its archive {location} is corrupted: its sha1 is {actual}, Packeton published {recorded}"
    )]
    Corrupted {
        location: String,
        actual: String,
        recorded: String,
    },
    #[error("packyard's {} store already holds a different {key} (sha1 {held}, Packeton's is {theirs}): not overwritten", store.as_str())]
    HeldDiffers {
        store: StoreName,
        key: String,
        held: String,
        theirs: String,
    },
    #[error("its archive is missing: {0}")]
    Missing(String),
}

/// The fields of `version` as Packeton published them: its own, and `abandoned` (the
/// replacement's name, or `true`) when the package is, as Packeton adds it to every
/// version's metadata.
fn published_fields(
    package: &PacketonPackage,
    version: &PacketonVersion,
) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = version.fields.clone();
    if package.abandoned {
        let value = match &package.replacement {
            Some(replacement) => serde_json::Value::String(replacement.clone()),
            None => serde_json::Value::Bool(true),
        };
        fields.insert("abandoned".to_owned(), value);
    }
    fields
}

/// The role Packeton's roles of `row` amount to here.
fn role_of(row: &PacketonUser) -> Role {
    let has = |role: &str| row.roles.iter().any(|r| r == role);
    if has("ROLE_ADMIN") || has("ROLE_SUPER_ADMIN") || has("ROLE_SUPERADMIN") {
        Role::Admin
    } else if has("ROLE_MAINTAINER") {
        Role::Maintainer
    } else {
        Role::User
    }
}

/// The role, access, dates and limit user `row` gets here; a disabled user's access
/// expires at `disabled_at` (the import, or the expiry an earlier import gave it).
fn desired_user(
    row: &PacketonUser,
    slugs: &ByPacketonId,
    disabled_at: i64,
    notes: &mut Vec<String>,
) -> UserChange {
    let role = role_of(row);
    let mut expires_at = row.expires_at.as_deref().and_then(moment);
    if !row.enabled {
        notes.push("disabled in Packeton: its access expires at the import".to_owned());
        expires_at = Some(expires_at.map_or(disabled_at, |at| at.min(disabled_at)));
    }
    let subrepos = if role == Role::User {
        let ids = row.sub_repos.clone().unwrap_or_default();
        let mut limit: Vec<String> = Vec::new();
        if ids.is_empty() {
            limit.push(ROOT_SUB_REPOSITORY.to_owned());
        }
        for id in ids {
            match (id, slugs.get(&id)) {
                (0, _) => limit.push(ROOT_SUB_REPOSITORY.to_owned()),
                (_, Some(slug)) => limit.push(slug.clone()),
                (_, None) => notes.push(format!(
                    "sub-repository {id} of its limit was not imported: left out"
                )),
            }
        }
        Some(limit)
    } else {
        if row.sub_repos.as_ref().is_some_and(|ids| !ids.is_empty()) {
            notes.push("admins and maintainers are not limited to sub-repositories here: its limit is dropped".to_owned());
        }
        None
    };
    UserChange {
        role: Some(role),
        full_access: Some(row.roles.iter().any(|r| r == "ROLE_FULL_CUSTOMER")),
        expires_at: Some(expires_at),
        updates_until: Some(row.expired_updates_at.as_deref().and_then(moment)),
        min_release_age: None,
        subrepos: Some(subrepos),
        groups: None,
        password_hash: None,
    }
}

/// Whether `user` already is as `desired`.
fn same_user(user: &User, desired: &UserChange) -> bool {
    let role = if user.is_admin {
        Role::Admin
    } else if user.is_maintainer {
        Role::Maintainer
    } else {
        Role::User
    };
    Some(role) == desired.role
        && Some(user.full_access) == desired.full_access
        && Some(user.expires_at) == desired.expires_at
        && Some(user.updates_until) == desired.updates_until
        && Some(user.subrepos.clone()) == desired.subrepos
}

/// The password hash to store: Packeton's own when packyard can verify it.
fn stored_password(row: &PacketonUser, notes: &mut Vec<String>) -> Option<String> {
    let stored = row.password.as_deref()?;
    if !password::affordable(stored) {
        notes.push("its password hash asks for more work than packyard allows (bcrypt cost over 15, argon2 over 256 MiB, 10 passes or 8 lanes): it logs in only after `packyard user passwd`".to_owned());
        return None;
    }
    let known = ["$2y$", "$2b$", "$2a$", "$argon2i$", "$argon2id$"];
    if known.iter().any(|prefix| stored.starts_with(prefix)) {
        return Some(stored.to_owned());
    }
    if stored.len() == 128 && stored.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(password::legacy_sha512(
            stored,
            row.salt.as_deref().unwrap_or(""),
        ));
    }
    debug_assert!(!stored.starts_with(LEGACY_SHA512));
    notes.push("its password hash is of a kind packyard cannot verify: it logs in only after `packyard user passwd`".to_owned());
    None
}

fn pat_name(pat: &PacketonToken) -> String {
    format!("packeton-pat-{}", pat.id)
}

/// A PAT's scopes here, and those packyard does not have.
fn pat_scopes(pat: &PacketonToken) -> (Scopes, Vec<String>) {
    // Packeton reads a token without scopes as one that may do nothing.
    let Some(names) = &pat.scores else {
        return (Scopes(Some(Vec::new())), Vec::new());
    };
    let mut scopes = Vec::new();
    let mut dropped = Vec::new();
    for name in names {
        match name.parse::<Scope>() {
            Ok(scope) => scopes.push(scope),
            Err(_) => dropped.push(name.clone()),
        }
    }
    (Scopes(Some(scopes)), dropped)
}

/// A Packeton date (`Y-m-d`) or time (`Y-m-d H:i:s`, UTC) in Unix milliseconds.
fn moment(text: &str) -> Option<i64> {
    let text = text.trim();
    let rfc3339 = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        format!("{}Z", text.replacen(' ', "T", 1).trim_end_matches('Z'))
    };
    crate::time::parse_moment(&rfc3339, 0)
}

fn sorted(list: &[String]) -> Vec<String> {
    let mut list = list.to_vec();
    list.sort();
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packeton_dates_and_times_are_utc_moments() {
        assert_eq!(moment("2026-01-02"), Some(1_767_312_000_000));
        assert_eq!(moment("2026-01-02 00:00:01"), Some(1_767_312_001_000));
        assert_eq!(moment("garbage"), None);
    }
}
