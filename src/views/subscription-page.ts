/**
 * The page a browser gets at `/sub/:uuid` (design.md §5): usage, expiry, the
 * subscription URL as a QR code, download links for each format, and one QR
 * code per connection for clients that import share links. Self-contained
 * (inline CSS, QR codes as inline SVG built from `qrcode`'s module matrix),
 * so it needs no assets and runs under `default-src 'none'`. Every text that
 * comes from the repo, the state or the request is HTML-escaped.
 */
import QRCode from 'qrcode'

import type {SubscriptionState} from '../model/subscription.js'
import type {SubscriptionFormat, SubscriptionUsage} from '../render/subscription/index.js'

export interface SubscriptionPageModel {
  readonly title: string
  readonly status: SubscriptionState
  readonly usage: SubscriptionUsage
  /** When the traffic counter next goes back to zero; null when it never does. */
  readonly nextReset: string | null
  /** The URL a client subscribes to. */
  readonly subscriptionUrl: string
  /** Download links, relative to the page. */
  readonly formats: readonly {readonly format: SubscriptionFormat; readonly href: string}[]
  readonly proxies: readonly {readonly name: string; readonly shareLink: string}[]
}

const FORMAT_LABELS: Readonly<Record<SubscriptionFormat, string>> = {
  v2ray: 'v2ray (v2rayN, v2rayNG, Shadowrocket)',
  clash: 'Clash Meta (mihomo, Clash Verge, FlClash)',
  singbox: 'sing-box (SFA, SFI, Hiddify)',
}

const STATUS_LABELS: Readonly<Record<SubscriptionState, string>> = {
  active: 'Active',
  pending: 'Waiting for the first connection',
  expired: 'Expired',
  cancelled: 'Cancelled',
  disabled: 'Disabled',
}

const STYLE = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f5f6f8;color:#1d2430}
main{max-width:40rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.5rem;margin:0 0 .5rem}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.status{display:inline-block;padding:.15rem .6rem;border-radius:1rem;background:#dfe6ee;font-size:.9rem}
.status-active{background:#d4f3dc;color:#145c2c}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:1rem 0}
dt{color:#5b6675}
dd{margin:0}
.qr{width:14rem;height:14rem;background:#fff;display:block}
code{word-break:break-all;font-size:.8rem}
details{background:#fff;border-radius:.5rem;padding:.5rem .8rem;margin:.5rem 0}
summary{cursor:pointer}`

export function subscriptionPage(model: SubscriptionPageModel): string {
  const title = escapeHtml(model.title)
  const lines = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="robots" content="noindex, nofollow">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${title}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${title}</h1>`,
    `<p class="status status-${model.status}">${escapeHtml(STATUS_LABELS[model.status])}</p>`,
    '<dl>',
    `<dt>Traffic</dt><dd>${escapeHtml(trafficText(model.usage))}</dd>`,
    ...(model.nextReset === null ? [] : [`<dt>Resets</dt><dd>${escapeHtml(dateText(model.nextReset))}</dd>`]),
    `<dt>Expires</dt><dd>${escapeHtml(model.usage.expire === null ? 'never' : dateText(model.usage.expire))}</dd>`,
    '</dl>',
    '<h2>Subscription</h2>',
    '<p>Add this URL to your VPN client, or scan the code with it.</p>',
    qrSvg(model.subscriptionUrl, 'Subscription URL'),
    `<p><code>${escapeHtml(model.subscriptionUrl)}</code></p>`,
    '<ul>',
    ...model.formats.map(
      (entry) => `<li><a href="${escapeHtml(entry.href)}">${escapeHtml(FORMAT_LABELS[entry.format])}</a></li>`,
    ),
    '</ul>',
    `<h2>Connections (${model.proxies.length})</h2>`,
    ...(model.proxies.length === 0 ? ['<p>None: your plan includes no connection of these kinds.</p>'] : []),
    ...model.proxies.flatMap((proxy) => [
      '<details>',
      `<summary>${escapeHtml(proxy.name)}</summary>`,
      qrSvg(proxy.shareLink, proxy.name),
      `<p><code>${escapeHtml(proxy.shareLink)}</code></p>`,
      '</details>',
    ]),
    '</main>',
    '</body>',
    '</html>',
  ]
  return `${lines.join('\n')}\n`
}

/**
 * A QR code as inline SVG: one path of dark runs per row over a white
 * quiet zone of four modules. Deterministic for the same text.
 */
export function qrSvg(text: string, label: string): string {
  const {modules} = QRCode.create(text, {errorCorrectionLevel: 'L'})
  const size = modules.size
  const margin = 4
  const runs: string[] = []
  for (let row = 0; row < size; row++) {
    let col = 0
    while (col < size) {
      if (!modules.get(row, col)) {
        col++
        continue
      }
      const start = col
      while (col < size && modules.get(row, col)) col++
      runs.push(`M${start + margin} ${row + margin}h${col - start}v1h-${col - start}z`)
    }
  }
  const extent = size + 2 * margin
  return (
    `<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${extent} ${extent}" role="img" ` +
    `aria-label="${escapeHtml(`QR code: ${label}`)}" shape-rendering="crispEdges">` +
    `<rect width="${extent}" height="${extent}" fill="#fff"/><path fill="#000" d="${runs.join('')}"/></svg>`
  )
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c] ?? c)
}

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

function trafficText(usage: SubscriptionUsage): string {
  const used = usage.upload + usage.download
  return usage.total === null
    ? `${formatBytes(used)} used (no limit)`
    : `${formatBytes(used)} of ${formatBytes(usage.total)} used`
}

/** `2026-06-01 00:00 UTC` */
function dateText(iso: string): string {
  const time = Date.parse(iso)
  if (Number.isNaN(time)) return iso
  return `${new Date(time).toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = Math.max(0, bytes)
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : Number(value.toFixed(2))} ${units[unit]}`
}
