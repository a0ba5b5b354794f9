// How a frontend uses gatehouse through a client generated from its OpenAPI document
// (`npm run generate` writes gatehouse.d.ts with openapi-typescript; openapi-fetch makes the
// calls). It signs up, logs in through the form-encoded token endpoint, refreshes, reads
// /users/me, and handles errors by their typed `code` (problem+json) or `error` (RFC 6749).
// CI runs it against a live server: GATEHOUSE_URL=http://127.0.0.1:8000 npm run example
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./gatehouse.js";

type Problem = components["schemas"]["ProblemDetails"];
type OAuthError = components["schemas"]["OAuthErrorBody"];
type Tokens = components["schemas"]["TokenResponse"];
type TokenForm = components["schemas"]["TokenRequest"];

const baseUrl = process.env.GATEHOUSE_URL ?? "http://127.0.0.1:8000";
const client = createClient<paths>({ baseUrl });

/** The token endpoint takes a form (RFC 6749), not JSON. */
function form(body: TokenForm): URLSearchParams {
  const fields = Object.entries(body).filter(
    (field): field is [string, string] => typeof field[1] === "string",
  );
  return new URLSearchParams(fields);
}

async function token(body: TokenForm): Promise<Tokens> {
  const { data, error, response } = await client.POST("/api/v1/auth/token", {
    body,
    bodySerializer: form,
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  if (data === undefined) {
    throw new Error(`token endpoint answered ${response.status}: ${JSON.stringify(error)}`);
  }
  return data;
}

/** Sends the current access token with every request, as an app would. */
let accessToken: string | undefined;
const bearer: Middleware = {
  onRequest({ request }) {
    if (accessToken !== undefined) {
      request.headers.set("Authorization", `Bearer ${accessToken}`);
    }
    return request;
  },
};
client.use(bearer);

function expect(condition: boolean, what: string, detail?: unknown): void {
  if (!condition) {
    throw new Error(`${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
  }
  console.log(`ok - ${what}`);
}

/** A problem's `code` is stable: branch on it, show `detail` (and `errors`) to people. */
function describe(problem: Problem): string {
  const fields = problem.errors?.map((error) => `${error.field}: ${error.message}`) ?? [];
  return [problem.code, problem.detail, ...fields].join(" | ");
}

async function main(): Promise<void> {
  const email = `ts-${Date.now()}@example.com`;
  const password = "a typescript passphrase 9";

  const signUp = await client.POST("/api/v1/auth/register", {
    body: { email, password, full_name: "Type Script" },
  });
  expect(signUp.response.status === 201 && signUp.data?.email === email, "signed up", signUp.error);

  const again = await client.POST("/api/v1/auth/register", { body: { email, password } });
  expect(again.error?.code === "email_taken", "a second sign-up is 409 email_taken", again.error);

  const invalid = await client.POST("/api/v1/auth/register", {
    body: { email: `other-${email}`, password: "short" },
  });
  const field = invalid.error?.errors?.[0]?.field;
  expect(invalid.response.status === 422 && field === "password", "a short password is 422 on `password`");
  if (invalid.error !== undefined) {
    console.log(`   shown to the user: ${describe(invalid.error)}`);
  }

  const first = await token({ grant_type: "password", username: email, password });
  expect(first.token_type === "bearer" && first.scope.includes("me"), "logged in", first.scope);
  accessToken = first.access_token;
  // Every grant but client credentials answers with a refresh token.
  const firstRefresh = first.refresh_token;
  if (firstRefresh === undefined) throw new Error("the password grant gave no refresh token");

  const refreshed = await token({ grant_type: "refresh_token", refresh_token: firstRefresh });
  expect(refreshed.refresh_token !== first.refresh_token, "refreshed: the refresh token rotated");
  const secondRefresh = refreshed.refresh_token;
  if (secondRefresh === undefined) throw new Error("the refresh grant gave no refresh token");
  // The newest token is used, as a client does: the first is now no one's to retry.
  const newest = await token({ grant_type: "refresh_token", refresh_token: secondRefresh });
  expect(newest.refresh_token !== secondRefresh, "refreshed again with the newest token");
  accessToken = newest.access_token;

  const me = await client.GET("/api/v1/users/me");
  expect(me.data?.email === email && me.data.role === "user", "read /users/me", me.error);

  // A refresh token is single-use: presenting an old one again, once its successor was
  // used, ends the session (a retry right after a lost answer, its successor unused, would
  // go on instead: auth.refresh_reuse_leeway_secs).
  const replay = await client.POST("/api/v1/auth/token", {
    body: { grant_type: "refresh_token", refresh_token: firstRefresh },
    bodySerializer: form,
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  const oauth: OAuthError | Problem | undefined = replay.error;
  expect(
    oauth !== undefined && "error" in oauth && oauth.error === "invalid_grant",
    "a replayed refresh token is invalid_grant",
    oauth,
  );

  // ... and every token of that session stops working: a 401 with its challenge.
  const after = await client.GET("/api/v1/users/me");
  const challenge = after.response.headers.get("WWW-Authenticate") ?? "";
  expect(
    after.response.status === 401 && after.error?.code === "invalid_token" && challenge.startsWith("Bearer"),
    "the session is over: 401 invalid_token with a Bearer challenge",
    after.error,
  );
}

main().catch((error: unknown) => {
  console.error(`not ok - ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
