// Passkeys and security keys (WebAuthn): runs the ceremony the page offers, then posts the browser's answer with
// the form. Progressive enhancement: without JavaScript or WebAuthn the button stays hidden and the page's own
// words say what to do instead. Loaded only on the passkey pages, never inline (CSP).

function toBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0)).buffer;
}

function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  return {
    ...json,
    challenge: toBytes(json.challenge),
    user: { ...json.user, id: toBytes(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) })),
  };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  return {
    ...json,
    challenge: toBytes(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) })),
  };
}

function answer(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const response = credential.response;
  const json = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: { clientDataJSON: toBase64url(response.clientDataJSON) },
  };
  if (response.attestationObject) {
    json.response.attestationObject = toBase64url(response.attestationObject);
    json.response.transports = response.getTransports ? response.getTransports() : [];
  } else {
    json.response.authenticatorData = toBase64url(response.authenticatorData);
    json.response.signature = toBase64url(response.signature);
    if (response.userHandle) json.response.userHandle = toBase64url(response.userHandle);
  }
  return json;
}

function explain(error) {
  if (error && error.name === "InvalidStateError") {
    return "This passkey or security key is already added to your account. Use a different one.";
  }
  if (error && error.name === "NotAllowedError") {
    return "The passkey or security key was not used: it was cancelled, took too long, or has no passkey for this "
      + "site. Try again, or use another way.";
  }
  return "Your browser could not use a passkey or security key. Try again, or use another way.";
}

for (const block of document.querySelectorAll("[data-passkey]")) {
  const form = block.closest("form");
  const button = block.querySelector("[data-passkey-start]");
  const status = block.querySelector("[data-passkey-status]");
  const unsupported = block.querySelector("[data-passkey-unsupported]");
  const field = form.querySelector("input[name=credential]");
  const supported = window.PublicKeyCredential && navigator.credentials && window.isSecureContext;
  if (supported) {
    button.hidden = false;
    if (unsupported) unsupported.hidden = true;
    button.addEventListener("click", async () => {
      const options = JSON.parse(block.dataset.passkeyOptions);
      const create = block.dataset.passkeyCeremony === "create";
      const name = form.querySelector("input[name=name]");
      if (create && name && !name.value.trim()) {
        // Let the server say what is missing before a key is made that would then not be added.
        form.submit();
        return;
      }
      button.disabled = true;
      status.textContent = "Follow your browser's instructions to use your passkey or security key.";
      try {
        const credential = create
          ? await navigator.credentials.create({ publicKey: creationOptions(options) })
          : await navigator.credentials.get({ publicKey: requestOptions(options) });
        field.value = JSON.stringify(answer(credential));
        status.textContent = "Checking…";
        form.submit();
      } catch (error) {
        status.textContent = explain(error);
        button.disabled = false;
        button.focus();
      }
    });
  }
}
