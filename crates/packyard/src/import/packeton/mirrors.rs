//! Packeton's mirrors (`packeton: mirrors:` of its YAML configuration, given with
//! `--packeton-config`) as packyard's. packyard's mirrors live in its own config file
//! (`PACKYARD_CONFIG`), which the import does not edit (an operator's file, with their
//! comments and layout): each mirror is checked with packyard's own mirror rules and
//! compared with the mirrors in effect, and those still missing are printed as the
//! `mirrors:` block to add. The keys are Packeton's own (`url`, `http_basic`,
//! `public_access`, `available_packages`, …); what packyard has no use for is named.

use std::path::Path;

use serde_json::Value as Json;
use serde_yaml_ng::{Mapping, Value};

use super::ImportError;
use super::env::PacketonEnv;
use crate::import::{Outcome, Report};
use crate::mirror::config::{MirrorConfig, MirrorEntry};

/// Packeton's configuration files are small; a bigger one is not one.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Keys packyard reads as Packeton writes them.
const CARRIED: [&str; 6] = [
    "url",
    "http_basic",
    "public_access",
    "available_packages",
    "available_package_patterns",
    "enable_dist_mirror",
];

/// Reports each of Packeton's mirrors in `file` against `configured`; returns the
/// `mirrors:` block of those to add to `PACKYARD_CONFIG`, if any.
pub fn import(
    file: &Path,
    env: &PacketonEnv,
    configured: &[MirrorConfig],
    report: &mut Report,
) -> Result<Option<String>, ImportError> {
    let unreadable = |why: String| ImportError::PacketonConfig {
        path: file.to_owned(),
        why,
    };
    let size = std::fs::metadata(file)
        .map_err(|e| unreadable(e.to_string()))?
        .len();
    if size > MAX_CONFIG_BYTES {
        return Err(unreadable(format!(
            "larger than {MAX_CONFIG_BYTES} bytes: not a Packeton configuration"
        )));
    }
    let text = std::fs::read_to_string(file).map_err(|e| unreadable(e.to_string()))?;
    let yaml: Value = serde_yaml_ng::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
    let Some(mirrors) = yaml
        .get("packeton")
        .and_then(|p| p.get("mirrors"))
        .and_then(Value::as_mapping)
    else {
        return Err(unreadable(
            "it has no packeton: mirrors: section".to_owned(),
        ));
    };
    let mut to_add = Mapping::new();
    for (alias, definition) in mirrors {
        let Some(alias) = alias.as_str() else {
            continue;
        };
        let mut notes = Vec::new();
        let checked = fields(definition, env, &mut notes)
            .and_then(|fields| Ok((check(alias, &fields)?, fields)));
        let (mirror, fields) = match checked {
            Ok(checked) => checked,
            Err(why) => {
                report.add("mirror", alias, Outcome::Skipped(why.to_string()));
                continue;
            }
        };
        let outcome = match configured.iter().find(|m| m.alias == alias) {
            Some(held) if *held == mirror => Outcome::Unchanged,
            Some(_) => Outcome::Skipped(
                "packyard's configuration has a mirror of this name with other settings: left as it is".to_owned(),
            ),
            None => {
                to_add.insert(Value::String(alias.to_owned()), Value::Mapping(fields));
                Outcome::Proposed
            }
        };
        report.add("mirror", alias, outcome).notes = notes;
    }
    if to_add.is_empty() {
        return Ok(None);
    }
    let mut block = Mapping::new();
    block.insert(Value::String("mirrors".into()), Value::Mapping(to_add));
    Ok(Some(
        serde_yaml_ng::to_string(&block).expect("a mapping serializes"),
    ))
}

/// Why one of Packeton's mirrors is not carried over (a report line, not a failure of
/// the import).
#[derive(Debug, thiserror::Error)]
enum MirrorLeftOut {
    #[error("not a mapping of settings")]
    NotAMapping,
    #[error("{0} is not set in Packeton's environment")]
    UnsetVariable(String),
    #[error("mirrors.{alias}: {source}")]
    Unreadable {
        alias: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error(transparent)]
    Refused(#[from] crate::mirror::config::MirrorConfigError),
}

/// packyard's fields for Packeton's `definition`; notes name what is not carried over.
fn fields(
    definition: &Value,
    env: &PacketonEnv,
    notes: &mut Vec<String>,
) -> Result<Mapping, MirrorLeftOut> {
    let Some(definition) = definition.as_mapping() else {
        return Err(MirrorLeftOut::NotAMapping);
    };
    let mut fields = Mapping::new();
    let mut ignored = Vec::new();
    for (key, value) in definition {
        let Some(key) = key.as_str() else { continue };
        let value = resolve_env(value, env)?;
        if CARRIED.contains(&key) {
            fields.insert(Value::String(key.to_owned()), value);
        } else if key == "sync_interval" {
            // Packeton: seconds. packyard takes seconds too.
            fields.insert(Value::String(key.to_owned()), value);
        } else if key == "composer_auth" {
            composer_auth(&value, definition, &mut fields, notes);
        } else if key == "sync_lazy" && value.as_bool() == Some(false) {
            notes.push(
                "Packeton synchronised all of its packages (sync_lazy: false); packyard fetches each package when it is first asked for".to_owned(),
            );
        } else if key != "sync_lazy" {
            ignored.push(key.to_owned());
        }
    }
    if !ignored.is_empty() {
        notes.push(format!("not used by packyard: {}", ignored.join(", ")));
    }
    Ok(fields)
}

/// Packeton's `composer_auth` (auth.json, as a mapping or a JSON string): its
/// `http-basic` for the mirror's own host becomes `http_basic`; the rest is named.
fn composer_auth(
    value: &Value,
    definition: &Mapping,
    fields: &mut Mapping,
    notes: &mut Vec<String>,
) {
    let auth: Option<Json> = match value {
        Value::String(text) => serde_json::from_str(text).ok(),
        other => serde_json::to_value(other).ok(),
    };
    let Some(Json::Object(auth)) = auth else {
        notes.push("its composer_auth is not an auth.json object: not carried over".to_owned());
        return;
    };
    let host = definition
        .get("url")
        .and_then(Value::as_str)
        .and_then(|url| reqwest::Url::parse(url).ok())
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase));
    let mut left = Vec::new();
    for (kind, entries) in &auth {
        let basic = (kind == "http-basic")
            .then(|| host.as_deref().and_then(|host| entries.get(host)))
            .flatten();
        match basic {
            Some(basic) if !fields.contains_key("http_basic") => {
                let text = |key: &str| basic.get(key).and_then(Json::as_str).unwrap_or_default();
                let mut pair = Mapping::new();
                pair.insert("username".into(), text("username").into());
                pair.insert("password".into(), text("password").into());
                fields.insert("http_basic".into(), Value::Mapping(pair));
            }
            _ => left.push(kind.clone()),
        }
    }
    if !left.is_empty() {
        notes.push(format!(
            "composer_auth not carried over (packyard sends http_basic to the upstream only): {}",
            left.join(", ")
        ));
    }
}

/// `%env(NAME)%` (with processors such as `%env(string:NAME)%`) from Packeton's
/// variables, as Symfony resolves it when the configuration is loaded.
fn resolve_env(value: &Value, env: &PacketonEnv) -> Result<Value, MirrorLeftOut> {
    match value {
        Value::String(text) => {
            let Some(inner) = text
                .strip_prefix("%env(")
                .and_then(|t| t.strip_suffix(")%"))
            else {
                return Ok(value.clone());
            };
            let name = inner.rsplit(':').next().unwrap_or(inner);
            env.get(name)
                .map(|v| Value::String(v.to_owned()))
                .ok_or_else(|| MirrorLeftOut::UnsetVariable(text.clone()))
        }
        Value::Mapping(map) => {
            let mut resolved = Mapping::new();
            for (key, value) in map {
                resolved.insert(key.clone(), resolve_env(value, env)?);
            }
            Ok(Value::Mapping(resolved))
        }
        Value::Sequence(items) => items
            .iter()
            .map(|item| resolve_env(item, env))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Sequence),
        other => Ok(other.clone()),
    }
}

/// The mirror packyard would run for `fields`, by packyard's own rules.
fn check(alias: &str, fields: &Mapping) -> Result<MirrorConfig, MirrorLeftOut> {
    let entry: MirrorEntry =
        serde_yaml_ng::from_value(Value::Mapping(fields.clone())).map_err(|source| {
            MirrorLeftOut::Unreadable {
                alias: alias.to_owned(),
                source,
            }
        })?;
    let entries = [(alias.to_owned(), entry)].into_iter().collect();
    let mirrors = crate::mirror::config::resolve(&entries)?;
    Ok(mirrors
        .into_iter()
        .find(|m| m.alias == alias)
        .expect("the entry resolves to its mirror"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packetons_mirror_settings_are_read_with_packyards_rules() {
        let dir = std::env::temp_dir().join(format!("packyard-mirrors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("packeton.yaml");
        std::fs::write(
            &file,
            r#"
packeton:
    github_no_api: true
    mirrors:
        packagist:
            url: https://repo.packagist.org
        orocrm:
            url: https://satis.oroinc.com/
            git_ssh_keys: {'git@github.com:oroinc': /var/www/.ssh/key}
        example:
            url: https://satis.example.com/
            logo: 'https://example.com/logo.png'
            composer_auth: '{"http-basic": {"satis.example.com": {"username": "bot", "password": "pw"}}, "github-oauth": {"github.com": "x"}}'
            public_access: true
            sync_lazy: false
            available_package_patterns: ['vend1/*']
            sync_interval: 3600
        broken:
            url: ftp://nope.example
        secret:
            url: '%env(MIRROR_URL)%'
"#,
        )
        .unwrap();
        let mut report = Report::default();
        let configured =
            crate::mirror::config::resolve(&std::collections::BTreeMap::default()).unwrap();
        let block = import(&file, &PacketonEnv::default(), &configured, &mut report)
            .unwrap()
            .unwrap();
        let text = report.to_string();
        assert!(text.contains("mirror\tpackagist\tunchanged"), "{text}");
        assert!(
            text.contains("not used by packyard: git_ssh_keys"),
            "{text}"
        );
        assert!(text.contains("composer_auth not carried over (packyard sends http_basic to the upstream only): github-oauth"), "{text}");
        assert!(
            text.contains("mirror\tbroken\tskipped: mirrors.broken.url"),
            "{text}"
        );
        assert!(text.contains("%env(MIRROR_URL)% is not set"), "{text}");
        let parsed: Value = serde_yaml_ng::from_str(&block).unwrap();
        let example = &parsed["mirrors"]["example"];
        assert_eq!(example["http_basic"]["username"].as_str(), Some("bot"));
        assert_eq!(example["sync_interval"].as_u64(), Some(3600));
        assert!(parsed["mirrors"].get("packagist").is_none(), "{block}");
        assert!(parsed["mirrors"].get("orocrm").is_some(), "{block}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
