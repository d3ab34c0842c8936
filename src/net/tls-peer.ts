// Mutual TLS on the cluster RPC (issue 18 item 1): a request is served only when its connection
// presented a certificate signed by security.tls_ca that names the node the request claims to
// come from (x-scratchbird-node-id) — so the cluster secret alone, or a certificate of another
// node, does not make a peer. The check runs per request (node.listen may serve clients, who
// have no certificate, beside the RPC), its answer cached per connection.
import type { IncomingMessage } from 'node:http'
import { TLSSocket } from 'node:tls'
import { ScratchBirdError } from '../core/errors'
import type { NodeId } from '../core/ids'
import { hostPort } from './peer-address'
import { checkCertNode } from './tls-names'
import type { TlsFailureReason, TlsFailureReporter, TlsListener } from './tls-failures'

type Verdict = { readonly node: NodeId } | { readonly reason: TlsFailureReason, readonly why: string }

function verdictOf (socket: TLSSocket): Verdict {
  const cert = socket.getPeerCertificate()
  if (cert === null || Object.keys(cert).length === 0) return { reason: 'no_certificate', why: 'no client certificate' }
  if (!socket.authorized) return { reason: 'untrusted_certificate', why: `its certificate is not trusted (${String(socket.authorizationError)}): not signed by security.tls_ca, or expired` }
  const named = checkCertNode(cert, undefined)
  return named.ok ? { node: named.node } : { reason: 'wrong_node', why: named.why }
}

export function rpcPeerCheck (failures: TlsFailureReporter, listener: TlsListener): (req: IncomingMessage, from: NodeId) => ScratchBirdError | undefined {
  const verdicts = new WeakMap<TLSSocket, Verdict>()
  return (req, from) => {
    const socket = req.socket
    const peer = hostPort(socket.remoteAddress, socket.remotePort)
    let v: Verdict
    if (!(socket instanceof TLSSocket)) {
      v = { reason: 'plaintext', why: 'not a TLS connection' }
    } else {
      v = verdicts.get(socket) ?? verdictOf(socket)
      verdicts.set(socket, v)
    }
    if ('node' in v && v.node !== from) v = { reason: 'wrong_node', why: `the certificate names node ${v.node}, the request claims node ${from}` }
    if ('node' in v) return undefined
    failures.report(listener, v.reason, peer, `cluster RPC claiming node ${from}: ${v.why}`)
    return new ScratchBirdError('SB_TLS_PEER_REFUSED', `cluster RPC refused: ${v.why}`, { reason: v.reason, node_id: from })
  }
}
