// The page's only way to the server: the public JSON API under /api/v1, with the steward's key
// from sessionStorage (kept for this browser tab's session only, never in a URL or a cookie).

const KEY = 'mpi.key';

export function key() {
  return sessionStorage.getItem(KEY);
}

export function setKey(value) {
  sessionStorage.setItem(KEY, value);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
}

/** An error answer of the API: HTTP status plus its `{code, message, field}` body. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `the server answered ${status}`);
    this.status = status;
    this.code = (body && body.code) || `http_${status}`;
    this.field = (body && body.field) || null;
    this.detail = (body && body.detail) || null;
  }
}

/** Called on a 401: the key is gone or was revoked. Set by app.js. */
let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

/**
 * `method path` with an optional JSON body; resolves to the parsed JSON answer, or rejects with
 * an ApiError (status 0 when the server could not be reached).
 */
export async function call(method, path, body, { keyOverride } = {}) {
  const headers = { Accept: 'application/json' };
  const secret = keyOverride || key();
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch {
    throw new ApiError(0, { code: 'network', message: 'The server could not be reached. Check that mpi serve is running, then try again.' });
  }
  const text = await response.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = { code: `http_${response.status}`, message: `the server answered ${response.status} with a body that is not JSON` };
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, json);
    if (response.status === 401 && !keyOverride) onUnauthorized(error);
    throw error;
  }
  return json;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body === undefined ? {} : body);

/** A query string from an object, leaving out empty values. Ids and filters only, never names. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') q.set(name, String(value));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
