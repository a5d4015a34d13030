/**
 * A user link's subscription in one of the three formats (design.md §5):
 * `v2ray` (base64 share links), `clash` (mihomo YAML) or `singbox` (JSON),
 * rendered from the same list of proxies. Pure and byte-stable: the same
 * fleet and state give the same body.
 */
import type {Fleet} from '../../model/fleet.js'
import {renderClash} from './clash.js'
import {CONTENT_TYPES, FILE_EXTENSIONS, type SubscriptionFormat} from './headers.js'
import {displayTitle, type Proxy, subscriptionProxies} from './proxies.js'
import {renderSingbox} from './singbox.js'
import {renderV2ray} from './v2ray.js'

export {clashConfig, renderClash} from './clash.js'
export {
  CONTENT_TYPES,
  contentDisposition,
  FILE_EXTENSIONS,
  formatForUserAgent,
  parseFormat,
  profileTitle,
  selectFormat,
  SUBSCRIPTION_FORMATS,
  type SubscriptionFormat,
  type SubscriptionHeaderInput,
  subscriptionHeaders,
  type SubscriptionUsage,
  subscriptionUserinfo,
  usageFromStatus,
} from './headers.js'
export {type Proxy, subscriptionProxies} from './proxies.js'
export {renderSingbox, singboxConfig} from './singbox.js'
export {renderV2ray, shareLink, shareLinks} from './v2ray.js'

export interface RenderedSubscription {
  readonly format: SubscriptionFormat
  readonly body: string
  readonly contentType: string
  /** `<title>.<ext>` without path separators or reserved characters, for saving the body to a file. */
  readonly fileName: string
  /** The profile name clients show (the `profile-title` header). */
  readonly title: string
  /** Everything the link may use; a format that cannot express a proxy leaves it out of the body. */
  readonly proxies: readonly Proxy[]
  /**
   * The state was generated for this render only: the UUIDs and keys in the
   * body exist nowhere, so the body must not be handed to anyone.
   */
  readonly preview: boolean
}

export function renderSubscription(
  fleet: Fleet,
  user: string,
  link: string,
  format: SubscriptionFormat,
): RenderedSubscription {
  const proxies = subscriptionProxies(fleet, user, link)
  const {project} = fleet.desired
  const title = displayTitle(project.subscription.title, project.name)
  return {
    format,
    body: renderBody(proxies, format),
    contentType: CONTENT_TYPES[format],
    fileName: `${fileSafe(title)}.${FILE_EXTENSIONS[format]}`,
    title,
    proxies,
    preview: fleet.state.preview,
  }
}

function renderBody(proxies: readonly Proxy[], format: SubscriptionFormat): string {
  switch (format) {
    case 'v2ray':
      return renderV2ray(proxies)
    case 'clash':
      return renderClash(proxies)
    case 'singbox':
      return renderSingbox(proxies)
  }
}

/** Characters no common file system takes in a name, and a leading dot, become `_`. */
function fileSafe(name: string): string {
  return name.replace(/[/\\:*?"<>|]/g, '_').replace(/^\./, '_')
}
