// Passkeys on gatehouse's pages: the one script they have, served from this origin
// (script-src 'self', only on the pages that use it). A form marked `data-passkey`
// ("sign-in" or "register") stays hidden without WebAuthn; with it, submitting the form
// begins a ceremony at `data-begin` (a POST of the form's own fields, answered with
// `{ceremony, options}`), asks the browser's authenticator, then sends the form on with
// the ceremony and the authenticator's answer in its hidden `ceremony` and `credential`
// fields. A sign-in form marked `data-autofill` also offers the passkeys in the browser's
// autofill of that field (conditional mediation, where the browser has it): its ceremony
// begins when the person first reaches the field, not at every page view, since each one
// counts against the network's limit. Everything else on the pages works without script.
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

  // Begins a ceremony with the form's own fields: `{ceremony, options}`, or throws with
  // what the server said.
  const begin = async (form, signal) => {
    const fields = new URLSearchParams(new FormData(form));
    fields.delete("ceremony");
    fields.delete("credential");
    const begun = await fetch(form.dataset.begin, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: fields,
      signal,
    });
    const json = (begun.headers.get("Content-Type") || "").includes("json");
    const answer = json ? await begun.json() : {};
    if (!begun.ok || !json) {
      throw new Error(answer.detail || "Passkeys cannot be used right now: reload the page.");
    }
    return answer;
  };
  // Forms sent with a ceremony; a page shown again from the history starts afresh.
  const sent = new WeakSet();
  const send = (form, ceremony, credential) => {
    sent.add(form);
    form.elements.ceremony.value = ceremony;
    form.elements.credential.value = credential;
    form.submit();
  };
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("form[data-passkey]").forEach((form) => {
      sent.delete(form);
      form.elements.ceremony.value = "";
      form.elements.credential.value = "";
    });
  });

  // The pending autofill request ({controller, done}), aborted when the person presses
  // the button instead; the button's request waits until it has settled, since a browser
  // takes one request at a time.
  let autofill = null;

  const offerInAutofill = (form) => {
    const controller = new AbortController();
    const done = conditional(form, controller.signal);
    autofill = { controller, done };
  };

  const conditional = async (form, signal) => {
    try {
      const available = PublicKeyCredential.isConditionalMediationAvailable
        && await PublicKeyCredential.isConditionalMediationAvailable();
      if (!available || signal.aborted) {
        return;
      }
      const answer = await begin(form, signal);
      const options = requestOptions(answer.options.publicKey);
      const credential = await navigator.credentials.get({
        ...options,
        mediation: "conditional",
        signal,
      });
      if (credential) {
        send(form, answer.ceremony, assertion(credential));
      }
    } catch (error) {
      // Aborted for the button, or nothing to offer: the button still works.
    }
  };

  document.querySelectorAll("form[data-passkey]").forEach((form) => {
    form.hidden = false;
    const field = form.dataset.autofill && document.getElementById(form.dataset.autofill);
    if (field) {
      const start = () => offerInAutofill(form);
      if (document.activeElement === field) {
        start();
      } else {
        field.addEventListener("focus", start, { once: true });
      }
    }
    form.addEventListener("submit", async (event) => {
      if (sent.has(form)) {
        return;
      }
      event.preventDefault();
      if (autofill) {
        const pending = autofill;
        autofill = null;
        pending.controller.abort();
        await pending.done;
      }
      try {
        const answer = await begin(form);
        const credential = form.dataset.passkey === "register"
          ? registration(await navigator.credentials.create(creationOptions(answer.options.publicKey)))
          : assertion(await navigator.credentials.get(requestOptions(answer.options.publicKey)));
        send(form, answer.ceremony, credential);
      } catch (error) {
        say(form, error.name === "Error"
          ? error.message
          : "The passkey was not used (" + error.name + "). Try again, or another way.");
      }
    });
  });
})();
