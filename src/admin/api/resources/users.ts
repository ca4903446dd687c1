// /v1/users: people who sign in, their password, sessions and password-attempt locks.
import { z } from "zod";
import { ValidationError } from "../../../services/errors.ts";
import { checkIfMatch } from "../../../services/etag.ts";
import { listQuerySchema } from "../../../services/paging.ts";
import { generateSecret } from "../../../services/passwords.ts";
import { passwordSchema, userInputSchema, type UserResource } from "../../../services/users.ts";
import { instant, operation, type SameFields, pageSchema, requestSchema, responseSchema, segment, tagged } from "../operation.ts";
import { patchOf } from "../validate.ts";

const { username, password: _password, password_change_required: passwordChangeRequired, ...settings } = userInputSchema.shape;
const params = z.object({ username }).strict();

const user = responseSchema(
  "User",
  z.object({ id: z.uuid(), username, ...settings, password_change_required: z.boolean(), created_at: instant, updated_at: instant }).strict(),
  "A user. The password is never shown back. Role admin may change everything in the console and this API, viewer may see everything. " +
    "password_change_required: the user must choose a new password at their next sign-in (the login page asks for it; the password grant refuses until then).",
);
true satisfies SameFields<typeof user, UserResource>;
const createdUser = responseSchema(
  "UserCreated",
  user.extend({ password: z.string().optional() }).strict(),
  "The new user, with password when one was generated: shown only in this answer, and to be changed at the first sign-in.",
);
const passwordSet = responseSchema(
  "PasswordSet",
  z.object({ username, password: z.string().optional(), password_change_required: z.boolean() }).strict(),
  "The user whose password was set, with the generated password when none was sent (shown only in this answer), and whether it must be changed at the next sign-in.",
);
const sessionsRevoked = responseSchema(
  "UserSessionsRevoked",
  z.object({ username, artifacts_revoked: z.number().int().min(0), not_before: instant }).strict(),
  "How many sessions, grants and tokens were ended; JWT access tokens issued before not_before are refused.",
);
const unlocked = responseSchema("UserUnlocked", z.object({ username, counters_cleared: z.number().int().min(0) }).strict(), "How many password-attempt counters were cleared.");
const lock = responseSchema(
  "UserLock",
  z.object({ username, locked_until: instant.nullable() }).strict(),
  "When the account's password-attempt lock ends, from any address (null: not locked).",
);

const userInput = requestSchema(
  "UserInput",
  userInputSchema,
  "A user to create; without a password one is generated, returned once, and must be changed at the first sign-in. " +
    "password_change_required: true asks the same of a given password.",
);
const userChanges = requestSchema(
  "UserChanges",
  patchOf({ ...settings, password: userInputSchema.shape.password, password_change_required: passwordChangeRequired }),
  "The fields to change; a new password, password_change_required turned on, or enabled: false ends the user's sessions and tokens. " +
    "A new password without password_change_required clears it.",
);
const newPassword = requestSchema(
  "NewPassword",
  z.object({ password: passwordSchema.optional(), password_change_required: z.boolean().optional() }).strict(),
  "The new password; omitted, one is generated, returned once, and must be changed at the next sign-in. " +
    "password_change_required: true asks the same of a given password (default false: it stays).",
);

/** The user with the generated password, as `gatehouse user create --json` prints it. */
function withPassword(resource: UserResource, password: string | undefined) {
  return { ...resource, ...(password ? { password } : {}) };
}

export const userOperations = [
  operation({
    method: "GET",
    path: "/v1/users",
    id: "listUsers",
    tag: "Users",
    summary: "List users",
    description: "By username; `search` matches the username or the email address, in any case.",
    access: "read",
    query: listQuerySchema,
    success: { status: 200, description: "A page of users.", schema: pageSchema("UserPage", user) },
    handle: async ({ query, services }) => ({ body: await services.users.list(query) }),
  }),
  operation({
    method: "POST",
    path: "/v1/users",
    id: "createUser",
    tag: "Users",
    summary: "Create a user",
    access: "write",
    body: userInput,
    conflicts: true,
    success: { status: 201, description: "The user was created.", schema: createdUser, headers: ["Location", "ETag"] },
    handle: async ({ body, services }) => {
      const created = await services.users.create(body);
      return { ...tagged(created.user), body: withPassword(created.user, created.password), location: `/v1/users/${segment(created.user.username)}` };
    },
  }),
  operation({
    method: "GET",
    path: "/v1/users/{username}",
    id: "getUser",
    tag: "Users",
    summary: "Show a user",
    access: "read",
    params,
    success: { status: 200, description: "The user.", schema: user, headers: ["ETag"] },
    handle: async ({ params, services }) => tagged(await services.users.get(params.username)),
  }),
  operation({
    method: "PATCH",
    path: "/v1/users/{username}",
    id: "updateUser",
    tag: "Users",
    summary: "Change a user",
    description: "Changes the fields sent and keeps the others. The username cannot change.",
    access: "write",
    params,
    body: userChanges,
    conditional: true,
    success: { status: 200, description: "The user as changed.", schema: user, headers: ["ETag"] },
    handle: async ({ params, body, ifMatch, services }) => tagged(await services.users.update(params.username, body, { ifMatch })),
  }),
  operation({
    method: "DELETE",
    path: "/v1/users/{username}",
    id: "deleteUser",
    tag: "Users",
    summary: "Delete a user",
    description: "Deletes the user with their consents, sessions and tokens.",
    access: "write",
    params,
    conditional: true,
    success: { status: 204, description: "The user was deleted." },
    handle: async ({ params, ifMatch, services }) => {
      if (ifMatch) checkIfMatch(await services.users.get(params.username), ifMatch);
      await services.users.delete(params.username);
      return {};
    },
  }),
  operation({
    method: "POST",
    path: "/v1/users/{username}/password",
    id: "setUserPassword",
    tag: "Users",
    summary: "Set a user's password",
    description: "Ends every session and token of the user and lifts password-attempt locks. Without a password in the body one is generated and returned once.",
    access: "write",
    params,
    body: newPassword,
    success: { status: 200, description: "The password was set.", schema: passwordSet },
    handle: async ({ params, body, services }) => {
      const generated = body.password === undefined;
      if (generated && body.password_change_required === false) {
        throw new ValidationError([{ field: "password_change_required", message: "a generated password must be changed at the next sign-in: send a password, or leave this out" }]);
      }
      const password = body.password ?? generateSecret();
      const temporary = generated || body.password_change_required === true;
      await services.users.setPassword(params.username, password, { temporary });
      return { body: { username: params.username, ...(generated ? { password } : {}), password_change_required: temporary } };
    },
  }),
  operation({
    method: "POST",
    path: "/v1/users/{username}/revoke-sessions",
    id: "revokeUserSessions",
    tag: "Users",
    summary: "Sign a user out everywhere",
    description: "Ends the user's sessions (console included), grants, codes, refresh and opaque access tokens, and refuses every JWT access token issued to them until now. Consents stay.",
    access: "write",
    params,
    body: z.object({}).strict(),
    success: { status: 200, description: "What was ended.", schema: sessionsRevoked },
    handle: async ({ params, services }) => {
      const ended = await services.users.revokeSessions(params.username);
      return { body: { username: params.username, artifacts_revoked: ended.artifacts, not_before: ended.notBefore.toISOString() } };
    },
  }),
  operation({
    method: "POST",
    path: "/v1/users/{username}/unlock",
    id: "unlockUser",
    tag: "Users",
    summary: "Lift a user's password-attempt locks",
    description: "From every source address.",
    access: "write",
    params,
    body: z.object({}).strict(),
    success: { status: 200, description: "The locks were lifted.", schema: unlocked },
    handle: async ({ params, services }) => ({ body: { username: params.username, counters_cleared: await services.users.unlock(params.username) } }),
  }),
  operation({
    method: "GET",
    path: "/v1/users/{username}/lock",
    id: "getUserLock",
    tag: "Users",
    summary: "Show whether a user is locked out",
    access: "read",
    params,
    success: { status: 200, description: "The account's lock.", schema: lock },
    handle: async ({ params, services }) => {
      await services.users.get(params.username);
      return { body: { username: params.username, locked_until: await services.users.lockedUntil(params.username) } };
    },
  }),
];
