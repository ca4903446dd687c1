// Lists are paged the same way everywhere: `offset` and `limit` (at most 500), an optional search text.
import { z } from "zod";

export const listQuerySchema = z
  .object({
    search: z.string().max(200).optional(),
    offset: z.coerce.number().int().min(0).default(0),
    limit: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();

export type ListQuery = z.input<typeof listQuerySchema>;

/** One page of a list and how many entries the whole list has. */
export interface Page<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}
