// A service behind gatehouse, checked with libraries we did not write: openid-client (npm)
// obtains tokens by the client credentials grant and, for a person, by the code flow with
// RFC 8707 `resource`; jose verifies them by the JWKS with the right audience; the example
// orders service (examples/orders, gatehouse-verifier) accepts them and refuses a token for
// another API, an expired one, a forged one and, with introspection on, one whose client
// lost its access and one whose session was revoked.
//
//   node resource-server.cjs
//
// Environment: GATEHOUSE_URL, ALG, ORDERS_URL (the example service), ORDERS (its
// identifier), BILLING (another API's), WORKER_ID + WORKER_SECRET (access to orders:read
// and orders:write), READER_ID + READER_SECRET (orders:read only), BILLER_ID +
// BILLER_SECRET (billing only), KEY_FILE (gatehouse's signing key, to make an expired
// token), REVOKE_COMMAND (a shell command taking the reader's access away), and a person's
// part: SHOP_ID (a public app given orders:read), REDIRECT_URI, EMAIL, PASSWORD.
"use strict";

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const { execSync } = require("node:child_process");
const { Issuer, generators, custom } = require("openid-client");
const { Browser } = require("./browser.cjs");
const { jwtVerify, createRemoteJWKSet, SignJWT, decodeProtectedHeader } = require("jose");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const BASE = env("GATEHOUSE_URL");
const ALG = env("ALG");
const ORDERS_URL = env("ORDERS_URL");
const ORDERS = env("ORDERS");
const BILLING = env("BILLING");

custom.setHttpOptionsDefaults({ timeout: 10000 });

async function call(method, path, token, body) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${ORDERS_URL}${path}`, {
    method,
    headers,
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, challenge: response.headers.get("www-authenticate"), body: await response.text() };
}

// gatehouse's key file. An Ed25519 one is PKCS #8 v2 (RFC 8410, with the public key),
// which Node's OpenSSL may not read: its 32-byte seed is then rewrapped as PKCS #8 v1.
function signingKey(pem) {
  try {
    return crypto.createPrivateKey(pem);
  } catch (error) {
    if (ALG !== "EdDSA") throw error;
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
    const seed = der.subarray(16, 48);
    const v1 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
    return crypto.createPrivateKey({ key: v1, format: "der", type: "pkcs8" });
  }
}

async function main() {
  const issuer = await Issuer.discover(BASE);
  assert.ok(issuer.metadata.grant_types_supported.includes("client_credentials"));
  const jwks = createRemoteJWKSet(new URL(issuer.metadata.jwks_uri));
  const client = (id, secret) => new issuer.Client({ client_id: env(id), client_secret: env(secret) });

  // openid-client's client credentials grant (client_secret_basic), naming the API.
  const worker = client("WORKER_ID", "WORKER_SECRET");
  const tokens = await worker.grant({ grant_type: "client_credentials", resource: ORDERS });
  assert.equal(tokens.token_type.toLowerCase(), "bearer");
  assert.equal(tokens.refresh_token, undefined);
  assert.deepEqual(tokens.scope.split(" ").sort(), ["orders:read", "orders:write"]);
  const token = tokens.access_token;

  // jose verifies it by the JWKS, for the Orders API and for no other.
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: BASE,
    audience: ORDERS,
    typ: "at+jwt",
    algorithms: [ALG],
  });
  assert.equal(payload.sub, env("WORKER_ID"));
  assert.equal(payload.client_id, env("WORKER_ID"));
  await assert.rejects(jwtVerify(token, jwks, { issuer: BASE, audience: BILLING }), /aud/);
  console.log(`client credentials: token for ${payload.aud}, verified by jose (${protectedHeader.alg})`);

  // The example service: read and write with the worker's token.
  let answer = await call("POST", "/orders", token, { item: "teapot", quantity: 2 });
  assert.equal(answer.status, 201, answer.body);
  answer = await call("GET", "/orders", token);
  assert.equal(answer.status, 200, answer.body);
  const listed = JSON.parse(answer.body);
  assert.equal(listed.subject, env("WORKER_ID"));
  assert.deepEqual(listed.orders, [{ item: "teapot", quantity: 2 }]);

  // A narrower client: reading is fine, writing is 403 insufficient_scope.
  const reader = client("READER_ID", "READER_SECRET");
  const readerToken = (await reader.grant({ grant_type: "client_credentials" })).access_token;
  assert.equal((await call("GET", "/orders", readerToken)).status, 200);
  answer = await call("POST", "/orders", readerToken, { item: "cups", quantity: 6 });
  assert.equal(answer.status, 403, answer.body);
  assert.match(answer.challenge, /error="insufficient_scope"/);

  // Refused with 401 and an RFC 6750 challenge: no token, a token for the Billing API, an
  // expired one and a forged one (both otherwise as gatehouse writes them).
  answer = await call("GET", "/orders");
  assert.equal(answer.status, 401);
  assert.match(answer.challenge, /^Bearer realm=/);
  const biller = client("BILLER_ID", "BILLER_SECRET");
  const billing = (await biller.grant({ grant_type: "client_credentials", resource: BILLING })).access_token;
  answer = await call("GET", "/orders", billing);
  assert.equal(answer.status, 401, "a token for another API");
  assert.match(answer.challenge, /error="invalid_token"/);

  const { kid } = decodeProtectedHeader(token);
  const now = Math.floor(Date.now() / 1000);
  const made = (key, iat, exp) =>
    new SignJWT({ scope: "orders:read", client_id: env("WORKER_ID") })
      .setProtectedHeader({ alg: ALG, kid, typ: "at+jwt" })
      .setIssuer(BASE)
      .setAudience(ORDERS)
      .setSubject(env("WORKER_ID"))
      .setJti(crypto.randomUUID())
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .sign(key);
  const realKey = signingKey(fs.readFileSync(env("KEY_FILE"), "utf8"));
  // The same making with a live expiry passes: what refuses the next one is its expiry.
  assert.equal((await call("GET", "/orders", await made(realKey, now - 60, now + 600))).status, 200);
  answer = await call("GET", "/orders", await made(realKey, now - 3600, now - 1800));
  assert.equal(answer.status, 401, "an expired token");
  const otherKey =
    ALG === "EdDSA"
      ? crypto.generateKeyPairSync("ed25519").privateKey
      : crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  answer = await call("GET", "/orders", await made(otherKey, now - 60, now + 600));
  assert.equal(answer.status, 401, "a forged token");

  // With introspection on, a token whose client lost its access is refused within the
  // answer cache's 5 seconds, long before it expires.
  assert.equal((await call("GET", "/orders", readerToken)).status, 200);
  execSync(env("REVOKE_COMMAND"), { stdio: "inherit" });
  let refusedAfter = null;
  const started = Date.now();
  while (Date.now() - started < 10000) {
    if ((await call("GET", "/orders", readerToken)).status === 401) {
      refusedAfter = Date.now() - started;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.ok(refusedAfter !== null, "a token whose client lost its access stays accepted");
  assert.ok(refusedAfter <= 6000, `refused after ${refusedAfter} ms`);
  console.log(`resource server: the example accepted good tokens and refused the rest (revocation seen after ${refusedAfter} ms)`);

  // A person signs in through an app's code flow (PKCE), asking for the Orders API.
  const shop = new issuer.Client({
    client_id: env("SHOP_ID"),
    token_endpoint_auth_method: "none",
    id_token_signed_response_alg: ALG,
  });
  const code_verifier = generators.codeVerifier();
  const nonce = generators.nonce();
  const state = generators.state();
  const url = shop.authorizationUrl({
    scope: "openid orders:read",
    resource: ORDERS,
    redirect_uri: env("REDIRECT_URI"),
    code_challenge: generators.codeChallenge(code_verifier),
    code_challenge_method: "S256",
    nonce,
    state,
  });
  const browser = new Browser(BASE, env("EMAIL"), env("PASSWORD"));
  const { location } = await browser.authorize(url);
  const person = await shop.callback(env("REDIRECT_URI"), shop.callbackParams(location), {
    code_verifier,
    nonce,
    state,
  });
  const personal = await jwtVerify(person.access_token, jwks, { issuer: BASE, audience: ORDERS, typ: "at+jwt" });
  assert.equal(personal.payload.sub, person.claims().sub, "the token speaks for the person who signed in");
  assert.equal(personal.payload.scope, "orders:read");
  answer = await call("GET", "/orders", person.access_token);
  assert.equal(answer.status, 200, answer.body);
  assert.equal(JSON.parse(answer.body).subject, person.claims().sub);
  // Revoking the session: the example, asking gatehouse, refuses its token within 5 s.
  await shop.revoke(person.refresh_token, "refresh_token");
  let revokedAfter = null;
  const revokedAt = Date.now();
  while (Date.now() - revokedAt < 10000) {
    if ((await call("GET", "/orders", person.access_token)).status === 401) {
      revokedAfter = Date.now() - revokedAt;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.ok(revokedAfter !== null && revokedAfter <= 6000, `a revoked session's token: ${revokedAfter}`);
  console.log(`code flow with resource: the person's token for ${personal.payload.aud} accepted, refused ${revokedAfter} ms after revocation`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
