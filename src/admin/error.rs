//! The one error of every admin operation. The console (`http/admin/console`), the JSON API
//! (`http/admin/api`) and the CLI each map it once: to a page, to the API's error JSON, to a
//! line on stderr.

use crate::accounts::manage::ManageError;
use crate::oauth::client::ClientError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No such user, client or session; the message names it (for the CLI and the console).
    #[error("{0}")]
    NotFound(String),
    /// The input is the caller's to fix: which field, and why.
    #[error("{1}")]
    Invalid(&'static str, String),
    /// The name is taken.
    #[error("{0}")]
    Conflict(String),
    /// Not allowed whoever asks again (disabling oneself, dropping one's own admin role).
    #[error("{0}")]
    Forbidden(String),
    /// A sensitive action without a recent sign-in (issue 11). A client's token can never
    /// show one (`by_client`); a user signs in again (the console sends them to re-auth).
    #[error("{}", if *by_client {
        "this action needs a recent sign-in by an administrator; a client's token cannot do it"
    } else {
        "this action needs a recent sign-in: sign in again and use a new token"
    })]
    NotRecent { by_client: bool },
    #[error("{}", with_cause(.0))]
    Store(#[from] StoreError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AdminError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AdminError::Invalid(field, message.into())
    }
}

/// Store errors are worded generically for HTTP clients (the adapters do not show this text);
/// an operator at the CLI gets the underlying cause too.
fn with_cause(e: &StoreError) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

impl From<ManageError> for AdminError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Store(s) => s.into(),
            ManageError::Hash(h) => AdminError::Internal(h.into()),
            ManageError::NotFound(_) => AdminError::NotFound(e.to_string()),
            ManageError::Duplicate(_) => AdminError::Conflict(e.to_string()),
            ManageError::Username(_) => AdminError::invalid("username", e.to_string()),
            ManageError::Email(_) => AdminError::invalid("email", e.to_string()),
            ManageError::Weak(_) => AdminError::invalid("password", e.to_string()),
        }
    }
}

impl From<ClientError> for AdminError {
    fn from(e: ClientError) -> Self {
        AdminError::invalid("client", e.to_string())
    }
}

impl From<crate::accounts::totp::TotpError> for AdminError {
    fn from(e: crate::accounts::totp::TotpError) -> Self {
        match e {
            crate::accounts::totp::TotpError::Store(s) => s.into(),
            other => AdminError::Internal(other.into()),
        }
    }
}
