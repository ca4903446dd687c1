// The services name fields as their camelCase specs do (`redirectUris.0`); the CLI's JSON and its
// declarative file use OAuth's snake_case (`redirect_uris[0]`), so their messages are translated.
const FIELD_PATH = /(^|; |: )([a-z][A-Za-z]*)((?:\.\d+)*): /g;

export function snakeCaseFieldPaths(message: string): string {
  return message.replace(FIELD_PATH, (_, before: string, field: string, indexes: string) => {
    const name = field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    return `${before}${name}${indexes.replace(/\.(\d+)/g, "[$1]")}: `;
  });
}
