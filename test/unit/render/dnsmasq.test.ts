import {describe, expect, it} from 'vitest'

import type {Desired, Node, Service} from '../../../src/model/desired.js'
import {Fleet} from '../../../src/model/fleet.js'
import type {StateValues} from '../../../src/model/state-values.js'
import {renderDnsmasq} from '../../../src/render/dnsmasq.js'
import {desired, ip, node, state} from '../../helpers/fixture.js'
import {expectGolden} from '../../helpers/golden.js'

const git = desired.services[0]!

const intranet: Service = {
  name: 'intranet',
  domains: ['Intranet.Corp.Example', '*.apps.corp.example'],
  target: {addresses: [ip('10.20.0.20')], ports: [{from: 443, to: 443}], protocol: 'tcp'},
  access: {groups: [], users: ['bob']},
  nodes: {kind: 'all'},
}

function render(d: Desired = desired, s: StateValues = state): string | undefined {
  const fleet = new Fleet(d, s)
  return renderDnsmasq(fleet, fleet.nodes.get('fra-1')!)
}

function renderText(d: Desired = desired, s: StateValues = state): string {
  const text = render(d, s)
  if (text === undefined) throw new Error('expected a dnsmasq config')
  return text
}

function withDns(dns: Node['dns']): Desired {
  return {...desired, nodes: [{...node, dns}]}
}

function lines(text: string, prefix: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(prefix))
}

describe('renderDnsmasq', () => {
  it('matches the golden file', () => {
    expectGolden('dnsmasq/fra-1.conf', renderText())
  })

  it('matches the golden file of a node with an IPv4-only service', () => {
    expectGolden('dnsmasq/fra-1-v4-only.conf', renderText({...desired, services: [intranet, git]}))
  })

  it('renders nothing when DNS is disabled or has nowhere to listen', () => {
    expect(render(withDns({...node.dns, enabled: false}))).toBeUndefined()
    expect(render(withDns({...node.dns, listen: []}))).toBeUndefined()
  })

  it('binds dynamically, so a tunnel interface that appears later is still served', () => {
    const text = renderText()
    expect(text).toContain('\nbind-dynamic\n')
    expect(text).not.toContain('bind-interfaces')
    expect(lines(text, 'listen-address=')).toEqual(['listen-address=10.66.0.1', 'listen-address=fd66::1'])
  })

  it('keeps upstreams in the declared order, with their #port', () => {
    const text = renderText(withDns({...node.dns, upstreams: ['9.9.9.9#9953', '2606:4700:4700::1111', '1.1.1.1']}))
    expect(lines(text, 'server=')).toEqual(['server=9.9.9.9#9953', 'server=2606:4700:4700::1111', 'server=1.1.1.1'])
  })

  it('answers both families of a dual-stack service and needs no local= guard', () => {
    const text = renderText()
    expect(lines(text, 'address=')).toEqual([
      'address=/*.wiki.corp.example/10.10.0.10',
      'address=/*.wiki.corp.example/fd10::10',
      'address=/git.corp.example/10.10.0.10',
      'address=/git.corp.example/fd10::10',
    ])
    expect(lines(text, 'local=')).toEqual([])
  })

  it('guards the missing family with local= so the real address never leaks from upstream', () => {
    const v6only: Service = {
      ...intranet,
      name: 'v6only',
      domains: ['six.corp.example'],
      target: {...intranet.target, addresses: [ip('fd20::20')]},
    }
    const text = renderText({...desired, services: [v6only, intranet, git]})
    expect(lines(text, 'local=')).toEqual([
      'local=/*.apps.corp.example/',
      'local=/intranet.corp.example/',
      'local=/six.corp.example/',
    ])
    expect(text).toContain('address=/intranet.corp.example/10.20.0.20\nlocal=/intranet.corp.example/\n')
    expect(text).not.toContain('local=/git.corp.example/')
  })

  it('sorts services by name and domains within each, whatever the declaration order', () => {
    const text = renderText({...desired, services: [intranet, git]})
    expect(lines(text, '# service=')).toEqual(['# service=git', '# service=intranet'])
    expect(renderText({...desired, services: [git, {...intranet, domains: [...intranet.domains].reverse()}]})).toBe(
      text,
    )
  })

  it('leaves out services that are not on the node', () => {
    const elsewhere: Service = {...intranet, nodes: {kind: 'names', names: ['ams-1']}}
    const text = renderText({...desired, services: [git, elsewhere]})
    expect(text).not.toContain('intranet')
  })

  it('renders a resolver without services', () => {
    const text = renderText({...desired, services: []})
    expect(lines(text, 'address=')).toEqual([])
    expect(text.endsWith('server=9.9.9.9#9953\n')).toBe(true)
  })

  it('adds the preview notice to the header of a preview render', () => {
    expect(renderText(desired, {...state, preview: true})).toMatch(/^# rendered by nexus -- do not edit\n# PREVIEW: /)
  })
})
