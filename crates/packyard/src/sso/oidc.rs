//! OpenID Connect sign-in, through the `openidconnect` crate: discovery, the
//! authorization code flow with PKCE (S256), `state` and `nonce`, the code exchange,
//! and the ID token's verification — its signature against the provider's JWKS (an
//! unknown key fetches the JWKS again, once), `iss`, `aud`, `exp`, `iat` (within a small
//! skew) and the `nonce`. `alg: none` and symmetric algorithms are refused. Every
//! request to the provider goes through packyard's outbound network policy and follows
//! no redirect.
//!
//! The pending sign-in (state, nonce, PKCE verifier) is kept by the caller between the
//! redirect and the callback (`sso_logins`, bound to the browser).

use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IdToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::Http;

/// An OpenID Connect provider's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcSettings {
    /// The issuer, exactly as its ID tokens' `iss` says.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    pub claims: ClaimMapping,
}

/// Which claims hold what.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimMapping {
    /// The user name (default `preferred_username`).
    pub username: String,
    /// The e-mail address (default `email`), used only with `email_verified: true`.
    pub email: String,
    /// The user's groups (default `groups`): a list of names, or one name.
    pub groups: String,
    /// Roles (none by default): like groups, for the `roles` mapping.
    pub roles: Option<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            username: "preferred_username".into(),
            email: "email".into(),
            groups: "groups".into(),
            roles: None,
        }
    }
}

/// How far a provider's clock may be from ours.
const SKEW: Duration = Duration::from_secs(60);
/// An ID token issued longer ago than this is not taken as a fresh sign-in.
const MAX_TOKEN_AGE: Duration = Duration::from_secs(600);

/// The claims packyard reads, whatever their names.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AllClaims {
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
}

impl AdditionalClaims for AllClaims {}

type FullIdToken =
    IdToken<AllClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// A sign-in between the redirect and the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// What the provider says about the user, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub subject: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub groups: Vec<String>,
}

/// Why a sign-in through the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be asked (discovery, the token endpoint): the
    /// operator's problem; the reason is logged.
    #[error("the identity provider {issuer}: {why}")]
    Unavailable { issuer: String, why: String },
    /// What came back is not to be trusted: a token that does not verify, a code that
    /// does not exchange. The person signing in starts again.
    #[error("the identity provider's answer was refused: {0}")]
    Refused(String),
}

/// One OpenID Connect provider, with what discovery found (kept for an hour).
pub struct OidcProvider {
    settings: OidcSettings,
    http: Http,
    discovered: tokio::sync::RwLock<Option<(CoreProviderMetadata, std::time::Instant)>>,
    /// The last failed discovery and why: while the provider is down, each sign-in
    /// start would otherwise wait for it again.
    failed: std::sync::Mutex<Option<(std::time::Instant, String)>>,
}

/// How long a failed discovery is answered from memory before it is tried again.
const FAILURE_LIFETIME: Duration = Duration::from_secs(30);

/// How long discovery's answer is kept before it is asked again.
const DISCOVERY_LIFETIME: Duration = Duration::from_secs(3600);

impl OidcProvider {
    pub fn new(
        settings: OidcSettings,
        policy: &crate::outbound::NetworkPolicy,
    ) -> Arc<OidcProvider> {
        Arc::new(OidcProvider {
            settings,
            http: Http::new(policy),
            discovered: tokio::sync::RwLock::new(None),
            failed: std::sync::Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    fn unavailable(&self, why: impl std::fmt::Display) -> ProviderError {
        ProviderError::Unavailable {
            issuer: self.settings.issuer.clone(),
            why: why.to_string(),
        }
    }

    /// The provider's metadata with its key set, discovered (again, after
    /// [`DISCOVERY_LIFETIME`], or when `refresh`).
    async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata, ProviderError> {
        if let (false, Some((metadata, at))) = (refresh, &*self.discovered.read().await)
            && at.elapsed() < DISCOVERY_LIFETIME
        {
            return Ok(metadata.clone());
        }
        if let Some((at, why)) = &*self.failed.lock().unwrap()
            && at.elapsed() < FAILURE_LIFETIME
        {
            return Err(self.unavailable(why));
        }
        let issuer =
            IssuerUrl::new(self.settings.issuer.clone()).map_err(|e| self.unavailable(e))?;
        let metadata = match CoreProviderMetadata::discover_async(issuer, &self.http).await {
            Ok(metadata) => metadata,
            Err(error) => {
                let why = format!("discovery: {error}");
                *self.failed.lock().unwrap() = Some((std::time::Instant::now(), why.clone()));
                return Err(self.unavailable(why));
            }
        };
        *self.failed.lock().unwrap() = None;
        *self.discovered.write().await = Some((metadata.clone(), std::time::Instant::now()));
        Ok(metadata)
    }

    /// The provider's key set again, after a token named a key it did not have.
    async fn refetch_keys(&self) -> Result<CoreProviderMetadata, ProviderError> {
        let metadata = self.metadata(false).await?;
        let keys = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| self.unavailable(format!("fetching the key set: {e}")))?;
        let metadata = metadata.set_jwks(keys);
        *self.discovered.write().await = Some((metadata.clone(), std::time::Instant::now()));
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
        redirect: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        ProviderError,
    > {
        let redirect = RedirectUrl::new(redirect.to_owned()).map_err(|e| self.unavailable(e))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// Where to send the browser, and what to keep until the callback.
    pub async fn start(&self, redirect: &str) -> Result<(String, Pending), ProviderError> {
        let client = self.client(self.metadata(false).await?, redirect)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok((
            url.to_string(),
            Pending {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
            },
        ))
    }

    /// Exchanges `code` and verifies the ID token against `pending`.
    pub async fn finish(
        &self,
        redirect: &str,
        code: &str,
        pending: &Pending,
    ) -> Result<Verified, ProviderError> {
        let metadata = self.metadata(false).await?;
        let client = self.client(metadata, redirect)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| self.unavailable(e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| ProviderError::Refused(format!("the code exchange failed: {e}")))?;
        let raw = response
            .id_token()
            .ok_or_else(|| ProviderError::Refused("the token response has no ID token".into()))?
            .to_string();
        let token: FullIdToken = raw
            .parse()
            .map_err(|e| ProviderError::Refused(format!("the ID token does not parse: {e}")))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = match verify(client.id_token_verifier(), &token, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // A key the provider rotated in since discovery: fetch the set once.
                let metadata = self.refetch_keys().await?;
                let client = self.client(metadata, redirect)?;
                verify(client.id_token_verifier(), &token, &nonce)
            }
            other => other,
        }
        .map_err(|e| ProviderError::Refused(format!("the ID token does not verify: {e}")))?;
        Ok(self.read_claims(&claims))
    }
}

/// The claims of `token`, verified by `verifier` (the provider's keys, issuer and our
/// client id) with our rules: asymmetric algorithms only, issued within the skew.
fn verify(
    verifier: openidconnect::IdTokenVerifier<'_, openidconnect::core::CoreJsonWebKey>,
    token: &FullIdToken,
    nonce: &Nonce,
) -> Result<serde_json::Map<String, Value>, ClaimsVerificationError> {
    let now = crate::db::now_millis() / 1000;
    let verifier = verifier
        .set_allowed_algs([
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
            CoreJwsSigningAlgorithm::RsaSsaPssSha256,
            CoreJwsSigningAlgorithm::RsaSsaPssSha384,
            CoreJwsSigningAlgorithm::RsaSsaPssSha512,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::EcdsaP384Sha384,
            CoreJwsSigningAlgorithm::EdDsa,
        ])
        .set_issue_time_verifier_fn(move |iat| {
            let iat = iat.timestamp();
            if iat > now + SKEW.as_secs() as i64 {
                Err(format!("issued in the future ({iat})"))
            } else if iat < now - MAX_TOKEN_AGE.as_secs() as i64 {
                Err(format!("issued too long ago ({iat})"))
            } else {
                Ok(())
            }
        });
    let claims = token.claims(&verifier, nonce)?;
    match serde_json::to_value(claims) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ClaimsVerificationError::Unsupported(
            "claims that are not an object".into(),
        )),
    }
}

impl OidcProvider {
    fn read_claims(&self, claims: &serde_json::Map<String, Value>) -> Verified {
        let mapping = &self.settings.claims;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let list = |name: &str| match claims.get(name) {
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        let mut groups = list(&mapping.groups);
        if let Some(roles) = &mapping.roles {
            groups.extend(list(roles));
        }
        groups.sort();
        groups.dedup();
        Verified {
            subject: text("sub").unwrap_or_default(),
            username: text(&mapping.username),
            email: text(&mapping.email),
            email_verified: claims.get("email_verified") == Some(&Value::Bool(true)),
            groups,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use openidconnect::core::{CoreJsonWebKey, CoreRsaPrivateSigningKey};
    use openidconnect::{JsonWebKeyId, PrivateSigningKey};

    const ISSUER: &str = "https://idp.test";
    const CLIENT: &str = "packyard";
    const NONCE: &str = "the-nonce";

    /// Test keys, made with `openssl genpkey -algorithm RSA` for these tests only.
    fn key(pem: &str, kid: &str) -> CoreRsaPrivateSigningKey {
        CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.into()))).unwrap()
    }

    fn signing() -> CoreRsaPrivateSigningKey {
        key(include_str!("testdata/signing-key.pem"), "k1")
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn claims() -> Value {
        serde_json::json!({
            "iss": ISSUER, "aud": CLIENT, "sub": "alice-1", "nonce": NONCE,
            "iat": now(), "exp": now() + 300,
            "email": "alice@example.test", "email_verified": true, "groups": ["developers"],
        })
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn signing_input(header: &Value, claims: &Value) -> String {
        format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        )
    }

    /// A JWT of `claims` with `header`, signed by `key` (RS256), or unsigned.
    fn jwt(header: &Value, claims: &Value, key: Option<&CoreRsaPrivateSigningKey>) -> String {
        let input = signing_input(header, claims);
        let signature = key
            .map(|key| {
                key.sign(
                    &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                    input.as_bytes(),
                )
                .unwrap()
            })
            .unwrap_or_default();
        format!("{input}.{}", b64(&signature))
    }

    /// Why a test token signs nobody in: it does not parse as a JWT of ours, or it
    /// does not verify (what `finish` refuses alike).
    #[derive(Debug, thiserror::Error)]
    enum Refused {
        #[error("parse: {0}")]
        Parse(#[from] serde_json::Error),
        #[error(transparent)]
        Verification(#[from] ClaimsVerificationError),
    }

    fn check(token: &str) -> Result<serde_json::Map<String, Value>, Refused> {
        let keys = openidconnect::JsonWebKeySet::<CoreJsonWebKey>::new(vec![
            signing().as_verification_key(),
        ]);
        let verifier = openidconnect::IdTokenVerifier::new_confidential_client(
            ClientId::new(CLIENT.into()),
            ClientSecret::new("client-secret".into()),
            IssuerUrl::new(ISSUER.into()).unwrap(),
            keys,
        );
        let token: FullIdToken = token.parse()?;
        Ok(verify(verifier, &token, &Nonce::new(NONCE.into()))?)
    }

    fn rs256(kid: &str) -> Value {
        serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid})
    }

    fn with(change: &dyn Fn(&mut Value)) -> Value {
        let mut claims = claims();
        change(&mut claims);
        claims
    }

    #[test]
    fn a_token_signed_by_the_providers_key_verifies() {
        let claims = check(&jwt(&rs256("k1"), &claims(), Some(&signing()))).unwrap();
        assert_eq!(claims["sub"], "alice-1");
        assert_eq!(claims["groups"], serde_json::json!(["developers"]));
    }

    #[test]
    fn tokens_that_must_not_sign_anyone_in_are_refused() {
        use hmac::Mac;
        let other = key(include_str!("testdata/other-key.pem"), "k1");
        let good = signing();
        // HMAC with the client secret: a symmetric algorithm, refused.
        let hs256 = {
            let header = serde_json::json!({"alg": "HS256", "typ": "JWT"});
            let input = signing_input(&header, &claims());
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"client-secret").unwrap();
            mac.update(input.as_bytes());
            format!("{input}.{}", b64(&mac.finalize().into_bytes()))
        };
        let none = serde_json::json!({"alg": "none", "typ": "JWT"});
        for (what, token) in [
            (
                "signed by another key under the provider's kid",
                jwt(&rs256("k1"), &claims(), Some(&other)),
            ),
            (
                "signed by a key the provider does not have",
                jwt(&rs256("k9"), &claims(), Some(&other)),
            ),
            ("alg none", jwt(&none, &claims(), None)),
            ("HS256 with the client secret", hs256),
            (
                "for another client",
                jwt(
                    &rs256("k1"),
                    &with(&|c| c["aud"] = "another".into()),
                    Some(&good),
                ),
            ),
            (
                "from another issuer",
                jwt(
                    &rs256("k1"),
                    &with(&|c| c["iss"] = "https://evil.test".into()),
                    Some(&good),
                ),
            ),
            (
                "expired",
                jwt(
                    &rs256("k1"),
                    &with(&|c| {
                        c["exp"] = (now() - 120).into();
                        c["iat"] = (now() - 400).into();
                    }),
                    Some(&good),
                ),
            ),
            (
                "issued in the future",
                jwt(
                    &rs256("k1"),
                    &with(&|c| c["iat"] = (now() + 600).into()),
                    Some(&good),
                ),
            ),
            (
                "issued long ago",
                jwt(
                    &rs256("k1"),
                    &with(&|c| c["iat"] = (now() - 3600).into()),
                    Some(&good),
                ),
            ),
            (
                "without the nonce",
                jwt(
                    &rs256("k1"),
                    &with(&|c| {
                        c.as_object_mut().unwrap().remove("nonce");
                    }),
                    Some(&good),
                ),
            ),
            (
                "with another nonce",
                jwt(
                    &rs256("k1"),
                    &with(&|c| c["nonce"] = "replayed".into()),
                    Some(&good),
                ),
            ),
        ] {
            assert!(check(&token).is_err(), "{what} verified");
        }
    }
}
