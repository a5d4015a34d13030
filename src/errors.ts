/**
 * Two kinds of failure (design.md §8.5): a NexusError is expected — the user
 * can fix it, it exits 1 and prints no stack; anything else is a bug.
 */
export class NexusError extends Error {
  constructor(
    /** Stable snake_case code, part of the --json contract. */
    readonly code: string,
    message: string,
    /** What to do about it. */
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message)
    this.name = 'NexusError'
  }
}

export const EXIT = {
  ok: 0,
  error: 1,
  /** `plan --detailed-exitcode`: the plan has changes. */
  changes: 2,
} as const
