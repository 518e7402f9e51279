//! Packeton's outgoing webhooks as packyard's. Packeton sends a Twig template's output
//! with the method and headers the admin chose; packyard sends its own signed JSON
//! event (README, Outgoing webhooks) by `POST`. What carries over: the receiver's URL,
//! the events both have, and a package restriction that a packyard pattern can say.
//! The rest is named in the report so the receiver can be adjusted; a hook whose
//! restriction cannot be said is left out rather than sent more than it was.

use super::source::PacketonWebhook;
use super::{Import, ImportError};
use crate::import::Outcome;
use crate::webhooks::HookSpec;

/// Packeton's event → packyard's, for those both have.
fn event(packeton: &str) -> Option<&'static str> {
    Some(match packeton {
        "new_release" => "new_release",
        "update_release" => "update_release",
        "delete_release" => "delete_release",
        "new_repo" => "new_package",
        "delete_repo" => "delete_package",
        "update_repo_failed" => "update_failed",
        "security_audit" => "security_advisory",
        _ => return None,
    })
}

/// A packyard hook name for Packeton's free-text `name`: letters, digits, `.`, `_`
/// and `-`, others as `-`, at most 64.
fn hook_name(name: &str) -> String {
    let slug: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    slug.trim_matches('-').to_owned()
}

/// Packeton's package restriction — a PCRE with delimiters, matched anywhere in the
/// name unless anchored — as a packyard pattern (`*` for any characters), when it is
/// one: literal name characters (escaped or not), `.*` and `.+`, optionally anchored.
/// `None` for anything else.
pub fn restriction_pattern(regex: &str) -> Option<String> {
    let regex = regex.trim();
    let delimiter = regex.chars().next()?;
    if delimiter.is_ascii_alphanumeric() || delimiter == '\\' || delimiter.is_whitespace() {
        return None;
    }
    let closing = match delimiter {
        '(' => ')',
        '{' => '}',
        '[' => ']',
        '<' => '>',
        other => other,
    };
    let end = regex.rfind(closing).filter(|&end| end > 0)?;
    let flags = &regex[end + closing.len_utf8()..];
    // Package names are lower case: `i` changes nothing; other flags might.
    if !flags.chars().all(|f| f == 'i') {
        return None;
    }
    let mut body = &regex[delimiter.len_utf8()..end];
    let anchored_start = body.starts_with('^');
    if anchored_start {
        body = &body[1..];
    }
    let anchored_end = body.ends_with('$') && !body.ends_with("\\$");
    if anchored_end {
        body = &body[..body.len() - 1];
    }
    let mut pattern = String::new();
    if !anchored_start {
        pattern.push('*');
    }
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('/' | '.' | '-' | '_')) => pattern.push(escaped),
                _ => return None,
            },
            '.' if matches!(chars.peek(), Some('*' | '+')) => {
                chars.next();
                pattern.push('*');
            }
            c if c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_') => pattern.push(c),
            _ => return None,
        }
    }
    if !anchored_end {
        pattern.push('*');
    }
    while pattern.contains("**") {
        pattern = pattern.replace("**", "*");
    }
    Some(pattern.to_ascii_lowercase())
}

impl Import<'_> {
    /// Packeton's active hooks, as far as packyard can send the same events.
    pub(super) async fn webhooks(&mut self, rows: &[PacketonWebhook]) -> Result<(), ImportError> {
        let hooks = &self.app.webhooks;
        let held = hooks.list().await?;
        for row in rows {
            let name = hook_name(&row.name);
            let shown = if name.is_empty() {
                format!("packeton-{}", row.id)
            } else {
                name
            };
            let skip = |why: String| Outcome::Skipped(why);
            if !row.active {
                self.report
                    .add("webhook", &shown, skip("inactive in Packeton".to_owned()));
                continue;
            }
            if row.url.contains("{{") || row.url.contains("{%") {
                self.report.add(
                    "webhook",
                    &shown,
                    skip("its URL is a Twig template, which packyard does not render: add it with `packyard webhook add`".to_owned()),
                );
                continue;
            }
            let mut notes = Vec::new();
            if shown != row.name {
                notes.push(format!("named {:?} in Packeton", row.name));
            }
            let (events, unmatched): (Vec<&String>, Vec<&String>) =
                row.events.iter().partition(|e| event(e).is_some());
            if !unmatched.is_empty() {
                let list: Vec<&str> = unmatched.iter().map(|e| e.as_str()).collect();
                notes.push(format!(
                    "events packyard does not send, left out: {}",
                    list.join(", ")
                ));
            }
            if events.is_empty() {
                self.report.add(
                    "webhook",
                    &shown,
                    skip(format!(
                        "none of its events ({}) is one packyard sends",
                        row.events.join(", ")
                    )),
                );
                continue;
            }
            let package = row
                .package_restriction
                .as_deref()
                .map(|regex| (regex, restriction_pattern(regex)));
            if let Some((regex, None)) = package {
                self.report.add(
                    "webhook",
                    &shown,
                    skip(format!("its package restriction {regex:?} is not a name pattern packyard has: add it with `packyard webhook add --package`")),
                );
                continue;
            }
            let package = package.and_then(|(_, pattern)| pattern);
            if row.version_restriction.is_some() {
                notes.push(
                    "its version restriction is not carried over: it is told of every version"
                        .to_owned(),
                );
            }
            if row.has_payload {
                notes.push("its payload template is not carried over: the receiver gets packyard's JSON event".to_owned());
            }
            if row
                .method
                .as_deref()
                .is_some_and(|m| !m.eq_ignore_ascii_case("POST"))
            {
                notes.push(format!(
                    "it was sent by {}: packyard POSTs",
                    row.method.as_deref().unwrap_or_default()
                ));
            }
            if !row.header_names.is_empty() {
                notes.push(format!(
                    "its request headers are not carried over: {}",
                    row.header_names.join(", ")
                ));
            }
            if !row.other_options.is_empty() {
                notes.push(format!(
                    "its request options are not carried over: {}",
                    row.other_options.join(", ")
                ));
            }
            let spec = HookSpec {
                name: shown.clone(),
                url: row.url.clone(),
                events: events
                    .iter()
                    .filter_map(|e| event(e))
                    .map(str::to_owned)
                    .collect(),
                package,
                secret: None,
            };
            let checked = match hooks.check(spec.clone()) {
                Ok(checked) => checked,
                Err(error) => {
                    self.report.add("webhook", &shown, skip(error.to_string()));
                    continue;
                }
            };
            if self.app.secrets().is_err() {
                self.report.add(
                    "webhook",
                    &shown,
                    skip("set PACKYARD_SECRET, which seals its signing secret".to_owned()),
                );
                continue;
            }
            let existing = held.iter().find(|hook| hook.name == checked.name);
            if existing.is_some() && !self.may_change("webhook", &shown) {
                continue;
            }
            let outcome = match existing {
                None => Outcome::Created,
                Some(hook) if checked.matches(hook) => Outcome::Unchanged,
                Some(_) => Outcome::Updated,
            };
            if !self.dry_run && outcome != Outcome::Unchanged {
                if existing.is_some() {
                    hooks.remove(&shown).await?;
                }
                hooks.create(spec).await?;
            }
            if outcome == Outcome::Created {
                notes.push("packyard signs its deliveries (X-Packyard-Signature): see `packyard webhook list`".to_owned());
            }
            self.finish("webhook", &shown, outcome, notes).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packeton_restrictions_become_patterns_when_they_can() {
        for (regex, pattern) in [
            ("/^acme\\/lib$/", Some("acme/lib")),
            ("#^acme/.*#", Some("acme/*")),
            ("/acme/", Some("*acme*")),
            ("{^Acme\\/.+$}i", Some("acme/*")),
            ("/^acme\\/(lib|tool)$/", None),
            ("/^acme\\/[a-z]+$/", None),
            ("/^acme/x", None),
            ("acme/lib", None),
            ("", None),
        ] {
            assert_eq!(restriction_pattern(regex).as_deref(), pattern, "{regex}");
        }
    }

    #[test]
    fn hook_names_are_made_of_what_packyard_allows() {
        assert_eq!(hook_name("Notify CI (prod)"), "Notify-CI--prod");
        assert_eq!(hook_name("  "), "");
        assert_eq!(hook_name(&"x".repeat(80)).len(), 64);
    }
}
