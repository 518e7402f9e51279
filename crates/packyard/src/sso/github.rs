//! GitHub sign-in (`type: github`): an OAuth app, not OpenID Connect. The code flow
//! runs through the `oauth2` crate (with `state`); who the user is comes from GitHub's
//! API with the token it gave: the account (`/user`: its numeric id is the subject, its
//! login the user name), its verified primary address (`/user/emails`), and its
//! organizations and teams (`/user/orgs`, `/user/teams`) as groups named `org` and
//! `org/team`. GitHub Enterprise Server is the same at `base_url` (its API under
//! `/api/v3`).

use std::sync::Arc;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _, TokenUrl,
};
use serde_json::Value;

use super::http::Http;
use super::oidc::{ProviderError, Verified};

/// A GitHub (or GitHub Enterprise Server) OAuth app.
#[derive(Debug, Clone, PartialEq)]
pub struct GitHubSettings {
    /// `https://github.com`, or the Enterprise server's URL.
    pub web_url: String,
    /// `https://api.github.com`, or `{web_url}/api/v3`.
    pub api_url: String,
    pub client_id: String,
    pub client_secret: String,
}

impl GitHubSettings {
    /// GitHub itself, or the Enterprise server at `base_url`.
    pub fn at(base_url: Option<&str>, client_id: String, client_secret: String) -> GitHubSettings {
        let (web_url, api_url) = match base_url.map(|url| url.trim_end_matches('/')) {
            None | Some("https://github.com") => (
                "https://github.com".to_owned(),
                "https://api.github.com".to_owned(),
            ),
            Some(base) => (base.to_owned(), format!("{base}/api/v3")),
        };
        GitHubSettings {
            web_url,
            api_url,
            client_id,
            client_secret,
        }
    }
}

/// At most this many organizations and teams are read (one page each).
const PAGE: usize = 100;

pub struct GitHubProvider {
    settings: GitHubSettings,
    http: Http,
}

impl GitHubProvider {
    pub fn new(
        settings: GitHubSettings,
        policy: &crate::outbound::NetworkPolicy,
    ) -> Arc<GitHubProvider> {
        Arc::new(GitHubProvider {
            settings,
            http: Http::new(policy),
        })
    }

    pub fn settings(&self) -> &GitHubSettings {
        &self.settings
    }

    fn unavailable(&self, why: impl std::fmt::Display) -> ProviderError {
        ProviderError::Unavailable {
            issuer: self.settings.web_url.clone(),
            why: why.to_string(),
        }
    }

    fn client(
        &self,
        redirect: &str,
    ) -> Result<
        BasicClient<
            oauth2::EndpointSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
        ProviderError,
    > {
        let web = &self.settings.web_url;
        let url = |path: &str| format!("{web}{path}");
        Ok(
            BasicClient::new(ClientId::new(self.settings.client_id.clone()))
                .set_client_secret(ClientSecret::new(self.settings.client_secret.clone()))
                .set_auth_uri(
                    AuthUrl::new(url("/login/oauth/authorize")).map_err(|e| self.unavailable(e))?,
                )
                .set_token_uri(
                    TokenUrl::new(url("/login/oauth/access_token"))
                        .map_err(|e| self.unavailable(e))?,
                )
                .set_redirect_uri(
                    RedirectUrl::new(redirect.to_owned()).map_err(|e| self.unavailable(e))?,
                ),
        )
    }

    /// Where to send the browser, the `state` to expect back and the PKCE verifier
    /// (so that a code that leaks, in a log or a Referer, is no good to anyone else).
    pub fn start(&self, redirect: &str) -> Result<(String, String, String), ProviderError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client(redirect)?
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_scope(Scope::new("read:user".into()))
            .add_scope(Scope::new("user:email".into()))
            .add_scope(Scope::new("read:org".into()))
            .add_extra_param("allow_signup", "false")
            .url();
        Ok((
            url.to_string(),
            state.secret().clone(),
            verifier.secret().clone(),
        ))
    }

    /// Exchanges `code` and reads who the user is from GitHub's API.
    pub async fn finish(
        &self,
        redirect: &str,
        code: &str,
        pkce_verifier: &str,
    ) -> Result<Verified, ProviderError> {
        let token = self
            .client(redirect)?
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| ProviderError::Refused(format!("the code exchange failed: {e}")))?;
        let token = token.access_token().secret();
        let api = &self.settings.api_url;
        let get = |path: &str| {
            let url = format!("{api}{path}");
            async move {
                self.http
                    .get_json(&url, token)
                    .await
                    .map_err(|e| self.unavailable(e))
            }
        };
        let user = get("/user").await?;
        let subject = match &user["id"] {
            Value::Number(id) => id.to_string(),
            _ => return Err(ProviderError::Refused("/user has no id".into())),
        };
        let login = user["login"].as_str().map(str::to_owned);
        let emails = get("/user/emails?per_page=100").await?;
        let email = emails.as_array().and_then(|emails| {
            emails
                .iter()
                .find(|e| e["primary"] == true && e["verified"] == true)
                .and_then(|e| e["email"].as_str())
                .map(str::to_owned)
        });
        let mut groups: Vec<String> = Vec::new();
        let orgs = get(&format!("/user/orgs?per_page={PAGE}")).await?;
        for org in orgs.as_array().into_iter().flatten().take(PAGE) {
            if let Some(name) = org["login"].as_str() {
                groups.push(name.to_owned());
            }
        }
        let teams = get(&format!("/user/teams?per_page={PAGE}")).await?;
        for team in teams.as_array().into_iter().flatten().take(PAGE) {
            if let (Some(org), Some(slug)) = (
                team["organization"]["login"].as_str(),
                team["slug"].as_str(),
            ) {
                groups.push(format!("{org}/{slug}"));
            }
        }
        groups.sort();
        groups.dedup();
        Ok(Verified {
            subject,
            username: login,
            email_verified: email.is_some(),
            email,
            groups,
        })
    }
}
