// An OpenID Connect relying party built on openid-client (not written here), run against a
// live gatehouse: discovery, the authorization code flow with PKCE, ID-token validation
// against the JWKS (signature, issuer, audience, nonce, at_hash), userinfo, refresh,
// introspection, revocation and RP-initiated logout.
//
// The person's part (the hosted sign-in page) is played with plain HTTP (browser.cjs).
//
//   node relying-party.cjs
//
// Environment: GATEHOUSE_URL, ALG (EdDSA or RS256), EMAIL, PASSWORD, and the clients:
// RP_ID + RP_SECRET (confidential), SPA_ID (public), REDIRECT_URI, LOGOUT_URI.
"use strict";

const assert = require("node:assert/strict");
const { Issuer, generators, custom } = require("openid-client");
const { Browser } = require("./browser.cjs");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const BASE = env("GATEHOUSE_URL");
const ALG = env("ALG");
const EMAIL = env("EMAIL");
const PASSWORD = env("PASSWORD");
const REDIRECT_URI = env("REDIRECT_URI");
const LOGOUT_URI = env("LOGOUT_URI");

custom.setHttpOptionsDefaults({ timeout: 10000 });

async function signIn(client, browser, scope) {
  const code_verifier = generators.codeVerifier();
  const nonce = generators.nonce();
  const state = generators.state();
  const url = client.authorizationUrl({
    scope,
    code_challenge: generators.codeChallenge(code_verifier),
    code_challenge_method: "S256",
    nonce,
    state,
  });
  const { location } = await browser.authorize(url);
  assert.ok(location.startsWith(REDIRECT_URI), location);
  // callback() checks state, iss (RFC 9207), the code exchange with the verifier, and the
  // ID token: signature by a JWKS key, iss, aud, exp, iat, nonce and at_hash.
  const params = client.callbackParams(location);
  return client.callback(REDIRECT_URI, params, { code_verifier, nonce, state });
}

async function main() {
  const issuer = await Issuer.discover(BASE);
  assert.equal(issuer.issuer, BASE);
  assert.deepEqual(issuer.metadata.id_token_signing_alg_values_supported, [ALG]);
  const browser = new Browser(BASE, EMAIL, PASSWORD);

  // A confidential client (client_secret_basic) with PKCE.
  const rp = new issuer.Client({
    client_id: env("RP_ID"),
    client_secret: env("RP_SECRET"),
    redirect_uris: [REDIRECT_URI],
    post_logout_redirect_uris: [LOGOUT_URI],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    id_token_signed_response_alg: ALG,
  });
  const tokens = await signIn(rp, browser, "openid profile email me");
  const claims = tokens.claims();
  assert.equal(claims.email, EMAIL);
  assert.deepEqual(claims.amr, ["pwd"]);
  assert.equal(claims.aud, env("RP_ID"));
  assert.ok(claims.auth_time <= claims.iat);
  console.log(`[${ALG}] code + PKCE: ID token verified for ${claims.sub} (kid ${JSON.parse(Buffer.from(tokens.id_token.split(".")[0], "base64url")).kid})`);

  const info = await rp.userinfo(tokens.access_token);
  assert.equal(info.sub, claims.sub);
  assert.equal(info.email, EMAIL);
  console.log(`[${ALG}] userinfo: ${JSON.stringify(info)}`);

  const refreshed = await rp.refresh(tokens.refresh_token);
  assert.ok(refreshed.access_token && refreshed.refresh_token !== tokens.refresh_token);
  console.log(`[${ALG}] refresh: new access and refresh tokens`);

  const live = await rp.introspect(refreshed.access_token);
  assert.equal(live.active, true);
  assert.equal(live.client_id, env("RP_ID"));
  const old = await rp.introspect(tokens.refresh_token);
  assert.equal(old.active, false, "a rotated refresh token is inactive");
  await rp.revoke(refreshed.refresh_token, "refresh_token");
  const revoked = await rp.introspect(refreshed.access_token);
  assert.equal(revoked.active, false, "revoking the refresh token ends the session");
  console.log(`[${ALG}] introspection and revocation: active, then inactive`);

  // A public client (no secret, PKCE required), reusing the browser session: no sign-in.
  const spa = new issuer.Client({
    client_id: env("SPA_ID"),
    redirect_uris: [REDIRECT_URI],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
    id_token_signed_response_alg: ALG,
  });
  const spaTokens = await signIn(spa, browser, "openid me");
  assert.equal(spaTokens.claims().sub, claims.sub);
  const spaRefreshed = await spa.refresh(spaTokens.refresh_token);
  assert.ok(spaRefreshed.access_token);
  console.log(`[${ALG}] public client: code + PKCE and refresh without a secret`);

  // RP-initiated logout: back to the registered URI with the state; the browser session
  // is gone, so the next authorization asks for the password again.
  const logout = rp.endSessionUrl({
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: LOGOUT_URI,
    state: "bye",
  });
  const out = await browser.get(logout);
  assert.equal(out.status, 303);
  assert.equal(out.headers.get("location"), `${LOGOUT_URI}?state=bye`);
  const again = await browser.get(spa.authorizationUrl({
    scope: "me",
    code_challenge: generators.codeChallenge(generators.codeVerifier()),
    code_challenge_method: "S256",
  }));
  assert.ok(again.headers.get("location").startsWith("/signin"), "signed out");
  console.log(`[${ALG}] logout: redirected to ${LOGOUT_URI}, signed out`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
