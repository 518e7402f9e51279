//! Opening an object_store backend for a [`BackendSpec`].

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::signer::Signer;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use crate::StorageError;
use crate::config::{AzureSpec, BackendSpec, S3Credentials, S3Spec};
use crate::transfer::StallTimeoutConnector;
use crate::web_identity::{WebIdentityConfig, WebIdentityProvider, default_session_name};

/// An opened backend, and what presigns URLs for it when it can (S3).
#[derive(Clone)]
pub(crate) struct Backend {
    pub store: Arc<dyn ObjectStore>,
    pub signer: Option<Arc<dyn Signer>>,
}

pub(crate) fn open(spec: &BackendSpec, timeout: Duration) -> Result<Backend, StorageError> {
    let failed = |source| StorageError::Backend {
        store: "config",
        source,
    };
    let store: Arc<dyn ObjectStore> = match spec {
        BackendSpec::Local { root } => {
            std::fs::create_dir_all(root).map_err(|source| StorageError::Io {
                context: format!("creating {}", root.display()),
                source,
            })?;
            Arc::new(LocalFileSystem::new_with_prefix(root).map_err(failed)?)
        }
        BackendSpec::S3(s3) => {
            let s3 = Arc::new(s3_builder(s3, timeout).build().map_err(failed)?);
            return Ok(Backend {
                store: s3.clone(),
                signer: Some(s3),
            });
        }
        BackendSpec::Gcs {
            bucket,
            key_file,
            endpoint,
        } => {
            let mut builder = GoogleCloudStorageBuilder::new()
                .with_bucket_name(bucket)
                .with_client_options(client_options(timeout, endpoint.as_deref()))
                .with_http_connector(StallTimeoutConnector { stall: timeout })
                .with_retry(retry(timeout));
            if let Some(key_file) = key_file {
                builder = builder.with_service_account_path(key_file.display().to_string());
            }
            if let Some(endpoint) = endpoint {
                builder = builder.with_base_url(endpoint);
            }
            Arc::new(builder.build().map_err(failed)?)
        }
        BackendSpec::Azure(azure) => {
            Arc::new(azure_builder(azure, timeout).build().map_err(failed)?)
        }
    };
    Ok(Backend {
        store,
        signer: None,
    })
}

fn s3_builder(s3: &S3Spec, timeout: Duration) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region)
        .with_virtual_hosted_style_request(!s3.path_style)
        .with_client_options(client_options(timeout, s3.endpoint.as_deref()))
        .with_http_connector(StallTimeoutConnector { stall: timeout })
        .with_retry(retry(timeout));
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    match &s3.credentials {
        S3Credentials::Static {
            key_id,
            secret,
            session_token,
        } => {
            builder = builder
                .with_access_key_id(key_id)
                .with_secret_access_key(secret);
            if let Some(token) = session_token {
                builder = builder.with_token(token);
            }
        }
        S3Credentials::WebIdentity {
            role_arn,
            token_file,
            session_name,
            sts_endpoint,
        } => {
            let provider = WebIdentityProvider::new(WebIdentityConfig {
                role_arn: role_arn.clone(),
                token_file: token_file.clone(),
                session_name: session_name.clone().unwrap_or_else(default_session_name),
                sts_endpoint: sts_endpoint.clone(),
            });
            builder = builder.with_credentials(Arc::new(provider));
        }
        // object_store asks the instance metadata service when no credentials are set.
        S3Credentials::InstanceMetadata => {}
    }
    builder
}

fn azure_builder(azure: &AzureSpec, timeout: Duration) -> MicrosoftAzureBuilder {
    let mut builder = MicrosoftAzureBuilder::new()
        .with_account(&azure.account)
        .with_container_name(&azure.container)
        .with_client_options(client_options(timeout, azure.endpoint.as_deref()))
        .with_http_connector(StallTimeoutConnector { stall: timeout })
        .with_retry(retry(timeout));
    if let Some(key) = &azure.access_key {
        builder = builder.with_access_key(key);
    }
    if let Some(endpoint) = &azure.endpoint {
        builder = builder.with_endpoint(endpoint.clone());
    }
    builder
}

/// Only how long a dead backend may take to answer a connection is set here; stalls
/// are bounded by [`StallTimeoutConnector`], and there is no total timeout, because a
/// large archive may take minutes to stream to or from a slow link.
fn client_options(timeout: Duration, endpoint: Option<&str>) -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(timeout)
        .with_timeout_disabled()
        .with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://")))
}

/// Retries fit inside the timeout, so an outage is reported quickly instead of after
/// object_store's default of minutes.
fn retry(timeout: Duration) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(250),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: timeout,
    }
}
