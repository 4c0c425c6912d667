// The console's only door to cofferd: /console/api/*. The session cookie is HttpOnly (the page
// never sees it); the CSRF token is kept in this module's memory only — never in storage, a URL
// or a log — and is lost on reload, when GET /console/api/session gives it again.

import { sign } from './sigv4';

export interface Session {
  csrfToken: string;
  principal: string;
  accountId: string;
  region: string;
  expiresAt: number | string;
}

let session: Session | null = null;
// The requests of the page on screen; leaving the page cancels those still running, so a page
// left early neither keeps cofferd busy nor acts on answers meant for it.
let page = new AbortController();

/** Cancels the requests of the page being left (the router calls it on every page change). */
export function leavePage(): void {
  page.abort();
  page = new AbortController();
}
let onSignedOut: (() => void) | null = null;

export function currentSession(): Session | null {
  return session;
}

/** Called when the server answers 401: the session is gone, back to sign-in. */
export function setSignedOutHandler(f: () => void): void {
  onSignedOut = f;
}

/** An error the server gave (`__type`, `message`), or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status: number,
    readonly region?: string,
  ) {
    super(message);
  }
}

// The server's region, from GET /console/api/session's 401 (public: it is in every ARN), so that
// the sign-in form signs for the right one.
let regionHint: string | undefined;

export function serverRegion(): string | undefined {
  return regionHint;
}

async function readError(res: Response): Promise<ApiError> {
  let type = `HTTP ${res.status}`;
  let message = res.statusText || 'The request failed.';
  let region: string | undefined;
  try {
    const body = await res.json();
    if (body && typeof body === 'object') {
      if (typeof body.__type === 'string') type = body.__type.replace(/^.*#/, '');
      if (typeof body.message === 'string') message = body.message;
      else if (typeof body.Message === 'string') message = body.Message;
      if (typeof body.region === 'string' && /^[a-z0-9-]{1,32}$/.test(body.region)) region = body.region;
    }
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(type, message, res.status, region);
}

async function call(path: string, init: RequestInit): Promise<Response> {
  let res: Response;
  const signal = page.signal;
  if (signal.aborted) throw new ApiError('Cancelled', 'The page was left before this request was sent.', 0);
  try {
    res = await fetch(path, { ...init, credentials: 'same-origin', cache: 'no-store', redirect: 'error', signal });
  } catch {
    if (signal.aborted) throw new ApiError('Cancelled', 'The page was left before cofferd answered.', 0);
    throw new ApiError('NetworkError', 'cofferd could not be reached.', 0);
  }
  if (signal.aborted) throw new ApiError('Cancelled', 'The page was left before cofferd answered.', 0);
  if (res.status === 401 && path !== '/console/api/session') {
    session = null;
    onSignedOut?.();
  }
  if (!res.ok) throw await readError(res);
  return res;
}

function csrfHeaders(): Record<string, string> {
  if (!session) throw new ApiError('NotSignedIn', 'You are not signed in.', 401);
  return { 'X-Coffer-Csrf': session.csrfToken };
}

/** Signs `POST /console/api/session` with the credential and opens a session. */
export async function signIn(accessKeyId: string, secretAccessKey: string, region: string): Promise<Session> {
  const body = '{}';
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const signed = await sign(
    {
      method: 'POST',
      host: location.host,
      path: '/console/api/session',
      headers,
      body,
      region,
      service: 'kms',
      accessKeyId,
      now: new Date(),
    },
    secretAccessKey,
  );
  const res = await call('/console/api/session', { method: 'POST', headers: { ...headers, ...signed }, body });
  session = (await res.json()) as Session;
  return session;
}

/** The session of a still valid cookie (after a reload), or null. */
export async function resume(): Promise<Session | null> {
  try {
    const res = await call('/console/api/session', { method: 'GET' });
    session = (await res.json()) as Session;
    return session;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      regionHint = e.region ?? regionHint;
      return null;
    }
    throw e;
  }
}

export async function signOut(): Promise<void> {
  const headers = session ? csrfHeaders() : {};
  session = null;
  await call('/console/api/session', { method: 'DELETE', headers }).catch(() => undefined);
}

/** One AWS KMS JSON 1.1 call through the console's session. */
export async function kms<T = any>(operation: string, request: object = {}): Promise<T> {
  const res = await call('/console/api/kms', {
    method: 'POST',
    headers: {
      'X-Amz-Target': `TrentService.${operation}`,
      'Content-Type': 'application/x-amz-json-1.1',
      ...csrfHeaders(),
    },
    body: JSON.stringify(request),
  });
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}

export interface AuditEvent {
  eventId: string;
  eventTime: string | number;
  eventName: string;
  principal: string;
  keyArn?: string | null;
  outcome: 'allowed' | 'denied' | 'error' | string;
  errorCode?: string | null;
  requestId?: string;
  sourceIPAddress?: string;
  verification: 'verified' | 'pending' | 'failed' | string;
  record: unknown;
}

export async function audit(query: Record<string, string>): Promise<{ events: AuditEvent[]; nextCursor?: string | null; scanCapped?: boolean }> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== '') q.set(k, v);
  const res = await call(`/console/api/audit?${q}`, { method: 'GET', headers: csrfHeaders() });
  return res.json();
}

export interface Metrics {
  now: number;
  operations: { operation: string; requests: number; errors: number; throttles: number }[];
  history: { t: number; requests: number; errors: number; throttles: number }[];
}

export async function metrics(): Promise<Metrics> {
  const res = await call('/console/api/metrics', { method: 'GET', headers: csrfHeaders() });
  return res.json();
}

/** The error in plain words, for people: what happened and what to do. The server's own message follows. */
export function explain(e: unknown): { title: string; detail: string } {
  if (!(e instanceof ApiError)) return { title: 'Something went wrong in the console.', detail: String(e) };
  const plain: Record<string, string> = {
    AccessDeniedException: 'You are not allowed to do this. Your credential’s policies, or the key policy, do not grant it.',
    NotFoundException: 'That key, alias or grant does not exist (or no longer exists).',
    KMSInvalidStateException: 'The key is not in a state that allows this (for example it is disabled or pending deletion).',
    DisabledException: 'The key is disabled. Enable it first.',
    MalformedPolicyDocumentException: 'The policy was refused: it is not a valid key policy.',
    AlreadyExistsException: 'That name is already in use.',
    LimitExceededException: 'A limit was reached (too many keys, aliases, tags or grants).',
    ValidationException: 'A value you entered is not accepted.',
    InvalidAliasNameException: 'That alias name is not valid. It must start with alias/ and must not start with alias/aws/.',
    TagException: 'A tag was refused: keys are 1–128 characters, values at most 256, and aws: is reserved.',
    UnsupportedOperationException: 'coffer does not support this for this key.',
    ThrottlingException: 'Too many requests right now. Wait a moment and try again.',
    KMSInternalException: 'cofferd had an internal error. The operator can find the cause in its log.',
    DependencyTimeoutException: 'cofferd timed out talking to its storage. Try again.',
    InvalidArnException: 'That is not a valid key ARN.',
    InvalidMarkerException: 'The page marker is no longer valid. Start again from the first page.',
    InvalidGrantIdException: 'That grant id is not valid.',
    NetworkError: 'cofferd could not be reached. Check that it is running.',
    InvalidSignatureException: 'The secret access key does not match the access key id.',
    IncompleteSignatureException: 'The sign-in request was not signed correctly.',
    UnrecognizedClientException: 'That access key id is not known to cofferd (or it was revoked).',
    InvalidClientTokenId: 'That access key id is not known to cofferd (or it was revoked).',
    SignatureDoesNotMatch: 'The secret access key does not match the access key id.',
  };
  const title = plain[e.type] ?? (e.status === 401 ? 'Your session has ended. Sign in again.' : `The request failed (${e.type}).`);
  return { title, detail: `${e.type}: ${e.message}` };
}
