// The services name fields as their camelCase specs do (`redirectUris.0`, `outboundOAuth.tokenUrl`,
// `scopes.GET.allOf.0`); the CLI's JSON and its declarative file use OAuth's snake_case
// (`redirect_uris[0]`, `outbound_oauth.token_url`, `scopes.GET.all_of[0]`), so their messages are translated.
// A path is a lower-case field name followed by field names, indexes and map keys ("GET", "*"), then ": ".
const FIELD_PATH = /(^|; |: )([a-z][A-Za-z0-9]*(?:\.(?:[A-Za-z0-9_-]+|\*))*): /g;

/** Names that do not follow from the camelCase one. */
const RENAMED: Record<string, string> = { apiIdentifier: "api" };

function snakeCase(segment: string): string {
  if (/^\d+$/.test(segment)) return `[${segment}]`;
  // Only field names (they start lower-case); map keys such as methods stay as they are.
  if (!/^[a-z][A-Za-z0-9]*$/.test(segment)) return `.${segment}`;
  // A capital after a lower-case letter starts a word: outboundOAuth -> outbound_oauth.
  return `.${RENAMED[segment] ?? segment.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase()}`;
}

export function snakeCaseFieldPaths(message: string): string {
  return message.replace(FIELD_PATH, (_, before: string, path: string) => {
    return `${before}${path.split(".").map(snakeCase).join("").slice(1)}: `;
  });
}
