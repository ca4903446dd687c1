// How Gatehouse compares header names. A backend does not always read a header under the name it was
// sent: CGI (RFC 3875 §4.1.18), WSGI, Rack and PHP make "X-User" the variable HTTP_X_USER, so "X_User"
// reads the same; PHP then turns "." (and " " and an unclosed "[", which Node's parser refuses) into
// "_" too, so "X.User" is HTTP_X_USER as well; other servers fold other characters. Node's parser lets
// through a header name made of RFC 9110 token characters — letters, digits and ! # $ % & ' * + - . ^
// _ ` | ~ — so a header the gateway sets, strips or relies on is matched under every spelling a backend
// may read as the same: without case, and with every character other than a letter or a digit read as
// "-". ("X~User" is a different header to every backend known; treating it as "X-User" only ever
// drops a client header that had no business looking like one of the gateway's.)

/** Characters a backend may fold into "_" (or "-"): everything but ASCII letters and digits. */
const FOLDED = /[^a-z0-9-]/g;
const NEEDS_FOLDING = /[^a-z0-9-]/;

/** The name as the gateway compares it: lower case, every character other than a letter or a digit turned into "-". */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return NEEDS_FOLDING.test(lower) ? lower.replace(FOLDED, "-") : lower;
}

/**
 * Every header (as headerKey() gives it) that tells a backend about the client, or about the request as
 * a proxy in front received it: its address, scheme, host, port, path and method, its TLS client
 * certificate. Backends and their frameworks believe these from whoever sent them, so a client's copy
 * never passes; the gateway writes X-Forwarded-For/-Proto/-Host, Forwarded and X-Real-IP itself
 * (gateway/forward/forwarded.ts) and the authorization server rewrites what it reads. Together with
 * FORWARDING_HEADER_PREFIXES: use isForwardingHeader().
 */
export const FORWARDING_HEADERS: readonly string[] = [
  // The client's address.
  "Forwarded", // RFC 7239
  "X-Forwarded-For", // de facto; every framework behind a proxy
  "X-Forwarded", // request-ip (Node), PHP snippets (HTTP_X_FORWARDED)
  "Forwarded-For", // request-ip, PHP snippets (HTTP_FORWARDED_FOR)
  "X-Real-IP", // nginx realip, Echo, Gin, chi, Tornado
  "X-Client-IP", // Apache mod_remoteip setups, request-ip
  "Client-IP", // Rails ActionDispatch::RemoteIp, PHP (HTTP_CLIENT_IP: CodeIgniter, WordPress plugins)
  "True-Client-IP", // Akamai, Cloudflare Enterprise; chi RealIP
  "CF-Connecting-IP", // Cloudflare
  "CF-Connecting-IPv6", // Cloudflare (pseudo IPv4)
  "CF-Pseudo-IPv4", // Cloudflare; request-ip
  "Fastly-Client-IP", // Fastly
  "X-Cluster-Client-IP", // Rackspace, Riverbed/Zeus load balancers; request-ip, PHP snippets
  "X-ProxyUser-Ip", // Google proxies; PHP snippets
  "X-Original-Forwarded-For", // ingress-nginx (the client's X-Forwarded-For, kept)
  "X-Original-For", // some ingress setups
  "X-Appengine-User-IP", // Google App Engine; request-ip
  "X-Appengine-Remote-Addr", // Google App Engine; Gin's TrustedPlatform
  "Fly-Client-IP", // Fly.io; Gin's TrustedPlatform
  "X-Azure-ClientIP", // Azure Front Door
  "X-Azure-SocketIP", // Azure Front Door
  "CloudFront-Viewer-Address", // Amazon CloudFront
  "X-Originating-IP", // Microsoft
  "X-Remote-IP", // assorted proxies
  "X-Remote-Addr", // assorted proxies
  "Remote-Addr", // assorted proxies (CGI's REMOTE_ADDR as a header)
  "WL-Proxy-Client-IP", // Oracle WebLogic plug-in
  "Proxy-Client-IP", // Apache / WebLogic plug-in
  "Cdn-Src-Ip", // several CDNs
  // Its scheme and TLS.
  "X-Forwarded-Proto", // de facto
  "X-Forwarded-Protocol", // Microsoft; Rack
  "X-Forwarded-Scheme", // nginx setups; Rack
  "X-Forwarded-Ssl", // Rack, Spring, Symfony ("on")
  "X-Url-Scheme", // Rack, Werkzeug
  "X-Scheme", // Tornado, Werkzeug, nginx setups
  "Front-End-Https", // Microsoft; Rack
  "X-ARR-SSL", // Azure App Service / IIS ARR
  "CF-Visitor", // Cloudflare ({"scheme":"https"})
  "CloudFront-Forwarded-Proto", // Amazon CloudFront
  // Its host, port and path prefix.
  "X-Forwarded-Host", // de facto
  "X-Forwarded-Server", // Apache mod_proxy
  "X-Forwarded-Port", // AWS ELB, Spring, Symfony, Rack
  "X-Forwarded-Prefix", // Spring, Symfony, Traefik
  "X-Forwarded-By", // Tomcat RemoteIpValve
  "X-Original-Host", // IIS ARR, ingress setups
  "X-Host", // assorted
  "X-HTTP-Host-Override", // assorted
  // The request as a proxy received it: path and method (a backend that believes them runs another
  // request than the gateway checked).
  "X-Original-URL", // IIS URL Rewrite, Symfony (IIS support), Zend
  "X-Rewrite-URL", // IIS ISAPI_Rewrite, Symfony, Zend
  "X-Original-URI", // nginx auth_request setups
  "X-Forwarded-Uri", // Traefik forward auth, Authelia, oauth2-proxy
  "X-Forwarded-Path", // Kong, assorted
  "X-Forwarded-Method", // Traefik forward auth, Authelia
  "X-Original-Method", // ingress-nginx auth, nginx auth_request setups
  "X-Original-Proto", // ingress setups
  // Its TLS client certificate.
  "X-Forwarded-Client-Cert", // Envoy, Istio (XFCC)
  "X-Client-Cert", // Google Cloud load balancers, Kong, Keycloak's reverse-proxy providers
  "X-Client-Certificate", // assorted
  "X-Client-Verify", // nginx setups
  "X-Client-DN", // nginx setups
  "X-ARR-ClientCert", // Azure App Service / IIS ARR
  "SSL-Client-Cert", // Apache (SSL_CLIENT_CERT as a header), Keycloak's Apache provider
  "SSL-Client-Verify", // Apache setups
  "X-SSL-Cert", // HAProxy, nginx setups
  "X-SSL-Client-Cert", // nginx setups, Keycloak's nginx provider
  "X-Forwarded-TLS-Client-Cert", // Traefik
  "X-Forwarded-TLS-Client-Cert-Info", // Traefik
  "X-Amzn-Mtls-Clientcert", // AWS Application Load Balancer
  // Not about the client, but a header no backend may take from one: CGI makes "Proxy" the variable
  // HTTP_PROXY, which Go's net/http/cgi, PHP's Guzzle and others read as their outgoing proxy (httpoxy).
  "Proxy",
].map(headerKey);

/**
 * Families of forwarding headers, by name prefix (as headerKey() gives it): a proxy's whole set
 * (Envoy's x-envoy-*, the mTLS headers of AWS, Google and nginx/HAProxy setups, Cloudflare's client
 * certificate headers).
 */
export const FORWARDING_HEADER_PREFIXES: readonly string[] = [
  "X-Envoy-", // Envoy: x-envoy-external-address, -original-path, -internal, -original-url ...
  "X-SSL-", // HAProxy, nginx setups: X-SSL-Client-Cert/-DN/-Verify/-Subject/-Issuer/-S-DN ...
  "SSL-Client-", // Apache's SSL_CLIENT_* as headers
  "X-Client-Cert-", // Google Cloud load balancers: X-Client-Cert-Present/-Hash/-SPIFFE/-URI-SANs ...
  "X-Amzn-Mtls-", // AWS Application Load Balancer: X-Amzn-Mtls-Clientcert-Leaf/-Subject/-Issuer ...
  "X-Amzn-TLS-", // AWS Application Load Balancer: X-Amzn-TLS-Version/-Cipher-Suite
  "CF-Client-Cert-", // Cloudflare mTLS
  "X-Forwarded-TLS-", // Traefik
].map(headerKey);

const FORWARDING = new Set(FORWARDING_HEADERS);

/** Whether a header (by headerKey()) is one of the forwarding headers: in FORWARDING_HEADERS or a FORWARDING_HEADER_PREFIXES family. */
export function isForwardingHeader(key: string): boolean {
  if (FORWARDING.has(key)) return true;
  for (const prefix of FORWARDING_HEADER_PREFIXES) if (key.startsWith(prefix)) return true;
  return false;
}

/**
 * Headers the gateway reads to decide about a request (the form guard's Content-Type and
 * Content-Encoding, the body's framing). A backend must read exactly what the gateway read, so only the
 * header's own spelling passes: "Content_Type" or "Content.Type" would reach PHP as HTTP_CONTENT_TYPE
 * (and "Content_Length" as CONTENT_LENGTH, with PHP's built-in server), which Symfony and Laravel read
 * as the Content-Type.
 */
export const GATEWAY_READ_HEADERS: readonly string[] = ["content-type", "content-length", "content-encoding", "transfer-encoding"];
