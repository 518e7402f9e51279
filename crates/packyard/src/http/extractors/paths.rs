//! Package names in routes, parsed once into [`PackageName`]: `/p2/{vendor}/{file}`
//! (with `~dev`; `/p/` too), `.../{vendor}/{package}/...` and
//! `/packages/{vendor}/{package}.json`. Composer asks in lowercase; a name that is not a
//! valid package name is answered like an unknown one (404), since it cannot be one.

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use composer::package_name::PackageName;

use crate::app::App;
use crate::http::ApiError;

/// A p2 document request: the package, and whether its `~dev` file is asked for.
pub struct P2File {
    pub package: PackageName,
    pub dev: bool,
}

impl FromRequestParts<Arc<App>> for P2File {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let params = route_params(parts, app).await?;
        let vendor = param(&params, "vendor")?;
        let file = param(&params, "file")?;
        let Some(stem) = file.strip_suffix(".json") else {
            return Err(ApiError::not_found("metadata files end in .json"));
        };
        let (name, dev) = match stem.strip_suffix("~dev") {
            Some(name) => (name, true),
            None => (stem, false),
        };
        Ok(P2File {
            package: package_name(vendor, name)?,
            dev,
        })
    }
}

/// The package of an archive route: `{vendor}/{package}`.
pub struct PackagePath(pub PackageName);

impl FromRequestParts<Arc<App>> for PackagePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let params = route_params(parts, app).await?;
        let vendor = param(&params, "vendor")?;
        let name = param(&params, "package")?;
        Ok(PackagePath(package_name(vendor, name)?))
    }
}

/// The package of Packeton's `/packages/{vendor}/{package}.json`: the route's
/// `{package}` is the whole last segment, `.json` included (see `crate::routes`).
pub struct PackageJsonPath(pub PackageName);

impl FromRequestParts<Arc<App>> for PackageJsonPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let params = route_params(parts, app).await?;
        let vendor = param(&params, "vendor")?;
        let Some(name) = param(&params, "package")?.strip_suffix(".json") else {
            return Err(ApiError::not_found("package documents end in .json"));
        };
        Ok(PackageJsonPath(package_name(vendor, name)?))
    }
}

/// The `{file}` of an archive route (`{reference}.{type}`) and its `{version}` when
/// the route has one, by name: under a sub-repository the route has a `{slug}` before
/// them.
pub struct ArchiveFile {
    pub file: String,
    pub version: Option<String>,
}

impl ArchiveFile {
    /// The reference and the archive type the file names (`zip` when it names none).
    pub fn reference_and_kind(&self) -> Result<(&str, &str), ApiError> {
        let (reference, kind) = self
            .file
            .rsplit_once('.')
            .unwrap_or((self.file.as_str(), "zip"));
        if kind.is_empty()
            || kind.len() > 8
            || !kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(ApiError::bad_request(format!(
                "unsupported archive type {kind:?}"
            )));
        }
        Ok((reference, kind))
    }
}

impl FromRequestParts<Arc<App>> for ArchiveFile {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let params = route_params(parts, app).await?;
        Ok(ArchiveFile {
            file: param(&params, "file")?.to_owned(),
            version: param(&params, "version").ok().map(str::to_owned),
        })
    }
}

/// Marks a request served by a sub-repository because of its `Host` (see
/// `ObservedRouter`): its URLs stay at the host's root, without the slug.
#[derive(Debug, Clone, Copy)]
pub struct ScopedByHost;

/// The sub-repository slug of a route under `/{slug}/…`, if the route is one.
pub async fn route_slug(parts: &mut Parts, app: &Arc<App>) -> Option<String> {
    let params = route_params(parts, app).await.ok()?;
    params
        .iter()
        .find_map(|(key, value)| (key == "slug").then(|| value.to_owned()))
}

/// What a slug that names no sub-repository is answered with: the 404 of a route
/// that does not exist.
pub fn unknown_sub_repository() -> ApiError {
    ApiError::not_found("no such repository")
}

/// The raw (percent-decoded) parameters of the matched route.
pub(super) async fn route_params(
    parts: &mut Parts,
    app: &Arc<App>,
) -> Result<RawPathParams, ApiError> {
    RawPathParams::from_request_parts(parts, app)
        .await
        .map_err(|_| ApiError::not_found("no such route"))
}

/// The route parameter `name`; a route without it is a bug of ours.
pub(super) fn param<'a>(params: &'a RawPathParams, name: &str) -> Result<&'a str, ApiError> {
    params
        .iter()
        .find_map(|(key, value)| (key == name).then_some(value))
        .ok_or_else(|| ApiError::internal("a route without its parameter", name))
}

/// `vendor/name`, lowercased and checked with Composer's rules, so that it can be used
/// in upstream URLs and storage keys.
fn package_name(vendor: &str, name: &str) -> Result<PackageName, ApiError> {
    let mut package = String::with_capacity(vendor.len() + 1 + name.len());
    for part in [vendor, "/", name] {
        package.push_str(part);
    }
    package.make_ascii_lowercase();
    PackageName::try_from(package)
        .map_err(|e| ApiError::not_found(format!("package not found: {e}")))
}
