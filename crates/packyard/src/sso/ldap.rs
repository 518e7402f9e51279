//! An LDAP directory as an identity provider, through the `ldap3` crate: a service bind
//! (the configured DN and password) finds the user with `user_filter`, the login name
//! escaped as RFC 4515 says (so `*)(uid=*` is a name, not a filter); then a bind as
//! that user's DN with the password typed proves it. An empty password is refused
//! before anything is sent: many servers take a bind with one as an anonymous bind
//! that "succeeds". Groups are the user's `memberOf` values, or a search of
//! `group_base` for groups naming the user; each is known by its `cn`.
//!
//! Every connection is TLS unless the URL is a plain `ldap://` without `starttls`, and
//! every operation is bounded by the provider's timeout.

use std::sync::Arc;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};

use super::config::LdapSettings;

/// A user as the directory has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// Who it is for good: its `subject_attribute` (`entryUUID` by default; a binary
    /// one such as Active Directory's `objectGUID` in hex). A DN is given again to the
    /// next person with the same name, so it is only where the entry is now.
    pub subject: String,
    pub dn: String,
    pub username: String,
    pub email: Option<String>,
    /// The `cn` of each group the user is in.
    pub groups: Vec<String>,
}

/// Why a sign-in through the directory failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// No such user, or the wrong password: the same to the person signing in.
    #[error("wrong user name or password")]
    Rejected,
    /// The directory could not be asked (unreachable, TLS, the service bind refused,
    /// a search error): the operator's problem, logged with the reason.
    #[error("the directory {url}: {why}")]
    Unavailable { url: String, why: String },
    /// One entry could not be read (the re-check goes on with the next).
    #[error("{0}")]
    Entry(String),
}

/// Longest login name looked up; directories' names are far shorter.
const MAX_USERNAME: usize = 256;

impl LdapSettings {
    /// The user `username` if `password` is theirs.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<DirectoryUser, DirectoryError> {
        if password.is_empty() || username.trim().is_empty() || username.len() > MAX_USERNAME {
            return Err(DirectoryError::Rejected);
        }
        let mut service = self.service_connection().await?;
        let filter = self
            .user_filter
            .replace("{username}", &ldap_escape(username));
        let found = self
            .find_user(&mut service, &self.user_base, Scope::Subtree, &filter)
            .await;
        let found = match found {
            Ok(Some(user)) => user,
            Ok(None) => {
                let _ = service.unbind().await;
                // As long as for a user who exists, so that the answer's time does not
                // tell: a bind of a name nobody has, on a connection of its own.
                if let Ok(mut own) = self.connect().await {
                    let nobody = format!("uid=packyard-nobody,{}", self.user_base);
                    let _ = own.simple_bind(&nobody, password).await;
                    let _ = own.unbind().await;
                }
                return Err(DirectoryError::Rejected);
            }
            Err(error) => {
                let _ = service.unbind().await;
                return Err(error);
            }
        };
        let groups = self.groups_of(&mut service, &found).await;
        let _ = service.unbind().await;
        // The user's own bind, on a connection of its own: the service connection's
        // identity never becomes the user's.
        let mut own = self.connect().await?;
        let bound = own
            .simple_bind(&found.dn, password)
            .await
            .map_err(|e| self.unavailable(e))?;
        let _ = own.unbind().await;
        match bound.rc {
            0 => {}
            // invalidCredentials (a wrong password, or a locked account under ppolicy).
            49 => return Err(DirectoryError::Rejected),
            rc => {
                return Err(
                    self.unavailable(format!("binding as the user failed with result code {rc}"))
                );
            }
        }
        Ok(DirectoryUser {
            groups: groups?,
            ..found
        })
    }

    /// The user whose subject is `subject`, with its groups, if the directory still
    /// has it as the user filter describes (any name, wherever it moved under
    /// `user_base`): what the periodic re-check asks. A failure to reach the directory
    /// is [`DirectoryError::Unavailable`]; one about this entry alone is
    /// [`DirectoryError::Entry`].
    pub async fn recheck(&self, subject: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        let mut service = self.service_connection().await?;
        let filter = format!(
            "(&{}({}={}))",
            self.user_filter.replace("{username}", "*"),
            self.subject_attribute,
            self.escaped_subject(subject)
        );
        let found = self
            .find_user(&mut service, &self.user_base, Scope::Subtree, &filter)
            .await;
        let found = match found {
            Ok(found) => found.filter(|user| user.subject == subject),
            Err(DirectoryError::Unavailable { why, .. }) => {
                let _ = service.unbind().await;
                return Err(DirectoryError::Entry(why));
            }
            Err(error) => return Err(error),
        };
        let found = match found {
            Some(user) => {
                let groups = self.groups_of(&mut service, &user).await;
                Some(DirectoryUser {
                    groups: groups.map_err(|e| DirectoryError::Entry(e.to_string()))?,
                    ..user
                })
            }
            None => None,
        };
        let _ = service.unbind().await;
        Ok(found)
    }

    /// `subject` as a filter value: escaped text, or for a binary attribute (the
    /// subject is then hex) each byte as `\xx`.
    fn escaped_subject(&self, subject: &str) -> String {
        let binary = self.subject_attribute.eq_ignore_ascii_case("objectGUID")
            || self.subject_attribute.eq_ignore_ascii_case("objectSid");
        match hex::decode(subject) {
            Ok(bytes) if binary => bytes.iter().fold(String::new(), |mut out, b| {
                use std::fmt::Write as _;
                let _ = write!(out, "\\{b:02x}");
                out
            }),
            _ => ldap_escape(subject).into_owned(),
        }
    }

    fn unavailable(&self, why: impl std::fmt::Display) -> DirectoryError {
        DirectoryError::Unavailable {
            url: self.url.clone(),
            why: why.to_string(),
        }
    }

    async fn connect(&self) -> Result<ldap3::Ldap, DirectoryError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.starttls);
        if let Some(ca_file) = &self.ca_file {
            settings = settings.set_config(tls_config(ca_file).map_err(|e| self.unavailable(e))?);
        }
        let (connection, mut ldap) = LdapConnAsync::with_settings(settings, &self.url)
            .await
            .map_err(|e| self.unavailable(e))?;
        ldap3::drive!(connection);
        ldap.with_timeout(self.timeout);
        Ok(ldap)
    }

    async fn service_connection(&self) -> Result<ldap3::Ldap, DirectoryError> {
        let mut ldap = self.connect().await?;
        ldap.simple_bind(&self.bind_dn, &self.bind_password)
            .await
            .and_then(ldap3::LdapResult::success)
            .map_err(|e| {
                self.unavailable(format!("the service bind as {} failed: {e}", self.bind_dn))
            })?;
        ldap.with_timeout(self.timeout);
        Ok(ldap)
    }

    /// The one entry `filter` finds under `base`; `None` for none, and for more than
    /// one (a filter that matches several people must not pick one of them).
    async fn find_user(
        &self,
        ldap: &mut ldap3::Ldap,
        base: &str,
        scope: Scope,
        filter: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        let attributes = [
            self.username_attribute.as_str(),
            self.email_attribute.as_str(),
            "memberOf",
            self.subject_attribute.as_str(),
        ];
        ldap.with_timeout(self.timeout);
        let ldap3::SearchResult(entries, result) = ldap
            .search(base, scope, filter, attributes)
            .await
            .map_err(|e| self.unavailable(format!("searching {base}: {e}")))?;
        match result.rc {
            0 => {}
            // noSuchObject: the base (a user's DN, when re-checking) is gone.
            32 => return Ok(None),
            _ => {
                return Err(self.unavailable(format!("searching {base}: {result}")));
            }
        }
        let [entry] = entries.as_slice() else {
            return Ok(None);
        };
        let entry = entry_of(entry).ok_or_else(|| self.unavailable("a malformed entry"))?;
        let first = |attribute: &str| {
            entry
                .attrs
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
                .and_then(|(_, values)| values.first().cloned())
        };
        let Some(username) = first(&self.username_attribute) else {
            return Ok(None);
        };
        let subject = first(&self.subject_attribute).or_else(|| {
            entry
                .bin_attrs
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&self.subject_attribute))
                .and_then(|(_, values)| values.first().map(hex::encode))
        });
        let Some(subject) = subject else {
            return Err(self.unavailable(format!(
                "{} has no {}: set subject_attribute to an attribute every user has for good (entryUUID, objectGUID, nsUniqueId)",
                entry.dn, self.subject_attribute
            )));
        };
        // Each group by its `cn` and by its whole DN (lower case): a `cn` may be taken
        // by a group anywhere in the tree, a DN names one group; `group_base`, when
        // set, keeps only the groups under it.
        let under_base = |dn: &str| {
            self.group_base.as_ref().is_none_or(|base| {
                dn.to_lowercase()
                    .ends_with(&format!(",{}", base.to_lowercase()))
            })
        };
        let member_of = entry
            .attrs
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("memberOf"))
            .map(|(_, values)| {
                values
                    .iter()
                    .filter(|dn| under_base(dn))
                    .flat_map(|dn| common_name(dn).into_iter().chain([dn.to_lowercase()]))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(DirectoryUser {
            subject,
            email: first(&self.email_attribute),
            dn: entry.dn,
            username,
            groups: member_of,
        }))
    }

    /// The groups of `user`: its `memberOf`, or a search of `group_base`.
    async fn groups_of(
        &self,
        ldap: &mut ldap3::Ldap,
        user: &DirectoryUser,
    ) -> Result<Vec<String>, DirectoryError> {
        let Some(base) = &self.group_base else {
            return Ok(user.groups.clone());
        };
        let filter = self.group_filter.replace("{dn}", &ldap_escape(&user.dn));
        // ldap3's timeout is for the next operation only.
        ldap.with_timeout(self.timeout);
        ldap.with_search_options(ldap3::SearchOptions::new().sizelimit(MAX_GROUPS));
        let (entries, _) = ldap
            .search(base, Scope::Subtree, &filter, ["cn"])
            .await
            .and_then(ldap3::SearchResult::success)
            .map_err(|e| self.unavailable(format!("searching {base}: {e}")))?;
        Ok(entries
            .iter()
            .take(MAX_GROUPS as usize)
            .filter_map(entry_of)
            .flat_map(|group| {
                let cn = group.attrs.get("cn").and_then(|cn| cn.first().cloned());
                cn.into_iter().chain([group.dn.to_lowercase()])
            })
            .collect())
    }
}

#[cfg(test)]
impl LdapSettings {
    /// A directory nothing listens at (any attempt to reach it fails as unavailable),
    /// for tests of what happens before or without it.
    pub fn nowhere() -> LdapSettings {
        use std::time::Duration;
        LdapSettings {
            url: "ldap://127.0.0.1:1".into(),
            starttls: false,
            ca_file: None,
            bind_dn: "cn=svc".into(),
            bind_password: "pw".into(),
            user_base: "dc=x".into(),
            user_filter: "(uid={username})".into(),
            username_attribute: "uid".into(),
            email_attribute: "mail".into(),
            group_base: None,
            group_filter: "(member={dn})".into(),
            recheck_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
            trust_email: false,
            subject_attribute: "entryUUID".into(),
        }
    }
}

/// Groups read for one user, at most.
const MAX_GROUPS: i32 = 1000;

/// A search result as an entry; `None` for one ldap3 cannot decode (it panics on
/// malformed BER, which a hostile or broken directory could send).
fn entry_of(entry: &ldap3::ResultEntry) -> Option<SearchEntry> {
    let entry = entry.clone();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        SearchEntry::construct(entry)
    }))
    .ok()
}

/// The value of the first `cn=` of a DN (`cn=developers,ou=groups,…` → `developers`).
fn common_name(dn: &str) -> Option<String> {
    let first = dn.split(',').next()?;
    let (attribute, value) = first.split_once('=')?;
    attribute
        .trim()
        .eq_ignore_ascii_case("cn")
        .then(|| value.trim().to_owned())
}

/// Why `ca_file` gives no TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error("ca_file {}: {source}", path.display())]
    Pem {
        path: std::path::PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("ca_file {}: {source}", path.display())]
    Certificate {
        path: std::path::PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("ca_file {}: no certificate in it", .0.display())]
    Empty(std::path::PathBuf),
    #[error("TLS: {0}")]
    Tls(#[source] rustls::Error),
}

/// A TLS configuration trusting only the CA certificates of `ca_file` (PEM).
fn tls_config(ca_file: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, CaFileError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = |source| CaFileError::Pem {
        path: ca_file.to_owned(),
        source,
    };
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca_file).map_err(pem)? {
        roots
            .add(certificate.map_err(pem)?)
            .map_err(|source| CaFileError::Certificate {
                path: ca_file.to_owned(),
                source,
            })?;
    }
    if roots.is_empty() {
        return Err(CaFileError::Empty(ca_file.to_owned()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(CaFileError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_their_common_names() {
        assert_eq!(
            common_name("cn=developers,ou=groups,dc=example,dc=test").as_deref(),
            Some("developers")
        );
        assert_eq!(common_name("CN = Admins ,dc=x").as_deref(), Some("Admins"));
        assert_eq!(common_name("uid=alice,dc=x"), None);
    }

    #[test]
    fn subjects_are_filter_values_text_or_bytes() {
        let mut directory = LdapSettings::nowhere();
        assert_eq!(
            directory.escaped_subject("8f1e-*)(uid=*"),
            "8f1e-\\2a\\29\\28uid=\\2a"
        );
        directory.subject_attribute = "objectGUID".into();
        assert_eq!(directory.escaped_subject("0a1bff"), "\\0a\\1b\\ff");
    }

    #[test]
    fn a_login_name_cannot_change_the_filter() {
        let filter = "(&(objectClass=inetOrgPerson)(uid={username}))"
            .replace("{username}", &ldap_escape("*)(uid=*"));
        assert_eq!(
            filter,
            "(&(objectClass=inetOrgPerson)(uid=\\2a\\29\\28uid=\\2a))"
        );
    }
}

#[cfg(test)]
mod refusals {
    use super::*;

    #[tokio::test]
    async fn an_empty_password_is_refused_before_the_directory_is_asked() {
        let directory = LdapSettings::nowhere();
        assert!(matches!(
            directory.authenticate("alice", "").await,
            Err(DirectoryError::Rejected)
        ));
        // The same directory, asked: it is unreachable, which the empty password never
        // found out.
        assert!(matches!(
            directory.authenticate("alice", "x").await,
            Err(DirectoryError::Unavailable { .. })
        ));
    }
}
