// The OpenID Foundation's Basic OP, Config OP and RP-initiated logout test modules, ported
// to run against a live gatehouse through libraries we did not write: openid-client (the
// relying party: discovery, authorization URLs, the callback's checks of state, iss, nonce,
// at_hash, max_age and the ID token's signature, the token, userinfo and refresh calls) and
// jose (a second, independent check of the signature against the JWKS). Each check is named
// after the module it ports; docs/oidc.md maps them.
//
//   node conformance.cjs
//
// Environment: GATEHOUSE_URL, ALG, EMAIL, PASSWORD, FULL_NAME (the account), THIRD_ID +
// THIRD_SECRET (a third-party confidential client), RP_ID + RP_SECRET (a first-party
// confidential one), SPA_ID (a public one), REDIRECT_URI, LOGOUT_URI, LOGOUT_URI_WITH_QUERY
// (both registered for the logout of THIRD_ID); CODE_REUSE_WAIT (seconds before the
// late code reuse, 30 as the suite does).
"use strict";

const assert = require("node:assert/strict");
const { setTimeout: sleep } = require("node:timers/promises");
const { Issuer, generators, custom, errors } = require("openid-client");
const jose = require("jose");
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
const FULL_NAME = env("FULL_NAME");
const REDIRECT_URI = env("REDIRECT_URI");
const LOGOUT_URI = env("LOGOUT_URI");
const LOGOUT_URI_WITH_QUERY = env("LOGOUT_URI_WITH_QUERY");
const CODE_REUSE_WAIT = Number(process.env.CODE_REUSE_WAIT ?? 30);

custom.setHttpOptionsDefaults({ timeout: 10000 });

const checks = [];
/** A ported module: `name` as the suite calls it, `run` throws when it fails. */
const check = (name, run) => checks.push({ name, run });

const browser = () => new Browser(BASE, EMAIL, PASSWORD);
const headerOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[0], "base64url"));

/** An authorization URL for `client`: PKCE and a state always, a nonce unless `nonce: null`. */
function request(client, params = {}) {
  const verifier = generators.codeVerifier();
  const checks = { code_verifier: verifier, state: generators.state() };
  const nonce = params.nonce === null ? undefined : (params.nonce ?? generators.nonce());
  if (nonce) checks.nonce = nonce;
  if (params.max_age) checks.max_age = Number(params.max_age);
  const query = {
    scope: "openid",
    code_challenge: generators.codeChallenge(verifier),
    code_challenge_method: "S256",
    state: checks.state,
    ...params,
  };
  if (nonce) query.nonce = nonce;
  else delete query.nonce;
  return { url: client.authorizationUrl(query), query, checks };
}

/** The whole flow: the browser through the pages, then openid-client's callback and
 * exchange. Returns the token set and what the person was asked. */
async function flow(client, agent, params = {}) {
  const pending = request(client, params);
  const { location, asked } = await agent.authorize(pending.url);
  assert.ok(location.startsWith(REDIRECT_URI), location);
  const tokens = await client.callback(REDIRECT_URI, client.callbackParams(location), pending.checks);
  return { tokens, asked, pending };
}

/** Where a request that should be refused back to the client sends the browser: the error
 * in the redirect, with the request's state. */
async function refusedBack(client, agent, params, error) {
  const pending = request(client, params);
  const response = await agent.get(pending.url);
  assert.equal(response.status, 303);
  const location = response.headers.get("location");
  assert.ok(location.startsWith(REDIRECT_URI), location);
  await assert.rejects(
    client.callback(REDIRECT_URI, client.callbackParams(location), pending.checks),
    (e) => e instanceof errors.OPError && e.error === error,
    `${error} for ${JSON.stringify(params)}: ${location}`,
  );
  const back = new URL(location).searchParams;
  assert.equal(back.get("state"), pending.checks.state);
  assert.equal(back.get("iss"), BASE);
}

/** A page shown instead of a redirect: the request is not valid, nothing goes elsewhere. */
function assertErrorPage(response, what) {
  assert.equal(response.status, 400, what);
  assert.equal(response.headers.get("location"), null, what);
}

async function main() {
  const issuer = await Issuer.discover(BASE);
  const metadata = issuer.metadata;
  const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
  const client = (id, secret, method) => new issuer.Client({
    client_id: id,
    client_secret: secret,
    redirect_uris: [REDIRECT_URI],
    post_logout_redirect_uris: [LOGOUT_URI, LOGOUT_URI_WITH_QUERY],
    response_types: ["code"],
    token_endpoint_auth_method: method,
    id_token_signed_response_alg: ALG,
  });
  // The suite's client: registered by an administrator, not part of gatehouse.
  const third = client(env("THIRD_ID"), env("THIRD_SECRET"), "client_secret_basic");
  const thirdPost = client(env("THIRD_ID"), env("THIRD_SECRET"), "client_secret_post");
  // The first-party app, which skips the consent page (what `prompt=none` needs).
  const rp = client(env("RP_ID"), env("RP_SECRET"), "client_secret_basic");
  const spa = client(env("SPA_ID"), undefined, "none");

  // One person, signed in once, for the modules that start from a signed-in browser.
  const person = browser();
  const first = await flow(third, person, { scope: "openid profile email" });
  const sub = first.tokens.claims().sub;

  // Started first, checked last: the code reused after the suite's 30 seconds.
  const lateCode = (async () => {
    const agent = browser();
    const pending = request(third);
    const { location } = await agent.authorize(pending.url);
    const params = third.callbackParams(location);
    const tokens = await third.callback(REDIRECT_URI, params, pending.checks);
    return { tokens, params, pending, at: Date.now() };
  })();
  lateCode.catch(() => {}); // its failure is reported by its check

  check("oidcc-server", async () => {
    const claims = first.tokens.claims();
    assert.equal(claims.iss, BASE);
    assert.equal(claims.aud, third.client_id);
    assert.ok(claims.sub && claims.iat && claims.exp > claims.iat);
    assert.deepEqual(first.asked, { signIn: 1, consent: 1 }, "signed in, then the consent page");
    assert.equal(first.tokens.token_type.toLowerCase(), "bearer");
  });

  check("oidcc-idtoken-signature", async () => {
    const idToken = first.tokens.id_token;
    assert.equal(headerOf(idToken).alg, ALG);
    assert.deepEqual(metadata.id_token_signing_alg_values_supported, [ALG]);
    const { payload } = await jose.jwtVerify(idToken, jwks, {
      issuer: BASE,
      audience: third.client_id,
      algorithms: [ALG],
    });
    assert.equal(payload.sub, sub);
    const [head, body, signature] = idToken.split(".");
    const flipped = Buffer.from(signature, "base64url");
    flipped[0] ^= 1;
    await assert.rejects(jose.jwtVerify(`${head}.${body}.${flipped.toString("base64url")}`, jwks));
  });

  check("oidcc-idtoken-kid", async () => {
    const { kid } = headerOf(first.tokens.id_token);
    assert.ok(kid, "the ID token names its key");
    const keys = (await (await fetch(metadata.jwks_uri)).json()).keys;
    assert.equal(keys.filter((key) => key.kid === kid).length, 1, "exactly one JWKS key has the kid");
  });

  for (const [name, options] of [
    ["oidcc-userinfo-get", { method: "GET" }],
    ["oidcc-userinfo-post-header", { method: "POST", via: "header" }],
    ["oidcc-userinfo-post-body", { method: "POST", via: "body" }],
  ]) {
    check(name, async () => {
      const info = await third.userinfo(first.tokens.access_token, options);
      assert.equal(info.sub, sub);
      assert.equal(info.email, EMAIL);
    });
  }

  check("oidcc-ensure-request-without-nonce-succeeds-for-code-flow", async () => {
    const { tokens, asked } = await flow(third, person, { nonce: null });
    assert.equal(tokens.claims().nonce, undefined);
    assert.equal(asked.signIn, 0, "the browser is still signed in");
  });

  for (const [name, scope, expect] of [
    ["oidcc-scope-profile", "openid profile", { name: FULL_NAME }],
    ["oidcc-scope-email", "openid email", { email: EMAIL, email_verified: false }],
    // Not supported: ignored under `openid`, as Core §5.4 lets a provider do.
    ["oidcc-scope-address", "openid address", {}],
    ["oidcc-scope-phone", "openid phone", {}],
    ["oidcc-scope-all", "openid profile email address phone", { name: FULL_NAME, email: EMAIL }],
    ["scopes in another order (openid last)", "email profile openid", { name: FULL_NAME, email: EMAIL }],
  ]) {
    check(name, async () => {
      const { tokens } = await flow(third, person, { scope });
      const info = await third.userinfo(tokens.access_token);
      assert.equal(info.sub, sub);
      for (const [claim, value] of Object.entries(expect)) assert.equal(info[claim], value, claim);
      for (const claim of ["address", "phone_number"]) assert.equal(info[claim], undefined);
      const granted = tokens.scope.split(" ");
      assert.ok(granted.includes("openid"));
      assert.ok(!granted.includes("address") && !granted.includes("phone"), tokens.scope);
    });
  }
  check("unsupported scopes are not advertised", async () => {
    for (const scope of ["address", "phone"]) assert.ok(!metadata.scopes_supported.includes(scope));
  });

  for (const display of ["page", "popup"]) {
    check(`oidcc-display-${display}`, async () => {
      await flow(third, person, { display });
    });
  }

  check("oidcc-prompt-login", async () => {
    const before = first.tokens.claims().auth_time;
    await sleep(1100);
    const { tokens, asked } = await flow(third, person, { prompt: "login" });
    assert.equal(asked.signIn, 1, "asked to sign in again");
    assert.ok(tokens.claims().auth_time > before, "a new auth_time");
  });

  check("oidcc-prompt-none-not-logged-in", async () => {
    await refusedBack(rp, browser(), { prompt: "none" }, "login_required");
  });

  check("oidcc-prompt-none-logged-in", async () => {
    const agent = browser();
    const signedIn = await flow(rp, agent);
    const { tokens, asked } = await flow(rp, agent, { prompt: "none" });
    assert.deepEqual(asked, { signIn: 0, consent: 0 });
    assert.equal(tokens.claims().sub, sub);
    assert.equal(tokens.claims().auth_time, signedIn.tokens.claims().auth_time);
    // A third-party app always needs the person's consent: the error Core §3.1.2.6 names.
    await refusedBack(third, agent, { prompt: "none" }, "consent_required");
  });

  check("oidcc-max-age-1", async () => {
    const agent = browser();
    const before = (await flow(rp, agent)).tokens.claims().auth_time;
    await sleep(2100);
    // openid-client checks that auth_time is there and within max_age.
    const { tokens, asked } = await flow(rp, agent, { max_age: "1" });
    assert.equal(asked.signIn, 1, "asked to sign in again");
    assert.ok(tokens.claims().auth_time > before);
  });

  check("oidcc-max-age-10000", async () => {
    const agent = browser();
    const before = (await flow(rp, agent)).tokens.claims().auth_time;
    const { tokens, asked } = await flow(rp, agent, { max_age: "10000" });
    assert.equal(asked.signIn, 0);
    assert.equal(tokens.claims().auth_time, before);
  });

  check("oidcc-unknown-parameters", async () => {
    await flow(third, person, { extra: "foobar", "x-unknown": "1" });
  });

  check("oidcc-id-token-hint", async () => {
    const agent = browser();
    const signedIn = (await flow(rp, agent)).tokens;
    const { tokens, asked } = await flow(rp, agent, { prompt: "none", id_token_hint: signedIn.id_token });
    assert.equal(asked.signIn, 0);
    assert.equal(tokens.claims().sub, signedIn.claims().sub);
  });

  check("oidcc-login-hint", async () => {
    const agent = browser();
    const pending = request(third, { login_hint: EMAIL });
    const toSignIn = await agent.get(pending.url);
    const page = await (await agent.get(toSignIn.headers.get("location"))).text();
    assert.match(page, new RegExp(`name="email" type="email"[^>]*value="${EMAIL.replace(/[.]/g, "\\.")}"`), "the email is filled in");
    const { location } = await agent.authorize(toSignIn);
    await third.callback(REDIRECT_URI, third.callbackParams(location), pending.checks);
  });

  for (const [name, params] of [
    ["oidcc-ui-locales", { ui_locales: "se" }],
    ["oidcc-claims-locales", { claims_locales: "se" }],
    ["oidcc-acr-values", { acr_values: "1 2" }],
    // Not supported (discovery: claims_parameter_supported false): ignored, as it may be.
    ["oidcc-claims-essential", { scope: "openid", claims: JSON.stringify({ userinfo: { name: { essential: true } } }) }],
  ]) {
    check(name, async () => {
      const { tokens } = await flow(third, person, params);
      assert.equal((await third.userinfo(tokens.access_token)).sub, sub);
    });
  }

  check("oidcc-codereuse", async () => {
    const agent = browser();
    const pending = request(third);
    const { location } = await agent.authorize(pending.url);
    const params = third.callbackParams(location);
    const tokens = await third.callback(REDIRECT_URI, params, pending.checks);
    await assertCodeReuseRefused(params, pending, tokens);
  });

  async function assertCodeReuseRefused(params, pending, tokens) {
    await assert.rejects(
      third.grant({
        grant_type: "authorization_code",
        code: params.code,
        redirect_uri: REDIRECT_URI,
        code_verifier: pending.checks.code_verifier,
      }),
      (e) => e instanceof errors.OPError && e.error === "invalid_grant",
    );
    // The tokens the code gave are revoked (RFC 6749 §4.1.2: "SHOULD").
    await assert.rejects(third.userinfo(tokens.access_token), (e) => e instanceof errors.OPError);
    assert.equal((await rp.introspect(tokens.refresh_token)).active, false);
  }

  check("oidcc-ensure-registered-redirect-uri", async () => {
    const pending = request(third, { redirect_uri: `${REDIRECT_URI}/other` });
    assertErrorPage(await person.get(pending.url), "an unregistered redirect_uri");
    const elsewhere = request(third, { redirect_uri: "https://evil.example.test/callback" });
    assertErrorPage(await person.get(elsewhere.url), "another site's redirect_uri");
  });

  check("oidcc-server-client-secret-post", async () => {
    const { tokens } = await flow(thirdPost, person);
    assert.equal(tokens.claims().aud, third.client_id);
  });

  check("POST to the authorization endpoint (Core §3.1.2.1)", async () => {
    const pending = request(third);
    const response = await person.post("/oauth2/authorize", {
      client_id: third.client_id,
      redirect_uri: REDIRECT_URI,
      response_type: "code",
      ...pending.query,
    });
    const { location } = await person.authorize(response);
    const tokens = await third.callback(REDIRECT_URI, third.callbackParams(location), pending.checks);
    assert.equal(tokens.claims().sub, sub);
  });

  check("oidcc-response-type-missing", async () => {
    const pending = request(third);
    const url = new URL(pending.url);
    url.searchParams.delete("response_type");
    const response = await person.get(url.href);
    assert.equal(response.status, 303);
    const back = new URL(response.headers.get("location"));
    assert.equal(`${back.origin}${back.pathname}`, REDIRECT_URI);
    assert.equal(back.searchParams.get("error"), "invalid_request");
    assert.equal(back.searchParams.get("state"), pending.checks.state);
  });

  check("unsupported response types (implicit, hybrid)", async () => {
    for (const response_type of ["id_token", "code id_token", "token"]) {
      await refusedBack(third, person, { response_type }, "unsupported_response_type");
    }
  });

  check("oidcc-request-uri-unsigned", async () => {
    await refusedBack(third, person, { request_uri: "https://rp.example.test/request.jwt" }, "request_uri_not_supported");
  });

  check("oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported", async () => {
    const object = new jose.UnsecuredJWT({ client_id: third.client_id, response_type: "code", scope: "openid" })
      .setIssuer(third.client_id)
      .setAudience(BASE)
      .encode();
    await refusedBack(third, person, { request: object }, "request_not_supported");
    assert.equal(metadata.request_parameter_supported, false);
    assert.equal(metadata.request_uri_parameter_supported, false);
  });

  check("oidcc-refresh-token", async () => {
    const { tokens } = await flow(third, browser(), { scope: "openid email" });
    const refreshed = await third.refresh(tokens.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    // No new ID token: Core §12.2 lets the refresh answer leave it out, and the person did
    // not sign in again.
    assert.equal(refreshed.id_token, undefined);
    assert.ok(refreshed.scope.split(" ").includes("openid"), refreshed.scope);
    assert.equal((await third.userinfo(refreshed.access_token)).sub, sub);
    // The client uses its newest token; the old one, presented again after that, is taken
    // for stolen: refused, session ended. (Presented before its successor was used, within
    // auth.refresh_reuse_leeway_secs, it would be a retry after a lost answer.)
    const newest = await third.refresh(refreshed.refresh_token);
    await assert.rejects(third.refresh(tokens.refresh_token), (e) => e.error === "invalid_grant");
    await assert.rejects(third.refresh(newest.refresh_token), (e) => e.error === "invalid_grant");
    // Another client cannot use it.
    const own = await flow(third, browser());
    await assert.rejects(rp.refresh(own.tokens.refresh_token), (e) => e.error === "invalid_grant");
  });

  check("PKCE: S256, the verifier checked, required of public clients", async () => {
    assert.deepEqual(metadata.code_challenge_methods_supported, ["S256"]);
    const agent = browser();
    const pending = request(spa);
    const { location } = await agent.authorize(pending.url);
    const params = spa.callbackParams(location);
    await assert.rejects(
      spa.callback(REDIRECT_URI, params, { ...pending.checks, code_verifier: generators.codeVerifier() }),
      (e) => e instanceof errors.OPError && e.error === "invalid_grant",
    );
    await refusedBack(spa, agent, { code_challenge: undefined, code_challenge_method: undefined }, "invalid_request");
    await refusedBack(spa, agent, { code_challenge_method: "plain" }, "invalid_request");
  });

  check("Config OP: the discovery document", async () => {
    const response = await fetch(`${BASE}/.well-known/openid-configuration`);
    assert.match(response.headers.get("content-type"), /^application\/json/);
    assert.equal(metadata.issuer, BASE);
    for (const endpoint of ["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
      "end_session_endpoint", "revocation_endpoint", "introspection_endpoint"]) {
      assert.ok(metadata[endpoint].startsWith(`${BASE}/`), endpoint);
    }
    assert.ok(metadata.response_types_supported.includes("code"));
    assert.ok(metadata.subject_types_supported.includes("public"));
    assert.ok(metadata.scopes_supported.includes("openid"));
    for (const claim of ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email", "name"]) {
      assert.ok(metadata.claims_supported.includes(claim), claim);
    }
    assert.ok(metadata.grant_types_supported.includes("authorization_code"));
    assert.ok(metadata.token_endpoint_auth_methods_supported.includes("client_secret_basic"));
    assert.ok(metadata.response_modes_supported.includes("query"));
    assert.equal(metadata.authorization_response_iss_parameter_supported, true);
    assert.ok(!metadata.id_token_signing_alg_values_supported.includes("none"));
  });

  check("Config OP: the JWKS", async () => {
    const response = await fetch(metadata.jwks_uri);
    assert.match(response.headers.get("content-type"), /^application\/(jwk-set\+)?json/);
    const { keys } = await response.json();
    assert.ok(keys.length >= 1);
    assert.equal(new Set(keys.map((key) => key.kid)).size, keys.length, "kids are unique");
    for (const key of keys) {
      assert.ok(key.kid && key.kty && key.alg, JSON.stringify(key));
      assert.equal(key.use, "sig");
      for (const secret of ["d", "p", "q", "dp", "dq", "qi", "k"]) assert.equal(key[secret], undefined, `no ${secret}`);
      await jose.importJWK(key, key.alg);
    }
  });

  /** A browser signed in through `third`, and its ID token. */
  async function signedIn() {
    const agent = browser();
    const { tokens } = await flow(third, agent);
    return { agent, idToken: tokens.id_token };
  }
  /** Whether the browser is still signed in: `prompt=none` through the first-party app. */
  async function stillSignedIn(agent) {
    const response = await agent.get(request(rp, { prompt: "none" }).url);
    return new URL(response.headers.get("location")).searchParams.get("error") !== "login_required";
  }

  check("oidcc-rp-initiated-logout", async () => {
    const { agent, idToken } = await signedIn();
    const out = await agent.get(third.endSessionUrl({ id_token_hint: idToken, post_logout_redirect_uri: LOGOUT_URI, state: "bye" }));
    assert.equal(out.status, 303);
    assert.equal(out.headers.get("location"), `${LOGOUT_URI}?state=bye`);
    assert.equal(await stillSignedIn(agent), false);
  });

  check("oidcc-rp-initiated-logout-bad-post-logout-redirect-uri", async () => {
    const { agent, idToken } = await signedIn();
    const out = await agent.get(third.endSessionUrl({ id_token_hint: idToken, post_logout_redirect_uri: "https://evil.example.test/", state: "bye" }));
    assertErrorPage(out, "an unregistered post_logout_redirect_uri");
    assert.equal(await stillSignedIn(agent), true);
  });

  check("oidcc-rp-initiated-logout-modified-id-token-hint", async () => {
    const { agent, idToken } = await signedIn();
    const [head, body, signature] = idToken.split(".");
    const flipped = Buffer.from(signature, "base64url");
    flipped[0] ^= 1;
    const out = await agent.get(third.endSessionUrl({
      id_token_hint: `${head}.${body}.${flipped.toString("base64url")}`,
      post_logout_redirect_uri: LOGOUT_URI,
    }));
    assertErrorPage(out, "a forged id_token_hint");
    assert.equal(await stillSignedIn(agent), true);
  });

  check("oidcc-rp-initiated-logout-no-id-token-hint", async () => {
    // Without a hint the person is asked, so that no site signs them out with a bare link.
    const { agent } = await signedIn();
    const url = new URL(metadata.end_session_endpoint);
    url.search = new URLSearchParams({ client_id: third.client_id, post_logout_redirect_uri: LOGOUT_URI, state: "s" });
    const asked = await agent.get(url.href);
    assert.equal(asked.status, 200);
    assert.equal(await stillSignedIn(agent), true, "not signed out before the person confirms");
    const out = await agent.submit(await asked.text());
    assert.equal(out.status, 303);
    assert.equal(out.headers.get("location"), `${LOGOUT_URI}?state=s`);
    assert.equal(await stillSignedIn(agent), false);
  });

  check("oidcc-rp-initiated-logout-no-params", async () => {
    const { agent } = await signedIn();
    const asked = await agent.get(metadata.end_session_endpoint);
    assert.equal(asked.status, 200);
    await agent.submit(await asked.text());
    assert.equal(await stillSignedIn(agent), false);
  });

  check("oidcc-rp-initiated-logout-no-post-logout-redirect-uri", async () => {
    const { agent, idToken } = await signedIn();
    const out = await agent.get(third.endSessionUrl({ id_token_hint: idToken, post_logout_redirect_uri: undefined }));
    assert.equal(out.status, 200, "a page says so");
    assert.equal(await stillSignedIn(agent), false);
  });

  check("oidcc-rp-initiated-logout-no-state", async () => {
    const { agent, idToken } = await signedIn();
    const out = await agent.get(third.endSessionUrl({ id_token_hint: idToken, post_logout_redirect_uri: LOGOUT_URI }));
    assert.equal(out.headers.get("location"), LOGOUT_URI);
  });

  check("oidcc-rp-initiated-logout-only-state", async () => {
    const { agent, idToken } = await signedIn();
    const out = await agent.get(third.endSessionUrl({ id_token_hint: idToken, post_logout_redirect_uri: undefined, state: "s" }));
    assert.equal(out.status, 200);
    assert.equal(out.headers.get("location"), null);
    assert.equal(await stillSignedIn(agent), false);
  });

  check("oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri", async () => {
    const { agent, idToken } = await signedIn();
    const out = await agent.get(third.endSessionUrl({ id_token_hint: idToken, post_logout_redirect_uri: LOGOUT_URI_WITH_QUERY, state: "s" }));
    assert.equal(out.status, 303);
    const back = new URL(out.headers.get("location"));
    const registered = new URL(LOGOUT_URI_WITH_QUERY);
    for (const [key, value] of registered.searchParams) assert.equal(back.searchParams.get(key), value, key);
    assert.equal(back.searchParams.get("state"), "s");
  });

  check("oidcc-codereuse-30seconds", async () => {
    const { tokens, params, pending, at } = await lateCode;
    const wait = at + CODE_REUSE_WAIT * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    await assertCodeReuseRefused(params, pending, tokens);
  });

  let failed = 0;
  for (const { name, run } of checks) {
    try {
      await run();
      console.log(`[${ALG}] PASS ${name}`);
    } catch (error) {
      failed += 1;
      console.log(`[${ALG}] FAIL ${name}`);
      console.log(error);
    }
  }
  console.log(`[${ALG}] conformance: ${checks.length - failed} of ${checks.length} modules passed`);
  if (failed) process.exit(1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
