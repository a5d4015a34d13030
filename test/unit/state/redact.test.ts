import {describe, expect, it} from 'vitest'

import {redact} from '../../../src/state/pg-driver.js'

describe('redact: database URLs in messages', () => {
  it('drops the password of the userinfo', () => {
    expect(redact('postgres://nexus:hunter2@db.example:5432/state')).toBe('postgres://nexus@db.example:5432/state')
  })

  it('drops a password given as a query parameter, in any casing, and keeps the other parameters', () => {
    const shown = redact(
      'postgres://nexus@db.example/state?sslmode=require&password=hunter2&PassWord=hunter3&sslpassword=hunter4',
    )
    expect(shown).toBe('postgres://nexus@db.example/state?sslmode=require')
    expect(shown).not.toMatch(/hunter/)
  })

  it('drops both forms at once, and a URL without a password is shown as it is', () => {
    expect(redact('postgresql://u:a%40b@h/d?password=x%26y&application_name=n')).toBe(
      'postgresql://u@h/d?application_name=n',
    )
    expect(redact('postgres://h/d?sslmode=disable')).toBe('postgres://h/d?sslmode=disable')
  })

  it('shows nothing of a string that is not a URL', () => {
    expect(redact('host=h password=hunter2')).toBe('(unparsable database URL)')
  })
})
