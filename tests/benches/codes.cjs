// Authorization codes for the write benchmark (writes.sh): signs in once on the hosted page
// for a first-party public client (no consent page), then asks for COUNT codes with that
// browser session, 8 requests at a time, and prints one code per line.
//
//   node codes.cjs BASE EMAIL PASSWORD CLIENT_ID REDIRECT_URI CODE_CHALLENGE COUNT
"use strict";

const { Browser } = require("../oidc/browser.cjs");

const [base, email, password, clientId, redirectUri, challenge, count] = process.argv.slice(2);

function authorizeUrl() {
  const query = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: "openid",
    state: "bench",
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  return `${base}/oauth2/authorize?${query}`;
}

function codeOf(location) {
  const code = new URL(location).searchParams.get("code");
  if (!code) throw new Error(`no code in ${location}`);
  return code;
}

async function main() {
  const browser = new Browser(base, email, password);
  const codes = [codeOf((await browser.authorize(authorizeUrl())).location)];
  const wanted = Number(count);
  let asked = 1;
  async function worker() {
    while (asked < wanted) {
      asked += 1;
      const response = await browser.get(authorizeUrl());
      codes.push(codeOf(response.headers.get("location")));
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker));
  process.stdout.write(codes.join("\n") + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
