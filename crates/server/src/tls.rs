//! HTTPS: the rustls configuration from the certificate and key files, and the response
//! headers every answer carries (HSTS only over TLS).

use std::path::Path;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;

use crate::error::StartupError;
use crate::settings::Settings;

/// The `Strict-Transport-Security` value for `max_age_secs`.
pub fn hsts(max_age_secs: u32) -> String {
    format!("max-age={max_age_secs}; includeSubDomains")
}

/// `nosniff` and `no-referrer` on every answer, and HSTS when it is given (over TLS only).
pub fn security_headers(hsts: Option<&str>) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"));
    match hsts {
        Some(hsts) => headers.add((header::STRICT_TRANSPORT_SECURITY, hsts.to_owned())),
        None => headers,
    }
}

/// The rustls server configuration when a certificate and key are configured.
pub fn server_config(settings: &Settings) -> Result<Option<rustls::ServerConfig>, StartupError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = match (
        &settings.server.tls_cert_file,
        &settings.server.tls_key_file,
    ) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            return Err(StartupError::Config(
                "TLS needs both server.tls_cert_file and server.tls_key_file (GATEHOUSE__SERVER__TLS_CERT_FILE, GATEHOUSE__SERVER__TLS_KEY_FILE)".into(),
            ));
        }
    };
    let unreadable = |path: &Path, error: &dyn std::fmt::Display| {
        StartupError::Config(format!("cannot read {}: {error}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| unreadable(cert, &e))?;
    if chain.is_empty() {
        return Err(unreadable(cert, &"no certificate in the file"));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| unreadable(key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(chain, private)
        })
        .map_err(|e| StartupError::Config(format!("invalid TLS certificate or key: {e}")))?;
    Ok(Some(config))
}
