import {execa} from 'execa'
import {describe, expect, it} from 'vitest'

import {sh, shellQuote} from '../../../src/transport/shell.js'

const TRICKY = [
  '',
  'plain',
  'with space',
  "it's",
  "''",
  '$(touch /tmp/nexus-pwned)',
  '`id`',
  '$HOME ${PATH}',
  'a;b&&c||d|e',
  'line\nbreak',
  'tab\there',
  '*?[a-z]',
  '~',
  '-n',
  '!event',
  '"double"',
  'back\\slash',
  'ünïcødé ✓',
  '#comment',
  'x=1',
]

describe('shellQuote', () => {
  it('leaves words bash reads literally as they are', () => {
    for (const word of ['wg0', '/etc/wireguard/wg0.conf', 'alice.default@nexus', '10.0.0.1/24', 'a-b_c', '51820']) {
      expect(shellQuote(word)).toBe(word)
    }
    expect(shellQuote(51820)).toBe('51820')
  })

  it('quotes everything else', () => {
    expect(shellQuote('')).toBe("''")
    expect(shellQuote('a b')).toBe("'a b'")
    expect(shellQuote("it's")).toBe(`'it'\\''s'`)
    expect(shellQuote('~')).toBe("'~'")
    expect(shellQuote('$x')).toBe("'$x'")
  })

  it('round-trips every value through bash unchanged', async () => {
    const script = TRICKY.map((value) => `printf '%s\\0' ${shellQuote(value)}`).join('\n')
    const result = await execa('bash', ['--noprofile', '--norc', '-c', script], {stripFinalNewline: false})
    expect(result.stdout.split('\0').slice(0, -1)).toEqual(TRICKY)
  })

  it('refuses a NUL byte, which no shell word can hold', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/)
  })
})

describe('sh', () => {
  it('quotes every interpolated value and keeps the fixed text', () => {
    expect(sh`wg show ${'wg0'} dump`).toBe('wg show wg0 dump')
    expect(sh`cat -- ${'/tmp/a b'}`).toBe("cat -- '/tmp/a b'")
    expect(sh`echo ${'$(id)'} ${7}`).toBe("echo '$(id)' 7")
  })

  it('spreads arrays as separate words', () => {
    expect(sh`rm -f -- ${['a', 'b c', "d'e"]}`).toBe(`rm -f -- a 'b c' 'd'\\''e'`)
  })

  it('produces commands bash runs as intended', async () => {
    const values = ['x y', '$(id)', "q'uote"]
    const result = await execa('bash', ['--noprofile', '--norc', '-c', sh`printf '[%s]' ${values}`])
    expect(result.stdout).toBe("[x y][$(id)][q'uote]")
  })
})
