/**
 * What the node probe scripts (observation, usage) share: their exit codes,
 * the bash prelude that frames each probe's output in nonce-tagged sections,
 * the parser of those sections, and how a failed xray API call reads.
 */

/** Exit codes the probe functions use for "not there" and "cannot ask". */
export const ABSENT = 100
export const UNAVAILABLE = 101
/** What `timeout` returns when it had to stop a command. */
export const TIMED_OUT = 124
export const NOT_FOUND = 127
/** Seconds one xray API call may take. */
export const XRAY_TIMEOUT_S = 10

/** `nx_probe NAME CMD…` prints CMD's stdout, stderr and exit code as one section; `nx_need` checks a tool. */
export const PROBE_PRELUDE = String.raw`set -o pipefail
export LC_ALL=C
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
nx_probe() {
  local name=$1 err rc
  shift
  printf '\n@@nexus:%s:out:%s@@\n' "$nx_nonce" "$name"
  { err=$( { "$@"; } 2>&1 1>&3 3>&- ); rc=$?; } 3>&1
  printf '\n@@nexus:%s:err:%s@@\n%s\n@@nexus:%s:end:%s:%d@@\n' "$nx_nonce" "$name" "$err" "$nx_nonce" "$name" "$rc"
}
nx_need() {
  command -v "$1" >/dev/null 2>&1 || { printf '%s: command not found\n' "$1" >&2; return ${NOT_FOUND}; }
}
`

export interface Section {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
}

export function assertNonce(nonce: string): void {
  if (!/^[0-9a-f]{16,64}$/.test(nonce)) throw new Error('the probe nonce must be 16-64 hex digits')
}

/** Splits the script output into sections by id. Text outside sections is ignored. */
export function splitSections(stdout: string, nonce: string): {sections: Map<string, Section>; done: boolean} {
  assertNonce(nonce)
  const tag = `@@nexus:${nonce}:`
  const pattern = new RegExp(
    `\\n${tag}out:([a-z0-9.]+)@@\\n([\\s\\S]*?)\\n${tag}err:\\1@@\\n([\\s\\S]*?)\\n${tag}end:\\1:(\\d+)@@\\n`,
    'g',
  )
  const sections = new Map<string, Section>()
  for (const match of stdout.matchAll(pattern)) {
    const [, id = '', out = '', err = '', code = ''] = match
    sections.set(id, {stdout: out, stderr: err, exitCode: Number(code)})
  }
  return {sections, done: stdout.includes(`\n${tag}done@@`)}
}

/** The first lines of a probe's stderr, for a one-line message. */
export function firstLines(text: string, max = 300): string {
  const trimmed = text.trim().split('\n').slice(0, 3).join('; ')
  return trimmed.length > max ? `${trimmed.slice(0, max)}…` : trimmed
}

/** Why an `xray api …` probe (`command`) that did not exit 0 gave no answer. */
export function xrayUnavailable(section: Section, command: string): {state: 'unavailable'; reason: string} {
  const detail = firstLines(section.stderr)
  switch (section.exitCode) {
    case NOT_FOUND:
      return {state: 'unavailable', reason: detail || 'xray is not installed'}
    case UNAVAILABLE:
      return {state: 'unavailable', reason: detail || 'the xray API does not answer'}
    case TIMED_OUT:
      return {state: 'unavailable', reason: `the xray API did not answer within ${XRAY_TIMEOUT_S} s`}
    default:
      return {
        state: 'unavailable',
        reason: `\`${command}\` failed (exit ${section.exitCode})${detail ? `: ${detail}` : ''}`,
      }
  }
}
