// Runs the client against a real Custodian server: CUSTODIAN_URL is its
// address, CUSTODIAN_TOKEN an administrator's access token. .ci/typescript
// starts one (with a tight API rate limit, so that retries happen) and
// runs this.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  apiVersion,
  createCustodianClient,
  customers,
  ifMatch,
  ProblemError,
  retryAfterMs,
  unwrap,
  type Customer,
} from "../src/index.js";

const baseUrl = process.env.CUSTODIAN_URL;
const token = process.env.CUSTODIAN_TOKEN;
if (!baseUrl || !token) {
  throw new Error("set CUSTODIAN_URL and CUSTODIAN_TOKEN to a running server and an administrator's token");
}

const client = createCustodianClient({ baseUrl, token });

async function refusal(p: Promise<unknown>): Promise<ProblemError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ProblemError) {
      return e;
    }
    throw e;
  }
  assert.fail("the request was not refused");
}

test("the server serves the document the client was generated from", async () => {
  const doc = (await unwrap(client.GET("/api/openapi.json"))) as { info: { version: string } };
  assert.equal(doc.info.version, apiVersion);
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  assert.equal(pkg.version, apiVersion, "the package version follows info.version");
  assert.deepEqual(await unwrap(client.GET("/readyz")), { status: "ready" });
});

test("customers: create, read, patch under If-Match, delete", async () => {
  const created = await unwrap(
    client.POST("/api/customers/", {
      body: { name: "Ada Lovelace", email: "ada@example.com", phone: "+44 20 7946 0958", address: { country: "gb" }, tags: ["vip"] },
    }),
  );
  assert.equal(created.phone, "+442079460958");
  assert.equal(created.address.country, "GB");
  assert.equal(created.version, 1);

  const { data, response } = await client.GET("/api/customers/{id}/", {
    params: { path: { id: created.id }, header: { "Custodian-Purpose": "support call" } },
  });
  assert.equal(response.headers.get("ETag"), ifMatch(created));
  assert.equal(data?.name, "Ada Lovelace");

  const patched = await unwrap(
    client.PATCH("/api/customers/{id}/", {
      params: { path: { id: created.id }, header: { "If-Match": ifMatch(created) } },
      body: { notes: "Prefers email", email: null },
    }),
  );
  assert.equal(patched.version, 2);
  assert.equal(patched.email, "");
  assert.equal(patched.notes, "Prefers email");

  // A change based on a stale version is refused, and changes nothing.
  const stale = await refusal(
    unwrap(
      client.PATCH("/api/customers/{id}/", {
        params: { path: { id: created.id }, header: { "If-Match": ifMatch(created) } },
        body: { notes: "lost update" },
      }),
    ),
  );
  assert.equal(stale.status, 412);
  assert.equal(stale.code, "precondition");
  assert.equal((await unwrap(client.GET("/api/customers/{id}/", { params: { path: { id: created.id } } }))).notes, "Prefers email");

  const { response: deleted } = await client.DELETE("/api/customers/{id}/", { params: { path: { id: created.id } } });
  assert.equal(deleted.status, 204);
  const gone = await refusal(unwrap(client.GET("/api/customers/{id}/", { params: { path: { id: created.id } } })));
  assert.equal(gone.status, 404);
  assert.equal(gone.code, "not_found");
});

test("saved views: save, list, rename under If-Match, delete", async () => {
  const name = `Leads ${Date.now()}`;
  const view = await unwrap(
    client.POST("/api/views/", { body: { name, state: { search: "ada@example.com", status: "lead", page_size: 50 } } }),
  );
  assert.equal(view.state.search, "ada@example.com");
  assert.equal(view.state.sort, "-created_at");
  assert.equal(view.shared, false);
  const listed = await unwrap(client.GET("/api/views/"));
  assert.ok(listed.items.some((v) => v.id === view.id));
  const taken = await refusal(unwrap(client.POST("/api/views/", { body: { name: name.toUpperCase() } })));
  assert.equal(taken.status, 409);
  assert.ok(taken.field("name"));
  const renamed = await unwrap(
    client.PATCH("/api/views/{id}/", { params: { path: { id: view.id }, header: { "If-Match": ifMatch(view) } }, body: { name: `${name}, renamed` } }),
  );
  assert.equal(renamed.version, 2);
  const { response } = await client.DELETE("/api/views/{id}/", { params: { path: { id: view.id } } });
  assert.equal(response.status, 204);
});

test("refusals are ProblemErrors with field errors", async () => {
  const e = await refusal(unwrap(client.POST("/api/customers/", { body: { name: "<b>Eve</b>", email: "a@b" } })));
  assert.equal(e.status, 400);
  assert.equal(e.code, "invalid");
  assert.ok(e.field("name"));
  assert.ok(e.field("email"));
  assert.match(e.message, /^custodian: 400 invalid: .*email: /);
  assert.ok(e.problem.request_id);

  const anonymous = createCustodianClient({ baseUrl });
  const denied = await refusal(unwrap(anonymous.GET("/api/customers/")));
  assert.equal(denied.status, 401);
  assert.equal(denied.code, "unauthorized");
});

test("every page of a list, through the iterator", async () => {
  const tag = `page-${Date.now()}`;
  for (const name of ["Carol Danvers", "Alice Smith", "Bob Jones"]) {
    await unwrap(client.POST("/api/customers/", { body: { name, tags: [tag] } }));
  }
  const names: string[] = [];
  for await (const c of customers(client, { tag, sort: "name", limit: 2 })) {
    names.push(c.name);
  }
  assert.deepEqual(names, ["Alice Smith", "Bob Jones", "Carol Danvers"]);
});

test("requests over the rate limit are retried after Retry-After", async () => {
  // The server limits the API to 10 requests a second (burst 10): most of
  // these are refused with 429 at first, and retried until they pass.
  const statuses: number[] = [];
  const counting = createCustodianClient({
    baseUrl,
    token,
    fetch: async (request) => {
      const response = await fetch(request);
      statuses.push(response.status);
      return response;
    },
  });
  const all: Customer[][] = await Promise.all(
    Array.from({ length: 25 }, async () => (await unwrap(counting.GET("/api/customers/", { params: { query: { limit: 1 } } }))).items),
  );
  assert.equal(all.length, 25);
  assert.ok(statuses.includes(429), `no request was refused: ${statuses.join(" ")}`);
  assert.equal(statuses.filter((s) => s === 200).length, 25);

  // Without retries the refusal comes back, with the wait it asks for.
  const once = createCustodianClient({ baseUrl, token, retry: false });
  const refused = await Promise.allSettled(Array.from({ length: 25 }, () => unwrap(once.GET("/api/customers/"))));
  const tooMany = refused.find((r) => r.status === "rejected");
  assert.ok(tooMany && tooMany.reason instanceof ProblemError);
  assert.equal(tooMany.reason.status, 429);
  assert.equal(tooMany.reason.code, "too_many");
  assert.ok((tooMany.reason.retryAfterMs ?? 0) >= 1000);
});

test("Retry-After is read as seconds or as a date", () => {
  const now = Date.parse("Wed, 06 May 2026 07:08:09 GMT");
  assert.equal(retryAfterMs("3", now), 3000);
  assert.equal(retryAfterMs("Wed, 06 May 2026 07:08:39 GMT", now), 30_000);
  assert.equal(retryAfterMs("soon", now), undefined);
  assert.equal(retryAfterMs(null, now), undefined);
});
