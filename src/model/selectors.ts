import type {Node, NodeSelector} from './desired.js'

export function nodeMatches(selector: NodeSelector, node: Node): boolean {
  switch (selector.kind) {
    case 'all':
      return true
    case 'names':
      return selector.names.includes(node.name)
    case 'labels':
      return Object.entries(selector.labels).every(([key, value]) => node.labels[key] === value)
  }
}

export function describeSelector(selector: NodeSelector): string {
  switch (selector.kind) {
    case 'all':
      return 'all nodes'
    case 'names':
      return selector.names.join(', ')
    case 'labels':
      return Object.entries(selector.labels)
        .map(([key, value]) => `${key}=${value}`)
        .join(',')
  }
}
