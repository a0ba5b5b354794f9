//! gatehouse's WebAuthn relying party, on `webauthn-rs`: the options of a registration and
//! of a discoverable (usernameless) sign-in, and the checks of what the authenticator
//! answers (challenge, origin, RP id, user verification, signature, attestation format,
//! counter). Implements the domain's [`RelyingParty`].
//!
//! The RP id is the host of the public URL and the allowed origins are its origin and the
//! extra ones the operator lists. WebAuthn needs a domain: with an IP address as host
//! (`http://127.0.0.1:8000`), passkeys are unavailable and say why.
//!
//! A ceremony's state is the library's, serialised as JSON (its
//! `danger-allow-state-serialisation` feature): the domain keeps it server-side, single-use
//! and expiring, which the library leaves to its caller.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_domain::UserId;
use gatehouse_domain::passkeys::{
    Assertion, CeremonyError, CeremonyOptions, CeremonyResponse, CeremonyState, CredentialId,
    NewCredential, RelyingParty, StoredCredential,
};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
    WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

/// The relying party of this deployment, or why there is none.
pub struct WebauthnRelyingParty {
    webauthn: Result<Webauthn, String>,
}

/// A ceremony's state as stored: which ceremony, and the library's state of it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "ceremony", content = "state", rename_all = "snake_case")]
enum State {
    Registration(PasskeyRegistration),
    SignIn(DiscoverableAuthentication),
    SecondFactor(PasskeyAuthentication),
}

impl WebauthnRelyingParty {
    /// The relying party of `public_url` (its host is the RP id), also accepting answers
    /// from `extra_origins`, named `name` on authenticators.
    pub fn new(public_url: &str, extra_origins: &[String], name: &str) -> Self {
        Self {
            webauthn: build(public_url, extra_origins, name),
        }
    }

    /// Why passkeys are unavailable, if they are.
    pub fn problem(&self) -> Option<&str> {
        self.webauthn.as_ref().err().map(String::as_str)
    }

    fn webauthn(&self) -> Result<&Webauthn, CeremonyError> {
        self.webauthn
            .as_ref()
            .map_err(|problem| CeremonyError::Unavailable(problem.clone()))
    }
}

fn build(public_url: &str, extra_origins: &[String], name: &str) -> Result<Webauthn, String> {
    let origin = Url::parse(public_url).map_err(|error| format!("server.public_url: {error}"))?;
    let Some(rp_id) = origin.domain().map(str::to_owned) else {
        return Err(format!(
            "server.public_url ({public_url}) has no domain name as its host; WebAuthn needs one (`localhost` works for development)"
        ));
    };
    let mut builder = WebauthnBuilder::new(&rp_id, &origin)
        .map_err(|error| format!("server.public_url ({public_url}): {error}"))?
        .rp_name(name);
    for extra in extra_origins {
        let extra = Url::parse(extra)
            .map_err(|error| format!("passkeys.extra_origins: {extra}: {error}"))?;
        builder = builder.append_allowed_origin(&extra);
    }
    builder
        .build()
        .map_err(|error| format!("the relying party: {error}"))
}

fn encode(bytes: &[u8]) -> CredentialId {
    CredentialId::new(URL_SAFE_NO_PAD.encode(bytes))
}

fn decode(id: &CredentialId) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(id.as_str()).ok()
}

fn to_json<T: Serialize>(value: &T) -> Result<String, CeremonyError> {
    serde_json::to_string(value)
        .map_err(|error| CeremonyError::Unavailable(format!("could not serialise: {error}")))
}

fn read<'a, T: Deserialize<'a>>(json: &'a str, what: &str) -> Result<T, CeremonyError> {
    serde_json::from_str(json).map_err(|error| CeremonyError::Malformed(format!("{what}: {error}")))
}

fn stored_state(state: &CeremonyState) -> Result<State, CeremonyError> {
    // A state this service wrote and cannot read is corrupt storage, not the person's
    // fault; it can only be refused.
    serde_json::from_str(state.as_str())
        .map_err(|error| CeremonyError::Refused(format!("unreadable ceremony state: {error}")))
}

fn stored_passkey(stored: &StoredCredential) -> Result<Passkey, CeremonyError> {
    serde_json::from_str(stored.as_str())
        .map_err(|error| CeremonyError::Refused(format!("unreadable stored credential: {error}")))
}

fn refused(error: WebauthnError) -> CeremonyError {
    match error {
        WebauthnError::CredentialPossibleCompromise => CeremonyError::CounterWentBack,
        other => CeremonyError::Refused(other.to_string()),
    }
}

/// What a stored credential says of its counter and flags (the library keeps them to
/// itself).
#[derive(Deserialize)]
struct Flags {
    cred: FlagsOf,
}

#[derive(Deserialize)]
struct FlagsOf {
    counter: u32,
    backup_eligible: bool,
    backup_state: bool,
}

impl RelyingParty for WebauthnRelyingParty {
    fn available(&self) -> bool {
        self.webauthn.is_ok()
    }

    fn start_registration(
        &self,
        user: UserId,
        name: &str,
        display_name: &str,
        exclude: &[CredentialId],
    ) -> Result<(CeremonyOptions, CeremonyState), CeremonyError> {
        let webauthn = self.webauthn()?;
        let exclude: Vec<Vec<u8>> = exclude.iter().filter_map(decode).collect();
        let (mut options, state) = webauthn
            .start_passkey_registration(user.as_uuid(), name, display_name, Some(exclude))
            .map_err(refused)?;
        // A passkey signs in without a name typed first: the credential must be
        // discoverable (the library asks for "discouraged" and lets its caller say more).
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Required);
        }
        Ok((
            CeremonyOptions::new(to_json(&options)?),
            CeremonyState::new(to_json(&State::Registration(state))?),
        ))
    }

    fn finish_registration(
        &self,
        state: &CeremonyState,
        response: &CeremonyResponse,
    ) -> Result<NewCredential, CeremonyError> {
        let webauthn = self.webauthn()?;
        let State::Registration(state) = stored_state(state)? else {
            return Err(CeremonyError::Refused("not a registration".into()));
        };
        let answer: RegisterPublicKeyCredential = read(response.as_str(), "the registration")?;
        let passkey = webauthn
            .finish_passkey_registration(&answer, &state)
            .map_err(refused)?;
        let credential = to_json(&passkey)?;
        let flags: Flags = read(&credential, "the new credential")?;
        Ok(NewCredential {
            credential_id: encode(passkey.cred_id()),
            credential: StoredCredential::new(credential),
            counter: flags.cred.counter,
            backup_eligible: flags.cred.backup_eligible,
            backed_up: flags.cred.backup_state,
        })
    }

    fn start_sign_in(
        &self,
        allowed: &[StoredCredential],
    ) -> Result<(CeremonyOptions, CeremonyState), CeremonyError> {
        let webauthn = self.webauthn()?;
        if allowed.is_empty() {
            let (options, state) = webauthn
                .start_discoverable_authentication()
                .map_err(refused)?;
            return Ok((
                CeremonyOptions::new(to_json(&options)?),
                CeremonyState::new(to_json(&State::SignIn(state))?),
            ));
        }
        let passkeys = allowed
            .iter()
            .map(stored_passkey)
            .collect::<Result<Vec<_>, _>>()?;
        let (options, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(refused)?;
        Ok((
            CeremonyOptions::new(to_json(&options)?),
            CeremonyState::new(to_json(&State::SecondFactor(state))?),
        ))
    }

    fn identify(
        &self,
        response: &CeremonyResponse,
    ) -> Result<(Option<UserId>, CredentialId), CeremonyError> {
        self.webauthn()?;
        let answer: PublicKeyCredential = read(response.as_str(), "the assertion")?;
        let user = answer
            .response
            .user_handle
            .as_deref()
            .and_then(|handle| uuid::Uuid::from_slice(handle).ok())
            .map(UserId::from_uuid);
        Ok((user, encode(&answer.raw_id)))
    }

    fn finish_sign_in(
        &self,
        state: &CeremonyState,
        response: &CeremonyResponse,
        stored: &StoredCredential,
    ) -> Result<Assertion, CeremonyError> {
        let webauthn = self.webauthn()?;
        let answer: PublicKeyCredential = read(response.as_str(), "the assertion")?;
        let mut passkey = stored_passkey(stored)?;
        let result = match stored_state(state)? {
            State::SignIn(state) => webauthn
                .finish_discoverable_authentication_v2(&answer, state, &passkey)
                .map_err(refused)?,
            State::SecondFactor(state) => webauthn
                .finish_passkey_authentication(&answer, &state)
                .map_err(refused)?,
            State::Registration(_) => {
                return Err(CeremonyError::Refused("not a sign-in".into()));
            }
        };
        if result.cred_id() != passkey.cred_id() {
            return Err(CeremonyError::Refused(
                "another credential than the one stored".into(),
            ));
        }
        if !result.user_verified() {
            return Err(CeremonyError::Refused("the person was not verified".into()));
        }
        passkey.update_credential(&result);
        Ok(Assertion {
            credential_id: encode(result.cred_id()),
            counter: result.counter(),
            backup_eligible: result.backup_eligible(),
            backed_up: result.backup_state(),
            credential: StoredCredential::new(to_json(&passkey)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_address_host_makes_passkeys_unavailable_and_says_why() {
        let party = WebauthnRelyingParty::new("http://127.0.0.1:8000", &[], "gatehouse");
        assert!(!party.available());
        assert!(
            party.problem().unwrap().contains("domain"),
            "{:?}",
            party.problem()
        );
        let party = WebauthnRelyingParty::new("http://localhost:8000", &[], "gatehouse");
        assert!(party.available(), "{:?}", party.problem());
    }

    #[test]
    fn registration_options_ask_for_a_discoverable_credential_and_user_verification() {
        let party = WebauthnRelyingParty::new("https://auth.example.com", &[], "gatehouse");
        let (options, state) = party
            .start_registration(UserId::generate(), "ada@example.com", "Ada", &[])
            .unwrap();
        let options: serde_json::Value = serde_json::from_str(options.as_str()).unwrap();
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required", "{options}");
        assert_eq!(selection["userVerification"], "required", "{options}");
        assert_eq!(options["publicKey"]["rp"]["id"], "auth.example.com");
        assert_eq!(options["publicKey"]["attestation"], "none");
        assert!(state.as_str().contains("\"ceremony\":\"registration\""));
    }
}
