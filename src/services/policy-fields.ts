// A policy's settings as the text front ends see them: one field per setting, read from the policy's
// JSON Schema (the very schema the services check and the admin API documents), with its kind, default,
// range and description. The CLI makes its options and `gatehouse policy show` from these fields, and
// the console its forms; both turn text into values the same way, and the schema checks the result.
//
// Text forms: a list is one value per line (or comma-separated); a map is `key=value` per line; a list
// of objects (rate limits) is one object per line as `key=value key=value`.
import { policyJsonSchema, type PolicyId } from "./policies.ts";
import { ValidationError } from "./errors.ts";

export type FieldKind = "text" | "integer" | "boolean" | "choice" | "list" | "map" | "items";

export interface PolicyField {
  name: string;
  kind: FieldKind;
  required: boolean;
  /** null is a value (unset). */
  nullable: boolean;
  description: string;
  default?: unknown;
  /** A choice's values, or a list's. */
  choices?: string[];
  minimum?: number;
  maximum?: number;
  /** Never shown back (a secret). */
  writeOnly: boolean;
  /** The fields of a list's objects. */
  fields?: PolicyField[];
}

type Json = Record<string, unknown>;

function types(schema: Json): string[] {
  const type = schema.type;
  return Array.isArray(type) ? (type as string[]) : typeof type === "string" ? [type] : [];
}

function fieldOf(name: string, schema: Json, required: boolean): PolicyField {
  const kinds = types(schema);
  const nullable = kinds.includes("null");
  const type = kinds.find((t) => t !== "null");
  const field: PolicyField = {
    name,
    kind: "text",
    required,
    nullable,
    description: typeof schema.description === "string" ? schema.description : "",
    writeOnly: schema.writeOnly === true,
  };
  if ("default" in schema) field.default = schema.default;
  if (typeof schema.minimum === "number") field.minimum = schema.minimum;
  if (typeof schema.maximum === "number") field.maximum = schema.maximum;
  if (Array.isArray(schema.enum)) {
    field.kind = "choice";
    field.choices = schema.enum as string[];
  } else if (type === "integer" || type === "number") field.kind = "integer";
  else if (type === "boolean") field.kind = "boolean";
  else if (type === "array") {
    const items = (schema.items ?? {}) as Json;
    if (types(items).includes("object")) {
      field.kind = "items";
      field.fields = fieldsOf(items);
    } else {
      field.kind = "list";
      if (Array.isArray(items.enum)) field.choices = items.enum as string[];
    }
  } else if (type === "object") field.kind = "map";
  return field;
}

function fieldsOf(schema: Json): PolicyField[] {
  const properties = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => fieldOf(name, property, required.has(name)));
}

const cache = new Map<PolicyId, PolicyField[]>();

/** The policy's settings, in the schema's order. */
export function policyFields(id: PolicyId): PolicyField[] {
  let fields = cache.get(id);
  if (!fields) {
    fields = fieldsOf(policyJsonSchema(id));
    cache.set(id, fields);
  }
  return fields;
}

/** "integer 0–86400, default 600", "one of basic, body", "list of GET, HEAD, …": what a field takes, in a few words. */
export function fieldSummary(field: PolicyField): string {
  const parts: string[] = [];
  if (field.kind === "choice") parts.push(`one of ${field.choices!.join(", ")}`);
  else if (field.kind === "list") parts.push(field.choices ? `list of ${field.choices.join(", ")}` : "list");
  else if (field.kind === "map") parts.push("map of key=value");
  else if (field.kind === "items") parts.push(`list of {${field.fields!.map((f) => f.name).join(", ")}}`);
  else if (field.kind === "integer") parts.push(field.minimum !== undefined && field.maximum !== undefined ? `integer ${field.minimum}–${field.maximum}` : field.minimum !== undefined ? `integer ≥ ${field.minimum}` : "integer");
  else parts.push(field.kind);
  if (field.required) parts.push("required");
  else if (field.default !== undefined && field.default !== null && !(Array.isArray(field.default) && field.default.length === 0)) parts.push(`default ${formatValue(field, field.default, ", ")}`);
  if (field.writeOnly) parts.push("write-only");
  return parts.join(", ");
}

/** A value as the text front ends write it: lists and maps joined with `separator`, an object as `key=value key=value`. */
export function formatValue(field: PolicyField, value: unknown, separator = "\n"): string {
  if (value === undefined || value === null) return "";
  if (field.kind === "list") return (value as unknown[]).map(String).join(separator);
  if (field.kind === "map") return Object.entries(value as Json).map(([key, v]) => `${key}=${String(v)}`).join(separator);
  if (field.kind === "items") return (value as Json[]).map((item) => formatItem(field, item)).join(separator);
  return String(value);
}

function formatItem(field: PolicyField, item: Json): string {
  return field.fields!.filter((f) => item[f.name] !== undefined).map((f) => `${f.name}=${String(item[f.name])}`).join(" ");
}

/** A scalar typed as text: a number for an integer field, a boolean for a boolean one (left as typed when it is not one, for the schema to refuse). */
export function scalar(field: PolicyField, text: string): unknown {
  const trimmed = text.trim();
  if (field.kind === "integer") return /^-?\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
  if (field.kind === "boolean") return trimmed === "true" ? true : trimmed === "false" ? false : trimmed;
  if (field.nullable && trimmed === "") return null;
  return trimmed;
}

/**
 * One object of a list of objects, from `key=value key=value` (or comma-separated).
 * @throws ValidationError (at the field) when a key is given twice: which one was meant cannot be told
 */
export function parseItem(field: PolicyField, text: string): Json {
  const item: Json = {};
  for (const pair of text.split(/[\s,]+/).filter(Boolean)) {
    const at = pair.indexOf("=");
    const name = at === -1 ? pair : pair.slice(0, at);
    if (Object.hasOwn(item, name)) throw new ValidationError([{ field: field.name, message: `${name} is given twice in "${text.trim()}": give each key once` }]);
    const sub = field.fields!.find((f) => f.name === name);
    // An unknown or malformed key is kept as written, for the schema to name.
    item[name] = sub && at !== -1 ? scalar(sub, pair.slice(at + 1)) : at === -1 ? "" : pair.slice(at + 1);
  }
  return item;
}

/** One `key=value` of a map. */
export function parsePair(text: string): [string, string] | undefined {
  const at = text.indexOf("=");
  if (at <= 0) return undefined;
  return [text.slice(0, at).trim(), text.slice(at + 1).trim()];
}

/** A field's value from text as a form holds it: lists and maps one entry per line (lists may use commas too). */
export function parseValue(field: PolicyField, text: string): unknown {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  switch (field.kind) {
    case "list":
      return lines.flatMap((line) => line.split(/[\s,]+/)).filter(Boolean);
    case "map": {
      const map: Json = {};
      for (const line of lines) {
        const pair = parsePair(line);
        if (pair) map[pair[0]] = pair[1];
        else map[line] = "";
      }
      return map;
    }
    case "items":
      return lines.map((line) => parseItem(field, line));
    default:
      return scalar(field, text);
  }
}
