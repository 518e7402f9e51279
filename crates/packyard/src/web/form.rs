//! Posted forms: the extractors every form route takes, and the fields they carry.
//!
//! A form is checked from its headers before a byte of its body is read, as the API's
//! credentials are (`http::access`): a request another site's page made never gets
//! here (`http::observe` refuses every cross-site write, see `http::is_cross_site`),
//! the session cookie must name a live session whose user has the route's role, and
//! only then is the body read, at most
//! [`FORM_BYTES`] of it (a larger `Content-Length` is refused at once), and the CSRF
//! token it carries compared with the session's. An anonymous client therefore costs a
//! header parse and one session lookup, however large a body it declares.
//!
//! Fields are name/value pairs: repeated fields (checkbox lists) are kept, which a
//! struct form would collapse to one value.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use futures_util::StreamExt as _;
use serde::Deserialize;

use super::error::WebError;
use super::session::{SignedIn, Viewer};
pub use crate::access::roles::{Admins, AnyUser, Maintainers, Role};
use crate::app::App;
use crate::db::{Session, User};
use crate::uploads::archive_file::{ArchiveFile, ReceiveError};

/// The largest form body read (and, for the upload form, the most its fields other than
/// the file may hold together): what a person types into a form is far smaller.
pub const FORM_BYTES: usize = 64 * 1024;

/// A form posted from one of our pages by a signed-in user with role `R`, its CSRF
/// token checked: the only way a handler gets a form's fields.
pub struct PostedForm<R: Role> {
    /// The poster, signed in (for the page shown in answer).
    pub viewer: Viewer,
    pub fields: Fields,
    role: PhantomData<fn() -> R>,
}

/// A form any signed-in user may post.
pub type SignedInForm = PostedForm<AnyUser>;
/// A form for maintainers and admins.
pub type MaintainerForm = PostedForm<Maintainers>;
/// A form for admins.
pub type AdminForm = PostedForm<Admins>;

impl<R: Role> PostedForm<R> {
    pub fn session(&self) -> &Session {
        self.viewer
            .session
            .as_ref()
            .expect("a posted form has a session")
    }

    pub fn user(&self) -> &User {
        &self.session().user
    }
}

/// The checks made from the headers alone: signed in, with role `R`.
async fn poster<R: Role>(parts: &mut Parts, app: &Arc<App>) -> Result<Viewer, WebError> {
    Ok(SignedIn::<R>::from_request_parts(parts, app).await?.viewer)
}

impl<R: Role> FromRequest<Arc<App>> for PostedForm<R> {
    type Rejection = WebError;

    async fn from_request(request: Request, app: &Arc<App>) -> Result<Self, WebError> {
        let (mut parts, body) = request.into_parts();
        let viewer = poster::<R>(&mut parts, app).await?;
        let fields = read_fields(&parts.headers, body).await?;
        viewer.check_csrf(fields.csrf())?;
        Ok(PostedForm {
            viewer,
            fields,
            role: PhantomData,
        })
    }
}

/// The upload form (multipart): an admin's, checked as [`PostedForm`] is before its
/// body is read. Its parts come through [`UploadForm::next_part`], which checks the
/// CSRF field as it comes and hands out the file only after it.
pub struct AdminUpload {
    pub viewer: Viewer,
    pub form: UploadForm,
}

/// The parts of an upload form, as they arrive.
pub struct UploadForm {
    multipart: Multipart,
    /// The session's CSRF token, which the form's `csrf` field must carry.
    expected_csrf: String,
    csrf_checked: bool,
    /// What the fields other than the file may still take together.
    budget: usize,
    /// Where the file is received (`PACKYARD_TMP_DIR`), and its limit
    /// (`PACKYARD_MAX_UPLOAD`).
    scratch: std::path::PathBuf,
    max_upload: u64,
}

/// A part of the upload form: a small field as text, or the file, received into a
/// scratch file (or why it could not be).
pub enum UploadPart {
    Field { name: String, value: String },
    File(Result<ArchiveFile, ReceiveError>),
}

impl UploadForm {
    /// The next part. The `csrf` field is checked (and not returned); a file before it
    /// is refused as a stale form would be, so nothing of an unchecked form is stored.
    pub async fn next_part(&mut self) -> Result<Option<UploadPart>, WebError> {
        loop {
            let Some(field) = self
                .multipart
                .next_field()
                .await
                .map_err(|error| unreadable_upload(&error))?
            else {
                return Ok(None);
            };
            let name = field.name().unwrap_or_default().to_owned();
            if name == "file" {
                if !self.csrf_checked {
                    return Err(WebError::Csrf);
                }
                let received = ArchiveFile::receive(&self.scratch, field, self.max_upload).await;
                return Ok(Some(UploadPart::File(received)));
            }
            let value = small_field(field, &mut self.budget).await?;
            if name == "csrf" {
                if !crate::auth::constant_time_eq(self.expected_csrf.as_bytes(), value.as_bytes()) {
                    return Err(WebError::Csrf);
                }
                self.csrf_checked = true;
                continue;
            }
            return Ok(Some(UploadPart::Field { name, value }));
        }
    }
}

impl FromRequest<Arc<App>> for AdminUpload {
    type Rejection = WebError;

    async fn from_request(request: Request, app: &Arc<App>) -> Result<Self, WebError> {
        let (mut parts, body) = request.into_parts();
        let viewer = poster::<Admins>(&mut parts, app).await?;
        // The file is bounded by PACKYARD_MAX_UPLOAD as it is received; nothing larger
        // than that and the fields together can be a valid upload.
        let most = app.settings.max_upload.saturating_add(FORM_BYTES as u64);
        if declared_length(&parts.headers).is_some_and(|length| length > most) {
            return Err(WebError::TooLarge);
        }
        // A body sent without a length (chunked) is cut there too: the multipart parser
        // holds a part's headers (and anything before the first boundary) in memory
        // until they end.
        let body = Body::new(http_body_util::Limited::new(
            body,
            usize::try_from(most).unwrap_or(usize::MAX),
        ));
        let request = Request::from_parts(parts, body);
        let multipart = Multipart::from_request(request, app)
            .await
            .map_err(|rejection| WebError::BadRequest(rejection.body_text()))?;
        let expected_csrf = viewer.signed_in()?.csrf_token.clone();
        Ok(AdminUpload {
            viewer,
            form: UploadForm {
                multipart,
                expected_csrf,
                csrf_checked: false,
                budget: FORM_BYTES,
                scratch: app.upload_dir().to_owned(),
                max_upload: app.settings.max_upload,
            },
        })
    }
}

/// A multipart field other than the file, as text, charged to `budget` (the bytes the
/// form's fields may still take): beyond it, `413`.
async fn small_field(
    mut field: axum::extract::multipart::Field<'_>,
    budget: &mut usize,
) -> Result<String, WebError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|error| unreadable_upload(&error))?
    {
        *budget = budget.checked_sub(chunk.len()).ok_or(WebError::TooLarge)?;
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes)
        .map_err(|_| WebError::BadRequest("a field of the upload form is not UTF-8".to_owned()))
}

/// What a multipart error says to the client: `413` when the body went past its limit
/// (see [`AdminUpload`]), else what could not be read.
fn unreadable_upload(error: &axum::extract::multipart::MultipartError) -> WebError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        WebError::TooLarge
    } else {
        WebError::BadRequest(format!("the upload form could not be read: {error}"))
    }
}

/// The `Content-Length` a request declares, if it declares one.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads a URL-encoded form body of at most [`FORM_BYTES`]: a larger declared length is
/// refused before anything is read, a body that grows past it when it does.
pub async fn read_fields(headers: &HeaderMap, body: Body) -> Result<Fields, WebError> {
    if declared_length(headers).is_some_and(|length| length > FORM_BYTES as u64) {
        return Err(WebError::TooLarge);
    }
    let urlencoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|kind| {
            kind.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !urlencoded {
        return Err(WebError::NotAForm);
    }
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            WebError::BadRequest(format!("the form could not be read: {error}"))
        })?;
        if bytes.len() + chunk.len() > FORM_BYTES {
            return Err(WebError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fields::parse(&bytes))
}

/// A posted field that cannot be taken as it is; its message names the field for the
/// page that shows the form again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{label}: {text:?} is not a date (2026-12-31), a time or a span (30d)")]
    NotAMoment { label: String, text: String },
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    #[error("unknown sub-repository setting {0:?}: all or some")]
    UnknownLimit(String),
}

#[derive(Deserialize, Default)]
#[serde(transparent)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The fields of a URL-encoded body.
    pub fn parse(body: &[u8]) -> Fields {
        Fields(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find_map(|(key, value)| (key == name).then_some(value.trim()))
            .unwrap_or_default()
    }

    /// The first value of `name` as sent (a password's spaces are part of it).
    pub fn untrimmed(&self, name: &str) -> &str {
        self.0
            .iter()
            .find_map(|(key, value)| (key == name).then_some(value.as_str()))
            .unwrap_or_default()
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// Whether the checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// The CSRF token the form carried.
    pub fn csrf(&self) -> &str {
        self.get("csrf")
    }

    /// `name` as a moment (a date such as 2026-12-31, a time or a span such as 30d);
    /// `Ok(None)` when empty.
    pub fn moment(&self, name: &str, label: &str) -> Result<Option<i64>, FieldError> {
        let text = self.get(name);
        if text.is_empty() {
            return Ok(None);
        }
        crate::time::parse_moment(text, crate::db::now_millis())
            .map(Some)
            .ok_or_else(|| FieldError::NotAMoment {
                label: label.to_owned(),
                text: text.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_repeated_values() {
        let fields = Fields::parse(b"csrf=t&scope=metadata&scope=mirror%3Aread&name=+ci+&box=on");
        assert_eq!(fields.csrf(), "t");
        assert_eq!(fields.all("scope"), ["metadata", "mirror:read"]);
        assert_eq!(fields.get("name"), "ci");
        assert!(fields.checked("box"));
        assert!(!fields.checked("other"));
        assert_eq!(fields.moment("missing", "x"), Ok(None));
        assert!(
            fields
                .moment("name", "expires")
                .unwrap_err()
                .to_string()
                .starts_with("expires: \"ci\"")
        );
    }
}
