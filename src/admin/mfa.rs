//! The second factor as the console and the account pages drive it: TOTP enrolment (password
//! again, then the first code), the code step after a sign-in, turning TOTP off, and the
//! re-authentication before sensitive actions. Each step is throttled like a sign-in and
//! audited here; the pages only show the outcome.

use secrecy::SecretString;
use serde_json::json;

use super::{Actor, Admin, AdminError};
use crate::accounts::login::{self, Attempt, Outcome};
use crate::accounts::totp::{self, Check, Enrolment};
use crate::accounts::{Role, User};
use crate::sessions::Session;

/// How a confirmed enrolment went.
pub enum Enrolled {
    /// TOTP is on; the recovery codes, shown this once.
    Yes(Vec<String>),
    /// The password (`password_ok` false) or the code was wrong.
    Refused {
        password_ok: bool,
    },
    Throttled {
        retry_after: i64,
    },
}

/// What the code step was given.
pub enum SecondFactor<'a> {
    Totp(&'a str),
    RecoveryCode(&'a str),
}

impl Admin<'_> {
    /// Whether the user has a confirmed TOTP credential.
    pub async fn totp_enrolled(&self, user: &User) -> Result<bool, AdminError> {
        Ok(totp::is_enrolled(self.store, user).await?)
    }

    /// The enrolment to show: a new secret, unless `shown` is the one still pending.
    pub async fn totp_enrolment(
        &self,
        user: &User,
        shown: Option<&str>,
    ) -> Result<Enrolment, AdminError> {
        Ok(totp::pending_enrolment(self.store, user, shown, self.now()).await?)
    }

    /// Step-up (DESIGN §5): the signed-in user's current password again, reserved and
    /// throttled like a sign-in, so that a stolen session cookie alone cannot change the
    /// second factor.
    async fn confirm_password(
        &self,
        by: &Actor,
        user: &User,
        password: &str,
    ) -> Result<Check, AdminError> {
        let outcome = login::login(
            self.store,
            self.hasher,
            self.limits,
            Attempt {
                username: &user.username,
                password: SecretString::from(password.to_string()),
                client_ip: by.ip.as_deref().unwrap_or_default(),
                now: self.now(),
            },
        )
        .await
        .map_err(|e| match e {
            login::LoginError::Store(s) => AdminError::Store(s),
            login::LoginError::Hash(h) => AdminError::Internal(h.into()),
        })?;
        Ok(match outcome {
            Outcome::Success(signed_in) if signed_in.id == user.id => Check::Accepted,
            Outcome::Throttled { retry_after } => Check::Throttled { retry_after },
            _ => Check::Refused,
        })
    }

    /// The password, then (when it holds) a current code.
    async fn password_and_code(
        &self,
        by: &Actor,
        user: &User,
        password: &str,
        code: &str,
        enrolling: Option<&str>,
    ) -> Result<(Check, bool), AdminError> {
        let check = self.confirm_password(by, user, password).await?;
        if check != Check::Accepted {
            return Ok((check, false));
        }
        let limits = &self.limits.account;
        let now = self.now();
        let check = totp::check_code(self.store, limits, user, code, enrolling, now).await?;
        Ok((check, true))
    }

    /// Marks the session as having passed the second factor (`otp` joins its `amr`).
    async fn mark_passed(&self, session: &Session) -> Result<(), AdminError> {
        let mut amr: Vec<&str> = session.row.amr.split_whitespace().collect();
        if !amr.contains(&"otp") {
            amr.push("otp");
        }
        self.store
            .set_session_mfa(&session.row.id_hash, &amr.join(" "), self.now())
            .await?;
        Ok(())
    }

    /// Confirms the pending enrolment `secret` (the one the page showed) with the current
    /// password and a first code; the session passes the second factor.
    pub async fn enrol_totp(
        &self,
        by: &Actor,
        session: &Session,
        password: &str,
        code: &str,
        secret: &str,
    ) -> Result<Enrolled, AdminError> {
        let user = &session.user;
        let (check, password_ok) = self
            .password_and_code(by, user, password, code, Some(secret))
            .await?;
        match check {
            Check::Accepted => {
                self.mark_passed(session).await?;
                let codes = totp::new_recovery_codes(self.store, user, self.now()).await?;
                self.record(by, "totp.enrolled", &user.id, None).await?;
                Ok(Enrolled::Yes(totp::reveal(&codes)))
            }
            Check::Refused => {
                let detail = json!({ "step": "enrolment", "password": password_ok });
                self.record(by, "totp.failed", &user.id, Some(detail))
                    .await?;
                Ok(Enrolled::Refused { password_ok })
            }
            Check::Throttled { retry_after } => Ok(Enrolled::Throttled { retry_after }),
        }
    }

    /// The code step after the password: a TOTP code or a recovery code (used once).
    pub async fn pass_second_factor(
        &self,
        by: &Actor,
        session: &Session,
        given: SecondFactor<'_>,
    ) -> Result<Check, AdminError> {
        let user = &session.user;
        let limits = &self.limits.account;
        let now = self.now();
        let (check, method, passed) = match given {
            SecondFactor::RecoveryCode(code) => (
                totp::use_recovery_code(self.store, limits, user, code, now).await?,
                "recovery_code",
                "recovery_code.used",
            ),
            SecondFactor::Totp(code) => (
                totp::check_code(self.store, limits, user, code, None, now).await?,
                "totp",
                "totp.verified",
            ),
        };
        let action = match check {
            Check::Accepted => {
                self.mark_passed(session).await?;
                passed
            }
            Check::Refused => "totp.failed",
            Check::Throttled { .. } => "totp.throttled",
        };
        self.record(by, action, &user.id, Some(json!({ "method": method })))
            .await?;
        Ok(check)
    }

    /// Turns TOTP off (and drops the recovery codes) after the current password and a
    /// current code. Administrators keep it while `admin_require_totp` is on.
    pub async fn disable_totp(
        &self,
        by: &Actor,
        user: &User,
        password: &str,
        code: &str,
    ) -> Result<Check, AdminError> {
        if self.policy.admin_require_totp && user.has_role(Role::Admin) {
            return Err(AdminError::Forbidden(
                "Administrators must keep two-factor sign-in.".into(),
            ));
        }
        let (check, _) = self
            .password_and_code(by, user, password, code, None)
            .await?;
        match check {
            Check::Accepted => {
                self.store.delete_totp(&user.id).await?;
                self.store
                    .replace_recovery_codes(&user.id, &[], self.now())
                    .await?;
                self.record(by, "totp.disabled", &user.id, None).await?;
            }
            Check::Refused => {
                let detail = json!({ "step": "disable" });
                self.record(by, "totp.failed", &user.id, Some(detail))
                    .await?;
            }
            Check::Throttled { .. } => {}
        }
        Ok(check)
    }

    /// The password (and a code when administrators need TOTP) again: the session's
    /// `auth_time` moves to now, so sensitive actions are allowed for a while.
    pub async fn reauthenticate(
        &self,
        by: &Actor,
        session: &Session,
        password: &str,
        code: &str,
    ) -> Result<Check, AdminError> {
        let user = &session.user;
        let check = if self.policy.admin_require_totp {
            self.password_and_code(by, user, password, code, None)
                .await?
                .0
        } else {
            self.confirm_password(by, user, password).await?
        };
        let action = match check {
            Check::Accepted => {
                self.store
                    .set_session_auth_time(&session.row.id_hash, self.now())
                    .await?;
                if self.policy.admin_require_totp {
                    self.mark_passed(session).await?;
                }
                "reauth.succeeded"
            }
            Check::Refused => "reauth.failed",
            Check::Throttled { .. } => "reauth.throttled",
        };
        self.record(by, action, &user.id, None).await?;
        Ok(check)
    }
}
