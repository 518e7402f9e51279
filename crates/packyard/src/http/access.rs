//! Who is asking, and may they: HTTP Basic `user:token` or `?token=user:token`.

use axum::http::{HeaderMap, Uri, header};

use super::ApiError;
use crate::app::App;
use crate::auth::{parse_basic_header, split_pair};
use crate::db::User;

/// The caller of a request: a verified user, or anonymous.
pub struct Caller(pub Option<User>);

impl Caller {
    /// Reads and verifies the credentials of a request. Wrong credentials are an error
    /// even on public instances: a client that sends a token expects it to count.
    pub async fn identify(app: &App, headers: &HeaderMap, uri: &Uri) -> Result<Caller, ApiError> {
        let presented = match headers.get(header::AUTHORIZATION) {
            Some(value) => {
                let value = value.to_str().unwrap_or_default();
                Some(parse_basic_header(value).ok_or_else(|| {
                    ApiError::unauthorized("unsupported Authorization header: use HTTP Basic with user name and API token")
                })?)
            }
            None => query_token(uri)?,
        };
        let Some((name, token)) = presented else {
            return Ok(Caller(None));
        };
        match app.auth.verify(&name, &token).await? {
            Some(user) => Ok(Caller(Some(user))),
            None => Err(ApiError::unauthorized("invalid user name or API token")),
        }
    }

    /// Readers of metadata and archives: any user, or anyone with `PUBLIC_ACCESS`.
    pub fn require_reader(&self, app: &App) -> Result<(), ApiError> {
        if self.0.is_some() || app.settings.public_access {
            return Ok(());
        }
        Err(ApiError::unauthorized(
            "authentication required: send HTTP Basic credentials (user name and API token)",
        ))
    }

    /// Maintainers and admins: may add packages and trigger updates.
    pub fn require_maintainer(&self) -> Result<&User, ApiError> {
        match &self.0 {
            Some(user) if user.is_maintainer || user.is_admin => Ok(user),
            Some(user) => Err(ApiError::forbidden(format!(
                "user {} is not a maintainer",
                user.name
            ))),
            None => Err(ApiError::unauthorized(
                "authentication required: this needs a maintainer's API token",
            )),
        }
    }

    pub fn require_admin(&self) -> Result<&User, ApiError> {
        match &self.0 {
            Some(user) if user.is_admin => Ok(user),
            Some(user) => Err(ApiError::forbidden(format!(
                "user {} is not an admin",
                user.name
            ))),
            None => Err(ApiError::unauthorized(
                "authentication required: this needs an admin's API token",
            )),
        }
    }
}

/// `?token=user:token`, or Packagist's `?username=user&apiToken=token`.
fn query_token(uri: &Uri) -> Result<Option<(String, String)>, ApiError> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    if let (Some(name), Some(token)) = (
        query_param(query, "username"),
        query_param(query, "apiToken"),
    ) {
        return Ok(Some((name, token)));
    }
    let Some(value) = query_param(query, "token") else {
        return Ok(None);
    };
    split_pair(&value)
        .map(Some)
        .ok_or_else(|| ApiError::unauthorized("the token parameter must be user:token"))
}

/// The first value of `name` in a query string, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| Some(hex_value(hex[0])? << 4 | hex_value(hex[1])?));
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                i += 1;
            }
            (byte, None) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(
            query_param("token=alice%3Aabc&x=1", "token").as_deref(),
            Some("alice:abc")
        );
        assert_eq!(
            query_param("a=1&token=b:c", "token").as_deref(),
            Some("b:c")
        );
        assert_eq!(query_param("force=1", "token"), None);
        assert_eq!(query_param("force", "force").as_deref(), Some(""));
        assert_eq!(query_param("t=100%", "t").as_deref(), Some("100%"));
        assert_eq!(query_param("t=%zz", "t").as_deref(), Some("%zz"));
    }
}
