// The console's door to the JSON API: same-origin fetch with the session cookie, the CSRF token
// on writes, and problem documents turned into errors whose message is the server's `detail`.

let csrf = null;

export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || "error");
    this.status = problem.status;
    this.problem = problem;
  }
}

export async function api(method, path, body, contentType) {
  const headers = {};
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer || typeof body === "string") {
    payload = body;
    headers["content-type"] = contentType || (body.type || "application/octet-stream");
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  if (method !== "GET" && csrf) headers["x-csrf-token"] = csrf;
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    throw new ApiError(typeof data === "object" ? data : { status: response.status, detail: String(data) });
  }
  return data;
}
