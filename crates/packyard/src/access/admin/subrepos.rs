//! Sub-repositories: added, changed and removed by admins (over HTTP) and the operator,
//! their fields checked by [`crate::access::subrepos`].

use super::{AccessAdmin, AdminError, Change, require_admin};
use crate::access::accounts::Actor;
use crate::access::subrepos::{
    MAX_HOSTS, MAX_NAME, MAX_PACKAGE_ENTRIES, SubRepositoryChange, SubRepositoryError, check_hosts,
    check_mirrors, check_packages, check_slug, tidy,
};
use crate::db::{SubRepositoryFields, SubRepositoryRow, is_unique_violation};

impl AccessAdmin<'_> {
    /// Every sub-repository, by slug.
    pub async fn sub_repositories(&self) -> Result<Vec<SubRepositoryRow>, AdminError> {
        Ok(self.db.sub_repositories().await?)
    }

    /// The sub-repository `slug`, or [`AdminError::NotFound`].
    pub async fn sub_repository(&self, slug: &str) -> Result<SubRepositoryRow, AdminError> {
        self.db
            .sub_repository(slug)
            .await?
            .ok_or_else(|| SubRepositoryError::Unknown(slug.to_owned()).into())
    }

    /// Creates the sub-repository `slug` with `fields`.
    pub async fn add_sub_repository(
        &self,
        actor: Actor<'_>,
        slug: &str,
        fields: SubRepositoryFields,
    ) -> Result<SubRepositoryRow, AdminError> {
        require_admin(actor)?;
        check_slug(slug)?;
        let fields = self.checked_fields(slug, fields).await?;
        self.db
            .add_sub_repository(slug, &fields)
            .await
            .map_err(|error| {
                if is_unique_violation(&error) {
                    AdminError::from(SubRepositoryError::Exists(slug.to_owned()))
                } else {
                    error.into()
                }
            })?;
        self.changed(actor, Change::SubRepository(slug)).await;
        self.sub_repository(slug).await
    }

    /// Changes what `change` names of the sub-repository `slug`.
    pub async fn change_sub_repository(
        &self,
        actor: Actor<'_>,
        slug: &str,
        change: SubRepositoryChange,
    ) -> Result<SubRepositoryRow, AdminError> {
        require_admin(actor)?;
        let row = self.sub_repository(slug).await?;
        check_packages(&change.add_packages)?;
        let mut packages = change.packages.unwrap_or(row.packages);
        packages.extend(change.add_packages);
        packages.retain(|package| !change.remove_packages.contains(package));
        let fields = SubRepositoryFields {
            name: change.name.unwrap_or(row.name),
            packages,
            hosts: change.hosts.unwrap_or(row.hosts),
            public: change.public.unwrap_or(row.public),
            mirrors: change.mirrors.unwrap_or(row.mirrors),
        };
        let fields = self.checked_fields(slug, fields).await?;
        if !self.db.set_sub_repository(slug, &fields).await? {
            return Err(SubRepositoryError::Unknown(slug.to_owned()).into());
        }
        self.changed(actor, Change::SubRepository(slug)).await;
        self.sub_repository(slug).await
    }

    /// Removes the sub-repository `slug` (its packages stay), and takes it out of every
    /// user's and group's limit.
    pub async fn remove_sub_repository(
        &self,
        actor: Actor<'_>,
        slug: &str,
    ) -> Result<(), AdminError> {
        require_admin(actor)?;
        if !self.db.remove_sub_repository(slug).await? {
            return Err(SubRepositoryError::Unknown(slug.to_owned()).into());
        }
        self.changed(actor, Change::SubRepository(slug)).await;
        Ok(())
    }

    /// `fields` checked and tidied: a name, packages that are names or patterns, host
    /// names no other sub-repository has, mirrors that exist.
    async fn checked_fields(
        &self,
        slug: &str,
        fields: SubRepositoryFields,
    ) -> Result<SubRepositoryFields, AdminError> {
        let name = fields.name.trim().to_owned();
        if name.is_empty() {
            return Err(SubRepositoryError::MissingName.into());
        }
        if name.chars().count() > MAX_NAME
            || fields.packages.len() > MAX_PACKAGE_ENTRIES
            || fields.hosts.len() > MAX_HOSTS
        {
            return Err(SubRepositoryError::TooLarge.into());
        }
        check_packages(&fields.packages)?;
        let hosts = tidy(
            fields
                .hosts
                .into_iter()
                .map(|host| host.trim().to_owned())
                .filter(|host| !host.is_empty())
                .collect(),
        );
        check_hosts(self.db, slug, &hosts, self.root_host.as_deref()).await?;
        Ok(SubRepositoryFields {
            name,
            packages: tidy(fields.packages),
            hosts,
            public: fields.public,
            mirrors: check_mirrors(fields.mirrors, &self.mirrors)?,
        })
    }
}

impl From<SubRepositoryError> for AdminError {
    fn from(error: SubRepositoryError) -> AdminError {
        match error {
            SubRepositoryError::Database(error) => AdminError::Storage(error),
            SubRepositoryError::Unknown(_) => AdminError::NotFound(error.to_string()),
            SubRepositoryError::Exists(_) | SubRepositoryError::HostTaken { .. } => {
                AdminError::Conflict(error.to_string())
            }
            SubRepositoryError::InvalidSlug(_)
            | SubRepositoryError::ReservedSlug(_)
            | SubRepositoryError::MissingName
            | SubRepositoryError::InvalidPackage(_)
            | SubRepositoryError::InvalidHost(_)
            | SubRepositoryError::RootHost(_)
            | SubRepositoryError::TooLarge
            | SubRepositoryError::UnknownMirror(..) => AdminError::Invalid(error.to_string()),
        }
    }
}
