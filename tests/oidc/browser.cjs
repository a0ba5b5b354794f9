// The person's part of an OpenID Connect flow, played with plain HTTP against gatehouse's
// hosted pages: a cookie jar, the pages' hidden fields (CSRF included), and the redirects
// read one by one. Shared by relying-party.cjs and conformance.cjs.
"use strict";

const assert = require("node:assert/strict");

/** Undoes the HTML escaping of an attribute value. */
function unescape(text) {
  const named = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, entity) => {
    if (entity[0] !== "#") return named[entity.toLowerCase()] ?? whole;
    const code = entity[1] === "x" || entity[1] === "X"
      ? parseInt(entity.slice(2), 16)
      : parseInt(entity.slice(1), 10);
    return String.fromCodePoint(code);
  });
}

/** The hidden fields and the action of a page's (first) form. */
function formOf(page) {
  const action = page.match(/<form[^>]*action="([^"]*)"/);
  assert.ok(action, `the page has a form: ${page.slice(0, 400)}`);
  const fields = {};
  for (const input of page.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)"/g)) {
    fields[unescape(input[1])] = unescape(input[2]);
  }
  return { action: unescape(action[1]), fields };
}

class Browser {
  /** `base`: the server's URL; `email`, `password`: the account the person signs in with. */
  constructor(base, email, password) {
    this.base = base;
    this.email = email;
    this.password = password;
    this.cookies = new Map();
  }

  async get(url, init = {}) {
    const response = await fetch(new URL(url, this.base), {
      ...init,
      redirect: "manual",
      headers: { ...(init.headers || {}), cookie: this.cookieHeader() },
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const [name, ...rest] = pair.split("=");
      const value = rest.join("=");
      if (value === "" || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  post(url, fields) {
    return this.get(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    });
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  /** Posts the form of `page` (its hidden fields, and `extra`). */
  submit(page, extra = {}) {
    const { action, fields } = formOf(page);
    return this.post(action, { ...fields, ...extra });
  }

  /**
   * Follows an authorization request (a URL, or a response already received), signing in
   * on the hosted page and allowing on the consent page when they come, and returns where
   * the server sends the browser back to the client, with what the person was asked.
   */
  async authorize(start) {
    let response = typeof start === "string" ? await this.get(start) : start;
    const asked = { signIn: 0, consent: 0 };
    for (let hops = 0; hops < 8; hops++) {
      if (response.status === 200) {
        const page = await response.text();
        assert.match(page, /name="decision" value="allow"/, "a page on the way is the consent page");
        asked.consent += 1;
        response = await this.submit(page, { decision: "allow" });
        continue;
      }
      assert.ok(response.status >= 300 && response.status < 400, `a redirect, got ${response.status}: ${await response.text()}`);
      const location = response.headers.get("location");
      if (!location.startsWith("/")) return { location, asked };
      if (location.startsWith("/signin")) {
        const page = await (await this.get(location)).text();
        asked.signIn += 1;
        response = await this.submit(page, { email: this.email, password: this.password });
      } else {
        response = await this.get(location);
      }
    }
    throw new Error("too many redirects");
  }
}

module.exports = { Browser, formOf };
