// The JSON API, with the signed-in user's token. A refusal arrives as an RFC 9457 problem document; it becomes
// an ApiError whose message is the problem's detail (or title), which the pages show as it is.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `The service answered ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function apiClient(session) {
  async function call(method, path, body) {
    const headers = { Authorization: `Bearer ${session.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(`/api${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      let problem = null;
      try {
        problem = await response.json();
      } catch {
        problem = null;
      }
      throw new ApiError(response.status, problem);
    }
    return response;
  }
  const tenant = `/tenants/${session.tenantId}`;
  return {
    tenant,
    get: async (path) => (await call("GET", tenant + path)).json(),
    put: async (path, body) => (await call("PUT", tenant + path, body)).json(),
    post: async (path, body) => (await call("POST", tenant + path, body)).json(),
    delete: async (path) => (await call("DELETE", tenant + path)).json(),
    // A download: the response body saved under the name the service gives it.
    download: async (path) => {
      const response = await call("GET", tenant + path);
      const disposition = response.headers.get("content-disposition") || "";
      const name = /filename="([^"]+)"/.exec(disposition)?.[1] || "download";
      const url = URL.createObjectURL(await response.blob());
      const link = Object.assign(document.createElement("a"), { href: url, download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      return name;
    },
  };
}
