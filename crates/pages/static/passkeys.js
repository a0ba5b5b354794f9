// Passkeys on gatehouse's pages: the one script they have, served from this origin
// (script-src 'self', only on the pages that use it). A form marked `data-passkey`
// ("sign-in" or "register") stays hidden without WebAuthn; with it, submitting the form
// begins a ceremony at `data-begin` (a POST of the form's own fields, answered with
// `{ceremony, options}`), asks the browser's authenticator, then sends the form on with
// the ceremony and the authenticator's answer in its hidden `ceremony` and `credential`
// fields. Everything else on the pages works without script.
"use strict";

(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  const decode = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)).buffer;
  };
  const encode = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer)))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");

  // The options as the browser wants them: binary values as buffers.
  const creationOptions = (publicKey) => {
    publicKey.challenge = decode(publicKey.challenge);
    publicKey.user.id = decode(publicKey.user.id);
    (publicKey.excludeCredentials || []).forEach((c) => { c.id = decode(c.id); });
    return { publicKey };
  };
  const requestOptions = (publicKey) => {
    publicKey.challenge = decode(publicKey.challenge);
    (publicKey.allowCredentials || []).forEach((c) => { c.id = decode(c.id); });
    return { publicKey };
  };

  // The authenticator's answer as JSON, binary values in base64url.
  const registration = (credential) => JSON.stringify({
    id: credential.id,
    rawId: encode(credential.rawId),
    type: credential.type,
    response: {
      attestationObject: encode(credential.response.attestationObject),
      clientDataJSON: encode(credential.response.clientDataJSON),
      transports: credential.response.getTransports ? credential.response.getTransports() : [],
    },
    clientExtensionResults: credential.getClientExtensionResults(),
  });
  const assertion = (credential) => JSON.stringify({
    id: credential.id,
    rawId: encode(credential.rawId),
    type: credential.type,
    response: {
      authenticatorData: encode(credential.response.authenticatorData),
      clientDataJSON: encode(credential.response.clientDataJSON),
      signature: encode(credential.response.signature),
      userHandle: credential.response.userHandle ? encode(credential.response.userHandle) : null,
    },
    clientExtensionResults: credential.getClientExtensionResults(),
  });

  const say = (form, text) => {
    let status = form.querySelector(".passkey-status");
    if (!status) {
      status = document.createElement("p");
      status.className = "passkey-status error";
      status.setAttribute("role", "alert");
      form.prepend(status);
    }
    status.textContent = text;
  };

  document.querySelectorAll("form[data-passkey]").forEach((form) => {
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      if (form.elements.credential.value) {
        return;
      }
      event.preventDefault();
      const fields = new URLSearchParams(new FormData(form));
      fields.delete("ceremony");
      fields.delete("credential");
      try {
        const begun = await fetch(form.dataset.begin, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: fields,
        });
        const answer = await begun.json();
        if (!begun.ok) {
          say(form, answer.detail || "Passkeys cannot be used right now.");
          return;
        }
        const credential = form.dataset.passkey === "register"
          ? registration(await navigator.credentials.create(creationOptions(answer.options.publicKey)))
          : assertion(await navigator.credentials.get(requestOptions(answer.options.publicKey)));
        form.elements.ceremony.value = answer.ceremony;
        form.elements.credential.value = credential;
        form.submit();
      } catch (error) {
        say(form, "The passkey was not used (" + error.name + "). Try again, or another way.");
      }
    });
  });
})();
