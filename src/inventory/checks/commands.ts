/** Reload commands may use only the placeholders apply fills in (shell-quoted). */
import type {Check} from './context.js'

export const RELOAD_PLACEHOLDERS: Readonly<Record<string, readonly string[]>> = {
  wireguard: ['iface', 'file', 'stripped'],
  wireguardRestart: ['iface', 'file'],
  wireguardDown: ['iface', 'file'],
  nftables: ['file'],
  xray: ['file'],
  dnsmasq: ['file'],
}

export const checkReloadCommands: Check = ({set, reporter}) => {
  for (const declared of set.Node) {
    for (const [name, command] of Object.entries(declared.spec.reload ?? {})) {
      if (typeof command !== 'string') continue
      const allowed = RELOAD_PLACEHOLDERS[name] ?? []
      for (const match of command.matchAll(/\{([^{}]*)\}/g)) {
        if (allowed.includes(match[1] ?? '')) continue
        reporter.report(declared, {
          path: ['reload', name],
          code: 'unknown_placeholder',
          message: `reload.${name} uses {${match[1]}}, which apply does not fill in`,
          hint: allowed.length > 0 ? `use ${allowed.map((p) => `{${p}}`).join(', ')}` : 'remove it',
        })
      }
      if (command.includes('\n')) {
        reporter.report(declared, {
          path: ['reload', name],
          code: 'invalid_value',
          message: `reload.${name} spans several lines`,
          hint: 'write one command line (join steps with && or ;)',
        })
      }
    }
  }
}
