// /v1/keys: the signing keys' public halves, and their rotation.
import { z } from "zod";
import { SIGNING_ALGS, type KeyResource, type Rotation } from "../../../services/keys.ts";
import { listQuerySchema } from "../../../services/paging.ts";
import { instant, operation, type SameFields, pageOf, pageSchema, requestSchema, responseSchema } from "../operation.ts";

const kid = z.string();
const key = responseSchema(
  "Key",
  z
    .object({
      kid,
      alg: z.string(),
      status: z.enum(["next", "active", "retired"]),
      created_at: instant,
      activated_at: instant.nullable(),
      retired_at: instant.nullable(),
      expires_at: instant.nullable(),
      public_jwk: z.record(z.string(), z.unknown()),
    })
    .strict(),
  "A signing key, its public half only. A retired key stays published until expires_at.",
);
true satisfies SameFields<typeof key, KeyResource>;
const rotation = responseSchema(
  "KeyRotation",
  z.object({ active: kid, next: kid, retired: kid.nullable(), retired_published_for_seconds: z.number().int().min(0).nullable() }).strict(),
  "The key that signs now, the new next key, and the retired key with how long it stays published.",
);
true satisfies SameFields<typeof rotation, Rotation>;
const rotate = requestSchema("KeyRotationRequest", z.object({ alg: z.enum(SIGNING_ALGS).optional() }).strict(), "The algorithm of the new next key (default: the current next key's).");

export const keyOperations = [
  operation({
    method: "GET",
    path: "/v1/keys",
    id: "listKeys",
    tag: "Keys",
    summary: "List signing keys",
    access: "read",
    query: listQuerySchema.omit({ search: true }),
    success: { status: 200, description: "A page of keys.", schema: pageSchema("KeyPage", key) },
    handle: async ({ query, services }) => ({ body: pageOf(await services.keys.list(), query, () => []) }),
  }),
  operation({
    method: "POST",
    path: "/v1/keys/rotate",
    id: "rotateKeys",
    tag: "Keys",
    summary: "Rotate the signing keys",
    description: "The published next key starts signing, a new next key is published, and the old active key stays published as long as a token it signed can live. Running servers pick the change up at once. The rotation lands whole or not at all; another rotation at the same moment gets 409 and changes nothing.",
    access: "write",
    conflicts: true,
    body: rotate,
    success: { status: 200, description: "The rotation.", schema: rotation },
    handle: async ({ body, services }) => ({ body: await services.keys.rotate(body) }),
  }),
];
