//! Keeping passwords written into URLs (`https://user:secret@host/...`) out of what we
//! publish, log or answer. One parser for every place: repository URLs in metadata and
//! git's messages, and `DATABASE_URL` in start-up errors.

/// The parts of a URL around its userinfo: `(before, user, password, after)` for
/// `before user:password@ after`, when the URL has a scheme and a password. The userinfo
/// is what precedes the last `@` of the authority (up to the first `/`, `?` or `#`).
fn split_password(url: &str) -> Option<(&str, &str, &str, &str)> {
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let (user, password) = rest[..at].split_once(':')?;
    Some((
        &url[..scheme_end],
        user,
        password,
        &rest[at..], // from the `@` on
    ))
}

/// The URL for logs and error messages: its password replaced by `***`, the user kept
/// (`postgres://app:***@db/packyard`).
pub fn redacted(url: &str) -> String {
    match split_password(url) {
        Some((before, user, _, after)) => format!("{before}{user}:***{after}"),
        None => url.to_owned(),
    }
}

/// The URL as published in metadata: without user name and password when it has a
/// password; a bare user name, as in `ssh://git@host/...`, stays.
pub fn public(url: &str) -> String {
    match split_password(url) {
        Some((before, _, _, after)) => format!("{before}{}", &after[1..]),
        None => url.to_owned(),
    }
}

/// The user name and password written into `url` (percent-decoded), when it has a
/// password.
pub fn credentials_in(url: &str) -> Option<(String, String)> {
    let (_, user, password, _) = split_password(url)?;
    let decode = |part: &str| crate::percent::decode(part, crate::percent::Plus::Literal);
    Some((decode(user), decode(password)))
}

/// `text` (git's stderr, say) with every occurrence of the password written into `url`
/// replaced by `***`.
pub fn hide_password_of(url: &str, text: &str) -> String {
    match split_password(url) {
        Some((_, _, password, _)) if !password.is_empty() => text.replace(password, "***"),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "sqlite://data/x.db",
            "/srv/git/lib",
        ] {
            assert_eq!(public(untouched), untouched);
            assert_eq!(redacted(untouched), untouched);
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
