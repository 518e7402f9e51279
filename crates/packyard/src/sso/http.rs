//! HTTP towards identity providers: packyard's outbound network policy, no redirects,
//! short timeouts and bounded answers, for the `openidconnect` and `oauth2` crates (as
//! their `AsyncHttpClient`) and for GitHub's API.

use std::time::Duration;

/// The largest answer read from a provider: discovery documents, key sets, token
/// responses and API pages are small.
const MAX_ANSWER: usize = 256 * 1024;

#[derive(Clone)]
pub struct Http(reqwest::Client);

impl Http {
    pub fn new(policy: &crate::outbound::NetworkPolicy) -> Http {
        Http(
            policy
                .client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(15))
                .build()
                .expect("the HTTP client builds"),
        )
    }

    /// `GET url` with a bearer token, as JSON (GitHub's API).
    pub async fn get_json(&self, url: &str, token: &str) -> Result<serde_json::Value, HttpError> {
        let response = self
            .0
            .get(url)
            .bearer_auth(token)
            .header("Accept", "application/vnd.github+json")
            .header("User-Agent", "packyard")
            .send()
            .await
            .map_err(|e| HttpError(crate::redact::redacted(&e.to_string())))?;
        let status = response.status();
        let body = read_bounded(response).await?;
        if !status.is_success() {
            // Never the body: it is another server's.
            return Err(HttpError(format!("{url} answered {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| HttpError(format!("{url}: {e}")))
    }
}

/// The `openidconnect` crate's requests, through our client (and so through the
/// outbound network policy), with bounded answers.
impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request =
                reqwest::Request::try_from(request).map_err(|e| HttpError(e.to_string()))?;
            let response = self
                .0
                .execute(request)
                .await
                .map_err(|e| HttpError(crate::redact::redacted(&e.to_string())))?;
            let mut answer = axum::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            // Discovery documents, key sets and token responses are small.
            let body = read_bounded(response).await?;
            answer.body(body).map_err(|e| HttpError(e.to_string()))
        })
    }
}

/// An HTTP failure towards the provider (its text never carries a credential).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

async fn read_bounded(response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    crate::outbound::read_bounded(response, MAX_ANSWER)
        .await
        .map(Vec::from)
        .map_err(|error| HttpError(error.to_string()))
}
