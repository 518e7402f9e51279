//! Keeping credentials written into URLs (`https://user:secret@host/...`,
//! `https://TOKEN@host/...`) out of what we publish, log or answer. One parser for
//! every place: repository and mirror URLs, git's messages, and `DATABASE_URL` in
//! start-up errors.

/// The parts of a URL around its userinfo when that is a credential: `(before, user,
/// password, after)` for `before user[:password]@ after`. A password makes it one; so
/// does a bare user name in an http(s) URL, the usual place of a token
/// (`https://TOKEN@github.com/...`, which GitHub takes as the user name with an empty
/// password). Elsewhere a bare user name is an account name, not a secret
/// (`ssh://git@host/...`). The userinfo is what precedes the last `@` of the authority
/// (up to the first `/`, `?` or `#`).
fn split_credentials(url: &str) -> Option<(&str, &str, Option<&str>, &str)> {
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let userinfo = &rest[..at];
    let (user, password) = if let Some((user, password)) = userinfo.split_once(':') {
        (user, Some(password))
    } else {
        let scheme = &url[..scheme_end - 3];
        let http = ["http", "https"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme));
        if !http || userinfo.is_empty() {
            return None;
        }
        (userinfo, None)
    };
    Some((
        &url[..scheme_end],
        user,
        password,
        &rest[at..], // from the `@` on
    ))
}

/// The URL for logs and error messages: its password replaced by `***`, the user kept
/// (`postgres://app:***@db/packyard`); a user name that is the credential is replaced
/// (`https://***@github.com/...`).
pub fn redacted(url: &str) -> String {
    match split_credentials(url) {
        Some((before, user, Some(_), after)) => format!("{before}{user}:***{after}"),
        Some((before, _, None, after)) => format!("{before}***{after}"),
        None => url.to_owned(),
    }
}

/// The URL as published in metadata: without its credentials (user name included); a
/// bare user name that is not one, as in `ssh://git@host/...`, stays.
pub fn public(url: &str) -> String {
    match split_credentials(url) {
        Some((before, _, _, after)) => format!("{before}{}", &after[1..]),
        None => url.to_owned(),
    }
}

/// Where `url` points, for a record kept forever: [`public`], without its query and
/// fragment (`?token=…`), and with `path` false without its path too (a chat webhook's
/// path is its secret).
pub fn for_record(url: &str, path: bool) -> String {
    let public = public(url);
    let without_query = public.split(['?', '#']).next().unwrap_or_default();
    if path {
        return without_query.to_owned();
    }
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            format!("{scheme}://{}", rest.split('/').next().unwrap_or_default())
        }
        None => String::new(),
    }
}

/// The user name and password written into `url` (percent-decoded), when they are a
/// credential; a bare user name comes with an empty password.
pub fn credentials_in(url: &str) -> Option<(String, String)> {
    let (_, user, password, _) = split_credentials(url)?;
    let decode = |part: &str| crate::percent::decode(part, crate::percent::Plus::Literal);
    Some((decode(user), decode(password.unwrap_or_default())))
}

/// `text` (git's stderr, say) with every occurrence of the secret written into `url`
/// (its password, or the user name that is the credential) replaced by `***`.
pub fn hide_password_of(url: &str, text: &str) -> String {
    match split_credentials(url) {
        Some((_, _, Some(password), _)) if !password.is_empty() => text.replace(password, "***"),
        Some((_, token, None, _)) => text.replace(token, "***"),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_where_a_url_points_and_nothing_secret() {
        assert_eq!(
            for_record(
                "https://ci:s3cret@git.example.com/acme/lib.git?token=t#x",
                true
            ),
            "https://git.example.com/acme/lib.git"
        );
        assert_eq!(
            for_record("https://hooks.slack.com/services/T00/B00/SECRET?x=1", false),
            "https://hooks.slack.com"
        );
        assert_eq!(
            for_record("git@github.com:acme/lib.git", true),
            "git@github.com:acme/lib.git"
        );
    }

    #[test]
    fn passwords_are_found_in_the_authority_only() {
        assert_eq!(
            redacted("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            public("https://bot:token@git.example.com/acme/lib.git"),
            "https://git.example.com/acme/lib.git"
        );
        // An `@` in the password itself: the last one of the authority ends it.
        assert_eq!(
            public("https://bot:p@ss@git.example.com/x.git"),
            "https://git.example.com/x.git"
        );
        // `@` and `:` in the path are not userinfo.
        for untouched in [
            "https://git.example.com/a@b/lib.git",
            "https://git.example.com/a:b@c/lib.git",
            "git@github.com:acme/lib.git",
            "ssh://git@github.com/acme/lib.git",
            "git://git@example.com/lib.git",
            "https://@example.com/x.git",
            "sqlite://data/x.db",
            "/srv/git/lib",
        ] {
            assert_eq!(public(untouched), untouched);
            assert_eq!(redacted(untouched), untouched);
        }
    }

    #[test]
    fn a_bare_user_name_in_an_http_url_is_a_credential() {
        let url = "https://ghp_T0KEN@github.com/acme/lib.git";
        assert_eq!(public(url), "https://github.com/acme/lib.git");
        assert_eq!(redacted(url), "https://***@github.com/acme/lib.git");
        assert_eq!(
            credentials_in(url),
            Some(("ghp_T0KEN".to_owned(), String::new()))
        );
        assert_eq!(
            credentials_in("HTTP://t%40k@h.example/"),
            Some(("t@k".to_owned(), String::new()))
        );
        assert_eq!(
            hide_password_of(url, "fatal: 'https://ghp_T0KEN@github.com/' said no"),
            "fatal: 'https://***@github.com/' said no"
        );
        // Elsewhere a bare user name is an account name.
        for kept in [
            "ssh://git@github.com/acme/lib.git",
            "git@github.com:acme/lib.git",
        ] {
            assert_eq!(credentials_in(kept), None);
            assert_eq!(public(kept), kept);
        }
    }

    #[test]
    fn git_messages_lose_the_password() {
        let url = "https://me:s3cret@example.com/x.git";
        assert_eq!(
            hide_password_of(
                url,
                "fatal: unable to access 'https://me:s3cret@example.com/x.git/'"
            ),
            "fatal: unable to access 'https://me:***@example.com/x.git/'"
        );
        assert_eq!(
            hide_password_of("https://example.com/x.git", "s3cret"),
            "s3cret"
        );
        assert_eq!(hide_password_of("https://me:@example.com/", "x"), "x");
    }
}
