// A scripted browser for protocol tests: follows redirects within the issuer, keeps cookies, and
// submits the real login and consent forms the server renders (hidden fields, CSRF token included).
/** Cookies as a browser keeps them for one site: set by responses, sent with requests, deleted when expired. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Adds the jar's cookies to `headers` (a Cookie header), when there are any. */
  addTo(headers: Headers): void {
    if (this.cookies.size) headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
  }

  /** Keeps the cookies a response sets, and forgets those it expires. */
  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const index = pair!.indexOf("=");
      const name = pair!.slice(0, index).trim();
      const value = pair!.slice(index + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

export class UserAgent {
  private readonly cookies = new CookieJar();

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    this.cookies.addTo(headers);
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    this.cookies.take(response);
    return response;
  }

  /** Follows redirects until one leaves `origin` (returned as the final Location) or a page is returned. */
  async follow(url: string, origin: string, init: RequestInit = {}): Promise<{ page?: { url: string; status: number; html: string; headers: Headers }; redirect?: string }> {
    let response = await this.request(url, init);
    let current = url;
    for (let hops = 0; hops < 20; hops++) {
      const location = response.headers.get("location");
      if (!location || response.status < 300 || response.status >= 400) {
        return { page: { url: current, status: response.status, html: await response.text(), headers: response.headers } };
      }
      const next = new URL(location, current).href;
      if (!next.startsWith(origin)) return { redirect: next };
      current = next;
      response = await this.request(next);
    }
    throw new Error("too many redirects");
  }

  /** Submits the page's first form, with its hidden inputs plus `fields`. */
  async submit(page: { url: string; html: string }, fields: Record<string, string>, origin: string, formIndex = 0) {
    const forms = [...page.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)];
    const form = forms[formIndex];
    if (!form) throw new Error(`no form on page:\n${page.html}`);
    const action = /action="([^"]*)"/i.exec(form[1]!)?.[1] ?? page.url;
    const body = new URLSearchParams();
    for (const input of form[2]!.matchAll(/<input\b[^>]*>/gi)) {
      const tag = input[0];
      const name = /name="([^"]*)"/i.exec(tag)?.[1];
      const value = /value="([^"]*)"/i.exec(tag)?.[1] ?? "";
      if (name && /type="hidden"/i.test(tag)) body.set(name, decodeEntities(value));
    }
    for (const [k, v] of Object.entries(fields)) body.set(k, v);
    return this.follow(new URL(decodeEntities(action), page.url).href, origin, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin },
      body,
    });
  }
}

function decodeEntities(value: string): string {
  return value
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCharCode(parseInt(n, 16)))
    .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}
