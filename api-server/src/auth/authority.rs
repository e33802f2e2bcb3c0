//! Issuing and checking tokens.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::KeyMaterial;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Task routes, for one task-instance try (the default when a token names no scope).
    Execution,
    /// Only `PATCH /run` of one task instance: what executors hand to supervisors.
    Workload,
    /// Only the triggerer routes, for one triggerer (`sub` is its id).
    Triggerer,
    /// Only the control routes (the `airlock` CLI, executors); `sub` names the holder.
    Admin,
    /// Only the executor routes of one executor (`sub` is its id): register, tick, report,
    /// retire. What a worker on another host holds instead of an admin token.
    Executor,
}

impl Scope {
    /// The claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Execution => "execution",
            Self::Workload => "workload",
            Self::Triggerer => "triggerer",
            Self::Admin => "admin",
            Self::Executor => "executor",
        }
    }

    /// Parses a claim value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "execution" => Some(Self::Execution),
            "workload" => Some(Self::Workload),
            "triggerer" => Some(Self::Triggerer),
            "admin" => Some(Self::Admin),
            "executor" => Some(Self::Executor),
            _ => None,
        }
    }

    /// Whether tokens of this scope name a task instance.
    pub fn is_task_scope(self) -> bool {
        matches!(self, Self::Execution | Self::Workload)
    }
}

/// The claims Airlock writes and reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The subject: a task-instance id.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// Issuer, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `execution` (default) or `workload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A validated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The subject: a task-instance id (task scopes) or a service's id (triggerer).
    pub subject: String,
    /// The task-instance id, for task scopes.
    pub task_instance_id: Option<Uuid>,
    /// What the token allows.
    pub scope: Scope,
    /// Issued at (Unix seconds).
    pub issued_at: i64,
    /// Expires at (Unix seconds).
    pub expires_at: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Past `exp`.
    #[error("token has expired")]
    Expired,
    /// Before `nbf`.
    #[error("token is not valid yet")]
    NotYetValid,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    BadSignature,
    /// Signed with another algorithm than the server's (including `none`).
    #[error("token algorithm is not accepted (expected {expected})")]
    WrongAlgorithm {
        /// The server's algorithm.
        expected: String,
    },
    /// `aud` is not one the server accepts.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// `iss` is not the configured issuer.
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// A required claim is missing.
    #[error("token lacks the required claim {0:?}")]
    MissingClaim(String),
    /// `scope` names no known scope.
    #[error("token scope {0:?} is unknown")]
    UnknownScope(String),
    /// `sub` is not a task-instance id (task scopes) or is empty.
    #[error("token subject {0:?} is not a task instance id")]
    BadSubject(String),
    /// Not a JWT at all.
    #[error("token is malformed: {0}")]
    Malformed(String),
}

/// Token policy: lifetimes, audience, issuer.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// Audiences accepted; the first one is written into new tokens.
    pub audiences: Vec<String>,
    /// Issuer written and required, if set.
    pub issuer: Option<String>,
    /// Lifetime of execution tokens.
    pub execution_ttl: Duration,
    /// Lifetime of workload tokens.
    pub workload_ttl: Duration,
    /// Lifetime of service (triggerer) tokens.
    pub service_ttl: Duration,
    /// Clock skew tolerated.
    pub leeway: Duration,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            audiences: vec!["urn:airflow.apache.org:task".into()],
            issuer: None,
            execution_ttl: Duration::from_secs(600),
            workload_ttl: Duration::from_secs(3600),
            service_ttl: Duration::from_secs(30 * 24 * 3600),
            leeway: Duration::from_secs(10),
        }
    }
}

/// Signs and checks tokens. Keys are loaded once; validation does no I/O.
pub struct TokenAuthority {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    jwks: Option<JwkSet>,
    policy: TokenPolicy,
    validation: Validation,
}

impl TokenAuthority {
    /// Builds an authority from loaded keys and a policy.
    pub fn new(keys: KeyMaterial, policy: TokenPolicy) -> Self {
        let mut validation = Validation::new(keys.algorithm);
        validation.leeway = policy.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_audience(&policy.audiences);
        let mut required = vec!["exp", "iat", "aud", "sub"];
        if let Some(iss) = &policy.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        Self {
            algorithm: keys.algorithm,
            encoding: keys.encoding,
            decoding: keys.decoding,
            kid: keys.kid,
            jwks: keys.jwks,
            policy,
            validation,
        }
    }

    /// The public keys validators elsewhere need (asymmetric keys only).
    pub fn jwks(&self) -> Option<&JwkSet> {
        self.jwks.as_ref()
    }

    /// Issues a token for `subject` (a task-instance id for task scopes).
    pub fn issue(
        &self,
        subject: impl std::fmt::Display,
        scope: Scope,
        ttl: Option<Duration>,
    ) -> String {
        let ttl = ttl.unwrap_or(match scope {
            Scope::Execution => self.policy.execution_ttl,
            Scope::Workload => self.policy.workload_ttl,
            Scope::Triggerer | Scope::Admin | Scope::Executor => self.policy.service_ttl,
        });
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: subject.to_string(),
            aud: self.policy.audiences.first().cloned().unwrap_or_default(),
            iat: now,
            nbf: now,
            exp: now + ttl.as_secs() as i64,
            jti: Uuid::new_v4().simple().to_string(),
            iss: self.policy.issuer.clone(),
            scope: Some(scope.as_str().into()),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        // Encoding with a key that loaded successfully cannot fail.
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap_or_default()
    }

    /// Checks a token and returns who it names.
    pub fn validate(&self, token: &str) -> Result<Identity, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            // `alg: none` and unknown algorithms fail to parse as a header at all.
            match raw_header_alg(token) {
                Some(alg) if alg != format!("{:?}", self.algorithm) => self.wrong_algorithm(),
                _ => TokenError::Malformed(e.to_string()),
            }
        })?;
        if header.alg != self.algorithm {
            return Err(self.wrong_algorithm());
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.into_kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAlgorithm => self.wrong_algorithm(),
                ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c),
                other => TokenError::Malformed(format!("{other:?}")),
            })?;
        let c = data.claims;
        let scope = match c.scope.as_deref() {
            None => Scope::Execution,
            Some(s) => Scope::parse(s).ok_or_else(|| TokenError::UnknownScope(s.into()))?,
        };
        let task_instance_id = if scope.is_task_scope() {
            Some(
                c.sub
                    .parse()
                    .map_err(|_| TokenError::BadSubject(c.sub.clone()))?,
            )
        } else if c.sub.trim().is_empty() {
            return Err(TokenError::BadSubject(c.sub));
        } else {
            None
        };
        Ok(Identity {
            subject: c.sub,
            task_instance_id,
            scope,
            issued_at: c.iat,
            expires_at: c.exp,
        })
    }

    fn wrong_algorithm(&self) -> TokenError {
        TokenError::WrongAlgorithm {
            expected: format!("{:?}", self.algorithm),
        }
    }

    /// A fresh execution token when `id`'s has less than max(20 % of its lifetime, 30 s) left.
    pub fn refresh_if_due(&self, id: &Identity) -> Option<String> {
        if id.scope != Scope::Execution {
            return None;
        }
        let lifetime = id.expires_at - id.issued_at;
        let threshold = (lifetime / 5).max(30);
        let remaining = id.expires_at - Utc::now().timestamp();
        (remaining <= threshold).then(|| self.issue(&id.subject, Scope::Execution, None))
    }
}

/// The `alg` of a token's header, read without trusting anything else about the token.
fn raw_header_alg(token: &str) -> Option<String> {
    use base64::Engine;
    let part = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    let header: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}
