import {validateHeaderValue} from 'node:http'

import {describe, expect, it} from 'vitest'

import {
  CONTENT_TYPES,
  contentDisposition,
  formatForUserAgent,
  parseFormat,
  profileTitle,
  selectFormat,
  type SubscriptionFormat,
  subscriptionHeaders,
  type SubscriptionUsage,
  subscriptionUserinfo,
  usageFromStatus,
} from '../../../../src/render/subscription/headers.js'

const GIB = 2 ** 30

const unlimited: SubscriptionUsage = {upload: 0, download: 0, total: null, expire: null}

describe('subscriptionUserinfo', () => {
  it('writes all four keys, in order, with expire in unix seconds', () => {
    const usage = {upload: 455727941, download: 6174315083, total: 1073741824000, expire: '2026-12-31T00:00:00.000Z'}
    expect(subscriptionUserinfo(usage)).toBe(
      'upload=455727941; download=6174315083; total=1073741824000; expire=1798675200',
    )
  })

  it('writes 0 for unlimited traffic and no expiry, never leaving a key out', () => {
    expect(subscriptionUserinfo(unlimited)).toBe('upload=0; download=0; total=0; expire=0')
  })

  it('truncates fractions and clamps negatives to 0', () => {
    expect(
      subscriptionUserinfo({upload: -5, download: 10.9, total: 100 * GIB, expire: '1970-01-01T00:00:01.999Z'}),
    ).toBe(`upload=0; download=10; total=${100 * GIB}; expire=1`)
  })

  it('refuses a value that is no byte count or instant', () => {
    expect(() => subscriptionUserinfo({...unlimited, download: Number.NaN})).toThrow(/byte count/)
    expect(() => subscriptionUserinfo({...unlimited, expire: 'soon'})).toThrow(/not an instant/)
  })

  it('takes usage from a subscription status: all traffic as download, the period limit, the final end', () => {
    const usage = usageFromStatus({trafficUsed: 5 * GIB, trafficLimit: 100 * GIB, endsAt: '2026-02-01T00:00:00.000Z'})
    expect(usage).toEqual({upload: 0, download: 5 * GIB, total: 100 * GIB, expire: '2026-02-01T00:00:00.000Z'})
    expect(subscriptionUserinfo(usageFromStatus({trafficUsed: 0, trafficLimit: null, endsAt: null}))).toBe(
      'upload=0; download=0; total=0; expire=0',
    )
  })
})

describe('profileTitle and contentDisposition', () => {
  it('sends the title as base64: of its UTF-8 bytes', () => {
    expect(profileTitle('Acme VPN')).toBe('base64:QWNtZSBWUE4=')
    const title = 'Акме VPN · 東京'
    const header = profileTitle(title)
    expect(header.startsWith('base64:')).toBe(true)
    expect(Buffer.from(header.slice('base64:'.length), 'base64').toString('utf8')).toBe(title)
    expect(() => validateHeaderValue('profile-title', header)).not.toThrow()
  })

  it('quotes an ASCII file name and adds nothing else', () => {
    expect(contentDisposition('Acme VPN')).toBe('attachment; filename="Acme VPN"')
  })

  it('adds RFC 6266 filename* for a non-ASCII name, with an ASCII stand-in', () => {
    expect(contentDisposition('Акме VPN')).toBe(
      `attachment; filename="____ VPN"; filename*=UTF-8''%D0%90%D0%BA%D0%BC%D0%B5%20VPN`,
    )
    expect(contentDisposition('東京')).toBe(`attachment; filename="subscription"; filename*=UTF-8''%E6%9D%B1%E4%BA%AC`)
  })

  it('keeps quotes, backslashes and line breaks out of the quoted name', () => {
    const header = contentDisposition('a"b\\c\r\nd/e (1)*')
    expect(header).toBe(`attachment; filename="a_b_c d_e (1)_"; filename*=UTF-8''a%22b%5Cc%0D%0Ad%2Fe%20%281%29%2A`)
    expect(() => validateHeaderValue('content-disposition', header)).not.toThrow()
  })
})

describe('subscriptionHeaders', () => {
  it('writes the metadata headers in a fixed order with exact values', () => {
    const headers = subscriptionHeaders({
      format: 'clash',
      title: 'Acme VPN',
      updateIntervalHours: 12,
      usage: {upload: 0, download: 1024, total: 100 * GIB, expire: '2026-12-31T00:00:00.000Z'},
    })
    expect(Object.entries(headers)).toEqual([
      ['content-type', 'text/yaml; charset=utf-8'],
      ['content-disposition', 'attachment; filename="Acme VPN"'],
      ['profile-title', 'base64:QWNtZSBWUE4='],
      ['profile-update-interval', '12'],
      ['subscription-userinfo', `upload=0; download=1024; total=${100 * GIB}; expire=1798675200`],
    ])
  })

  it('adds the optional URLs and a chosen file name', () => {
    const headers = subscriptionHeaders({
      format: 'v2ray',
      title: 'Acme',
      updateIntervalHours: 24,
      usage: unlimited,
      fileName: 'acme-alice',
      webPageUrl: 'https://vpn.example.com/sub/0b5b50b9',
      supportUrl: 'https://t.me/acme_support',
    })
    expect(headers['content-disposition']).toBe('attachment; filename="acme-alice"')
    expect(headers['profile-web-page-url']).toBe('https://vpn.example.com/sub/0b5b50b9')
    expect(headers['support-url']).toBe('https://t.me/acme_support')
    expect(headers['profile-update-interval']).toBe('24')
  })

  it('produces only values Node accepts as headers, whatever the title', () => {
    const headers = subscriptionHeaders({
      format: 'singbox',
      title: 'Акме "VPN"\n東京',
      updateIntervalHours: 6,
      usage: unlimited,
      webPageUrl: 'https://vpn.example.com/страница',
    })
    for (const [name, value] of Object.entries(headers)) expect(() => validateHeaderValue(name, value)).not.toThrow()
    expect(headers['profile-web-page-url']).toBe(
      'https://vpn.example.com/%D1%81%D1%82%D1%80%D0%B0%D0%BD%D0%B8%D1%86%D0%B0',
    )
  })

  it('names the content type of each format', () => {
    expect(CONTENT_TYPES).toEqual({
      v2ray: 'text/plain; charset=utf-8',
      clash: 'text/yaml; charset=utf-8',
      singbox: 'application/json; charset=utf-8',
    })
  })
})

describe('format selection', () => {
  const table: [string | undefined, SubscriptionFormat][] = [
    ['clash-verge/v2.0.3', 'clash'],
    ['Clash-Verge/1.7.7', 'clash'],
    ['clash.meta', 'clash'],
    ['ClashMeta/1.0', 'clash'],
    ['clash-meta/1.0', 'clash'],
    ['FlClash/v0.8.80 clash-verge Platform/android', 'clash'],
    ['mihomo/1.19.0', 'clash'],
    ['SFA/1.11.0 (Android)', 'singbox'],
    ['SFI/1.12.0', 'singbox'],
    ['SFM/1.12.0', 'singbox'],
    ['SFT/1.12.0', 'singbox'],
    ['karing/1.1.0', 'singbox'],
    ['HiddifyNext/2.5.7', 'singbox'],
    ['v2rayN/7.0', 'v2ray'],
    ['v2rayNG/1.9.0', 'v2ray'],
    ['Streisand', 'v2ray'],
    ['Happ/1.0', 'v2ray'],
    ['ClashForWindows/0.20', 'v2ray'],
    ['Mozilla/5.0 mihomo', 'v2ray'],
    ['', 'v2ray'],
    [undefined, 'v2ray'],
  ]
  it.each(table)('%s → %s', (agent, format) => {
    expect(formatForUserAgent(agent)).toBe(format)
  })

  it('parses ?format= values and their aliases, and nothing else', () => {
    expect(['v2ray', 'clash', 'singbox', 'sing-box', 'mihomo', 'clash-meta', ' Clash '].map(parseFormat)).toEqual([
      'v2ray',
      'clash',
      'singbox',
      'singbox',
      'clash',
      'clash',
      'clash',
    ])
    expect(parseFormat('xml')).toBeUndefined()
    expect(parseFormat(undefined)).toBeUndefined()
  })

  it('lets a known format win over the User-Agent; an unknown one is v2ray; a missing one asks the User-Agent', () => {
    expect(selectFormat({format: 'singbox', userAgent: 'clash-verge/2'})).toBe('singbox')
    // design.md §5: an unknown format falls back to v2ray, whatever the User-Agent says.
    expect(selectFormat({format: 'bogus', userAgent: 'clash-verge/2'})).toBe('v2ray')
    expect(selectFormat({format: 'bogus', userAgent: 'SFA/1.11'})).toBe('v2ray')
    expect(selectFormat({format: 'bogus'})).toBe('v2ray')
    expect(selectFormat({userAgent: 'clash-verge/2'})).toBe('clash')
    expect(selectFormat({format: '', userAgent: 'clash-verge/2'})).toBe('clash')
    expect(selectFormat({})).toBe('v2ray')
  })
})
