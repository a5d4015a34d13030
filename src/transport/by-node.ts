import type {Node} from '../model/desired.js'
import type {ConnectOptions, NodeConnection, NodeTransport} from './types.js'

/** Reaches each node the way it declares: over SSH, or locally for the machine nexus runs on. */
export class TransportByNode implements NodeTransport {
  constructor(private readonly transports: {readonly ssh: NodeTransport; readonly local: NodeTransport}) {}

  connect(node: Node, options: ConnectOptions): Promise<NodeConnection> {
    return (node.transport === 'local' ? this.transports.local : this.transports.ssh).connect(node, options)
  }
}
