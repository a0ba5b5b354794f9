//! The device authorization grant (RFC 8628): a device's request (a device code and a user
//! code), its person's decision on gatehouse's page, and the device's polls at the token
//! endpoint, which get tokens once, after approval.

use super::*;
use crate::oauth::device::{
    Approval, DeviceAuthorization, DeviceAuthorizationId, DeviceAuthorizationRepository,
    DeviceStatus, InsertDeviceError, SLOW_DOWN_STEP, UserCode,
};

/// How long device codes live, and how often a device may poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePolicy {
    pub lifetime: chrono::Duration,
    pub interval: chrono::Duration,
}

impl Default for DevicePolicy {
    fn default() -> Self {
        Self {
            lifetime: crate::oauth::device::DEFAULT_LIFETIME,
            interval: crate::oauth::device::DEFAULT_INTERVAL,
        }
    }
}

/// What a device is told to do (RFC 8628 §3.2).
#[derive(Debug)]
pub struct DeviceStart {
    pub device_code: SecretString,
    pub user_code: UserCode,
    pub expires_in: i64,
    pub interval: i64,
}

/// Why a user code entered on the page leads nowhere.
#[derive(Debug, thiserror::Error)]
pub enum DeviceEntryError {
    /// Unknown, mistyped, expired or already decided: the same answer for each.
    #[error("this code is unknown, expired or already used")]
    Unknown,
    /// Too many wrong codes from this network: wait `retry_after`.
    #[error("too many wrong codes")]
    Throttled { retry_after: std::time::Duration },
    /// The device asks for a scope the person's role does not hold.
    #[error("the device asks for `{0}`, which your account does not hold")]
    ScopeNotHeld(Scope),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

crate::throttle::throttled_error!(DeviceEntryError);

/// What the page shows about a device's request.
#[derive(Debug, Clone)]
pub struct DeviceRequest {
    pub authorization: DeviceAuthorization,
    pub client: Client,
    /// What approving grants: the scopes asked for (or all the person holds).
    pub scopes: ScopeSet,
}

impl OAuthService {
    /// The same service, serving the device authorization grant.
    pub fn with_devices(
        mut self,
        devices: Arc<dyn DeviceAuthorizationRepository>,
        policy: DevicePolicy,
    ) -> Self {
        self.devices = Some((devices, policy));
        self
    }

    fn devices(&self) -> Result<(&dyn DeviceAuthorizationRepository, DevicePolicy), ExchangeError> {
        self.devices
            .as_ref()
            .map(|(devices, policy)| (devices.as_ref(), *policy))
            .ok_or(ExchangeError::UnauthorizedClient(
                "the device authorization grant is not served here",
            ))
    }

    /// A device's request (`POST /oauth2/device_authorization`): the client authenticated
    /// and allowed the grant, the scopes it asks for ones it may ask for.
    #[tracing::instrument(skip_all)]
    pub async fn begin_device_authorization(
        &self,
        credentials: &ClientCredentials,
        scope: Option<&str>,
        caller: &Caller,
    ) -> Result<DeviceStart, ExchangeError> {
        let client = self.authenticate_client(credentials, caller).await?;
        let (devices, policy) = self.devices()?;
        // Each request stores a row until it expires: bounded per network.
        if let Some(ip) = caller.ip.as_deref() {
            let network = crate::throttle::ip_subject(ip);
            match self
                .ports
                .throttle
                .admit(Bucket::DeviceStartIp, &network)
                .await
            {
                Ok(()) => {}
                Err(crate::throttle::ThrottleError::Limited { retry_after }) => {
                    return Err(ExchangeError::TooManyDevices { retry_after });
                }
                Err(crate::throttle::ThrottleError::Repository(error)) => {
                    return Err(error.into());
                }
            }
        }
        if !client.device_code {
            return Err(ExchangeError::UnauthorizedClient(
                "an administrator has not allowed this client the device authorization grant",
            ));
        }
        let scopes = match scope.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => Some(
                ScopeSet::parse(raw)
                    .map_err(|error| ExchangeError::InvalidScope(error.to_string()))?,
            ),
        };
        if let Some(scopes) = &scopes {
            if let Some(scope) = scopes
                .iter()
                .find(|scope| !client.first_party && !scope.third_parties_may_hold())
            {
                return Err(ExchangeError::InvalidScope(format!(
                    "scope `{scope}` is for first-party apps only"
                )));
            }
            if scopes.contains(Scope::OpenId) && !self.signs_id_tokens() {
                return Err(ExchangeError::InvalidScope(
                    "`openid` needs an asymmetric signing key, which this server has not".into(),
                ));
            }
        }
        let now = self.ports.clock.now_stored();
        let device_code = self.ports.opaque.generate();
        let digest = self.ports.opaque.digest(&device_code);
        // A user code taken already (by a live request, or one not purged yet) is drawn
        // again; with 20^8 codes a second draw almost never happens.
        for _ in 0..5 {
            let authorization = DeviceAuthorization {
                id: DeviceAuthorizationId::generate(),
                client_id: client.id.clone(),
                user_code: UserCode::generate(self.ports.opaque.as_ref()),
                scopes: scopes.clone(),
                status: DeviceStatus::Pending,
                created_at: now,
                expires_at: now + policy.lifetime,
                interval_secs: policy.interval.num_seconds(),
                last_polled_at: None,
            };
            match devices.insert(&digest, &authorization).await {
                Ok(()) => {
                    tracing::info!(client_id = %client.id, "device authorization begun");
                    return Ok(DeviceStart {
                        device_code,
                        user_code: authorization.user_code,
                        expires_in: policy.lifetime.num_seconds(),
                        interval: policy.interval.num_seconds(),
                    });
                }
                Err(InsertDeviceError::UserCodeTaken) => continue,
                Err(InsertDeviceError::Repository(error)) => return Err(error.into()),
            }
        }
        Err(RepositoryError::new(std::io::Error::other("no free user code")).into())
    }

    /// The pending request a user code entered by `user` (signed in through `browser`)
    /// names. Every entry counts against the caller's network, and a right one gives its
    /// count back, so guessing is bounded per network however the guesses are spread.
    pub async fn device_request(
        &self,
        raw: &str,
        user: &User,
        browser: &Session,
        caller: &Caller,
    ) -> Result<DeviceRequest, DeviceEntryError> {
        let network = caller.ip.as_deref().map(crate::throttle::ip_subject);
        let reservation = match &network {
            Some(network) => Some(
                self.ports
                    .throttle
                    .reserve(Bucket::DeviceCodeIp, network)
                    .await?,
            ),
            None => None,
        };
        let now = self.ports.clock.now();
        let found = match (UserCode::parse(raw), &self.devices) {
            (Ok(code), Some((devices, _))) => devices.find_by_user_code(&code).await?,
            _ => None,
        };
        let Some(authorization) =
            found.filter(|found| found.status == DeviceStatus::Pending && !found.is_expired(now))
        else {
            return Err(DeviceEntryError::Unknown);
        };
        let Some(client) = self.client(authorization.client_id.as_str()).await? else {
            return Err(DeviceEntryError::Unknown);
        };
        if let Some(reservation) = reservation
            && let Err(error) = self.ports.throttle.release(reservation).await
        {
            tracing::warn!(%error, "could not give back a user code entry");
        }
        let role = self.policy.mfa.scope_role(user.role, browser.amr);
        let scopes = match &authorization.scopes {
            Some(asked) => {
                if let Some(scope) = asked.iter().find(|scope| !scope.allowed_for(role)) {
                    return Err(DeviceEntryError::ScopeNotHeld(scope));
                }
                asked.clone()
            }
            None => ScopeSet::all_for(role)
                .iter()
                .filter(|scope| client.first_party || scope.third_parties_may_hold())
                .collect(),
        };
        Ok(DeviceRequest {
            authorization,
            client,
            scopes,
        })
    }

    /// The person's decision on a device's request (found with [`Self::device_request`],
    /// which this judges again): approve or deny. Of racing decisions, one counts.
    pub async fn decide_device(
        &self,
        raw: &str,
        approve: bool,
        user: &User,
        browser: &Session,
        caller: &Caller,
    ) -> Result<DeviceRequest, DeviceEntryError> {
        let request = self.device_request(raw, user, browser, caller).await?;
        let Some((devices, _)) = &self.devices else {
            return Err(DeviceEntryError::Unknown);
        };
        let approval = approve.then(|| Approval {
            user_id: user.id,
            amr: browser.amr,
            auth_time: browser.authenticated_at,
            credential_version: user.credential_version,
            scopes: request.scopes.clone(),
        });
        let now = self.ports.clock.now();
        if !devices
            .decide(request.authorization.id, approval.as_ref(), now)
            .await?
        {
            return Err(DeviceEntryError::Unknown);
        }
        let kind = if approve {
            AuditKind::DeviceApproved
        } else {
            AuditKind::DeviceDenied
        };
        self.ports
            .audit
            .record(
                kind,
                Some(user.id),
                None,
                caller,
                Some(format!(
                    "client {}, scope: {}",
                    request.client.id, request.scopes
                )),
            )
            .await;
        tracing::info!(client_id = %request.client.id, approve, "device authorization decided");
        Ok(request)
    }

    /// A device's poll at the token endpoint (`grant_type=urn:ietf:params:oauth:grant-type:device_code`):
    /// `authorization_pending` until its person decides, `slow_down` (and a longer interval)
    /// when it polls too soon, `access_denied` or `expired_token` as RFC 8628 §3.5 says, and
    /// once approved, tokens, once: the device code is then spent.
    #[tracing::instrument(skip_all)]
    pub async fn poll_device(
        &self,
        credentials: &ClientCredentials,
        device_code: &SecretString,
        caller: Caller,
    ) -> Result<CodeGrant, ExchangeError> {
        let client = self.authenticate_client(credentials, &caller).await?;
        let (devices, _) = self.devices()?;
        let digest = self.ports.opaque.digest(device_code);
        // Racing polls: each reads, and the compare-and-swap on the last poll decides
        // which of them counts as the poll; the others were too soon by definition.
        for _ in 0..3 {
            // As stored, so that the compare-and-swap finds the poll it read.
            let now = self.ports.clock.now_stored();
            let Some(authorization) = devices.find_by_device_code(&digest).await? else {
                return Err(ExchangeError::InvalidDeviceCode("unknown device code"));
            };
            if authorization.client_id != client.id {
                return Err(ExchangeError::InvalidDeviceCode(
                    "the device code belongs to another client",
                ));
            }
            match &authorization.status {
                DeviceStatus::Used => {
                    return Err(ExchangeError::InvalidDeviceCode(
                        "the device code was already used",
                    ));
                }
                _ if authorization.is_expired(now) => return Err(ExchangeError::ExpiredToken),
                DeviceStatus::Denied => return Err(ExchangeError::AccessDenied),
                DeviceStatus::Approved(approval) => {
                    if !devices.consume(authorization.id).await? {
                        return Err(ExchangeError::InvalidDeviceCode(
                            "the device code was already used",
                        ));
                    }
                    return self.device_tokens(&client, approval, caller, now).await;
                }
                DeviceStatus::Pending => {
                    let too_soon = authorization.polled_too_soon(now);
                    let interval =
                        authorization.interval_secs + if too_soon { SLOW_DOWN_STEP } else { 0 };
                    let recorded = devices
                        .record_poll(
                            authorization.id,
                            authorization.last_polled_at,
                            now,
                            interval,
                        )
                        .await?;
                    if !recorded {
                        continue;
                    }
                    return Err(if too_soon {
                        ExchangeError::SlowDown
                    } else {
                        ExchangeError::AuthorizationPending
                    });
                }
            }
        }
        Err(ExchangeError::SlowDown)
    }

    /// The tokens of an approved device: a session for its client, as the person approved
    /// it, provided the account can still sign in as it could then.
    async fn device_tokens(
        &self,
        client: &Client,
        approval: &Approval,
        caller: Caller,
        now: DateTime<Utc>,
    ) -> Result<CodeGrant, ExchangeError> {
        let user = match self.ports.users.find_by_id(approval.user_id).await? {
            Some(user)
                if user.is_active && user.credential_version == approval.credential_version =>
            {
                user
            }
            _ => {
                return Err(ExchangeError::InvalidGrant(
                    "the account can no longer sign in",
                ));
            }
        };
        // The role may have changed since the approval.
        let role = self.policy.mfa.scope_role(user.role, approval.amr);
        let scopes: ScopeSet = approval
            .scopes
            .iter()
            .filter(|scope| scope.allowed_for(role))
            .collect();
        let session = Session::start(&user, scopes.clone(), caller, self.policy.sessions, now)
            .for_client(SessionId::generate(), client.id.clone())
            .with_amr(approval.amr)
            .authenticated_at(approval.auth_time);
        let refresh = self.ports.opaque.generate();
        self.ports
            .sessions
            .create(&session, &self.ports.opaque.digest(&refresh))
            .await?;
        let access = self
            .ports
            .tokens
            .issue(&user, &session, scopes.clone(), now)?;
        let id_token = if scopes.contains(Scope::OpenId) {
            let claims = IdClaims {
                subject: user.id,
                audience: client.id.clone(),
                issued_at: now,
                expires_at: access.claims.expires_at,
                auth_time: approval.auth_time,
                nonce: None,
                amr: approval.amr.methods().to_vec(),
                idp: None,
                email: scopes
                    .contains(Scope::EmailAddress)
                    .then(|| (user.email.as_str().to_owned(), user.is_verified)),
                name: scopes
                    .contains(Scope::Profile)
                    .then(|| user.full_name.as_ref().map(|n| n.as_str().to_owned())),
            };
            Some(self.ports.id_tokens.sign_id_token(&claims, &access.token)?)
        } else {
            None
        };
        self.ports
            .audit
            .record(
                AuditKind::LoginSucceeded,
                Some(user.id),
                None,
                &session.caller,
                Some(format!("device code for client {}", client.id)),
            )
            .await;
        tracing::info!(event = "login_succeeded", user_id = %user.id, session_id = %session.id, client_id = %client.id, "device code exchanged: session started");
        Ok(CodeGrant {
            tokens: SessionTokens {
                access: GrantedAccess::Own(access),
                refresh,
            },
            id_token,
        })
    }

    /// Deletes device authorizations that expired; the housekeeping task calls it.
    pub async fn purge_devices(&self) -> Result<u64, RepositoryError> {
        match &self.devices {
            Some((devices, _)) => devices.purge(self.ports.clock.now()).await,
            None => Ok(0),
        }
    }
}
