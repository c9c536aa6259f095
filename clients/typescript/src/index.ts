// The TypeScript client of the Custodian REST API: openapi-fetch over the
// types openapi-typescript generates from the server's OpenAPI document
// (src/schema.ts), with bearer-token authentication, retries of 429 and
// 503 after Retry-After, problem details as a typed error, If-Match
// helpers and iteration over every page of a list.
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

/** The version of the API document (info.version) the types come from. */
export const apiVersion = "1.3.0";

type Schemas = components["schemas"];
export type Customer = Schemas["Customer"];
export type CustomerInput = Schemas["CustomerInput"];
export type CustomerPatch = Schemas["CustomerPatch"];
export type CustomerPage = Schemas["CustomerPage"];
export type Problem = Schemas["Problem"];
export type FieldError = Schemas["FieldError"];
export type AuditEvent = Schemas["AuditEvent"];
export type Alert = Schemas["Alert"];
export type User = Schemas["User"];

/** A client of one Custodian server: see createCustodianClient. */
export type CustodianClient = Client<paths>;

/**
 * When and how long the client waits and tries a request again. A 429 (a
 * rate limit, or an account waiting after failed sign-ins) is always
 * retried: the server refused it before doing anything. A 503 is retried
 * only when repeating the request is safe: GET, HEAD, PUT, DELETE, or a
 * request with If-Match. The client waits as Retry-After says, else
 * `backoffMs` doubled at each retry (with jitter), and gives up after
 * `attempts` tries or when the server asks for more than `maxWaitMs`.
 */
export interface RetryOptions {
  attempts: number;
  backoffMs: number;
  maxWaitMs: number;
}

export const defaultRetry: RetryOptions = { attempts: 4, backoffMs: 500, maxWaitMs: 60_000 };

export interface CustodianClientOptions {
  /** The server, such as https://crm.example.com. */
  baseUrl: string;
  /** A personal access token (cst_pat_...), sent as a bearer token. */
  token?: string;
  /** The retry policy; false sends every request once. */
  retry?: RetryOptions | false;
  /** The fetch to send requests with (globalThis.fetch by default). */
  fetch?: (request: Request) => Promise<Response>;
}

/**
 * Returns a client of the server: `client.GET("/api/customers/{id}/", {
 * params: { path: { id } } })` and so on for every operation, typed from
 * the document. Pass an AbortSignal as `signal` to cancel a request,
 * retries included.
 */
export function createCustodianClient(options: CustodianClientOptions): CustodianClient {
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const retry = options.retry === false ? { ...defaultRetry, attempts: 1 } : (options.retry ?? defaultRetry);
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    fetch: (request: Request) => retrying(send, retry, request),
  });
  const token = options.token;
  if (token) {
    client.use({
      onRequest({ request }) {
        request.headers.set("Authorization", `Bearer ${token}`);
        return request;
      },
    });
  }
  return client;
}

/** Sends request, again after a wait while the policy allows. */
async function retrying(send: (request: Request) => Promise<Response>, retry: RetryOptions, request: Request): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const response = await send(request.clone());
    const wait = waitBeforeRetry(retry, attempt, request, response);
    if (wait === undefined) {
      return response;
    }
    await response.body?.cancel();
    await sleep(wait, request.signal);
  }
}

/** How long to wait before trying again, or undefined not to. */
function waitBeforeRetry(retry: RetryOptions, attempt: number, request: Request, response: Response): number | undefined {
  if (attempt >= retry.attempts) {
    return undefined;
  }
  const repeatable = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].includes(request.method) || request.headers.has("If-Match");
  if (response.status !== 429 && !(response.status === 503 && repeatable)) {
    return undefined;
  }
  const after = retryAfterMs(response.headers.get("Retry-After"));
  if (after !== undefined) {
    return after <= retry.maxWaitMs ? after : undefined;
  }
  const backoff = Math.min(retry.backoffMs * 2 ** (attempt - 1), retry.maxWaitMs);
  return backoff / 2 + Math.random() * (backoff / 2);
}

/** Reads Retry-After (seconds, or an HTTP date) as milliseconds. */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === "") {
    return undefined;
  }
  if (/^\d+$/.test(value.trim())) {
    return Number(value.trim()) * 1000;
  }
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(date - now, 0);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", abort, { once: true });
  });
}

/**
 * A refusal from the server: its problem details (RFC 9457), with the
 * stable `code` to branch on and the field errors.
 */
export class ProblemError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;
  /** The wait Retry-After asked for, in milliseconds. */
  readonly retryAfterMs: number | undefined;

  constructor(response: Response, body: unknown) {
    const problem = isProblem(body)
      ? body
      : { type: "about:blank", title: response.statusText, status: response.status, code: "" };
    const fields = (problem.errors ?? []).map((f) => `${f.field}: ${f.message}`).join("; ");
    super(`custodian: ${response.status} ${problem.code}: ${problem.detail ?? problem.title}${fields ? ` (${fields})` : ""}`);
    this.name = "ProblemError";
    this.status = response.status;
    this.code = problem.code;
    this.problem = problem;
    this.retryAfterMs = retryAfterMs(response.headers.get("Retry-After"));
  }

  /** The message of the field error about field, if there is one. */
  field(field: string): string | undefined {
    return this.problem.errors?.find((f) => f.field === field)?.message;
  }
}

function isProblem(body: unknown): body is Problem {
  return typeof body === "object" && body !== null && typeof (body as Problem).code === "string" && typeof (body as Problem).status === "number";
}

/**
 * Returns the data of an answer, or throws its refusal as a ProblemError:
 * `const c = await unwrap(client.GET(...))`.
 */
export async function unwrap<T>(result: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await result;
  if (!response.ok) {
    throw new ProblemError(response, error);
  }
  return data as T;
}

/** The If-Match of a change based on this version of the customer. */
export function ifMatch(customer: Pick<Customer, "version">): string {
  return `"${customer.version}"`;
}

/** A page of a list: its items and the cursor of the next page (null on the last). */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/**
 * Iterates over every item of a list, page after page: fetchPage gets the
 * page at a cursor (undefined for the first).
 *
 *   for await (const c of allPages((cursor) => unwrap(client.GET("/api/customers/", { params: { query: { cursor } } })))) { ... }
 */
export async function* allPages<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    yield* page.items;
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined);
}

type CustomerQuery = NonNullable<paths["/api/customers/"]["get"]["parameters"]["query"]>;

/** Iterates over every customer the query selects. */
export function customers(client: CustodianClient, query: Omit<CustomerQuery, "cursor"> = {}): AsyncGenerator<Customer> {
  return allPages((cursor) => unwrap(client.GET("/api/customers/", { params: { query: { ...query, cursor } } })));
}
