// Which node a certificate names (issue 18 item 1, mutual TLS between nodes). Pure: it reads the
// fields Node's tls module reports for a peer certificate (subject.CN, subjectaltname) and
// decides; the listeners and the RPC client (tls-peer.ts, rpc/client.ts) act on the answer.
//
// A node certificate names node N by any of these (the forms README "TLS" tells operators to use):
//   SAN URI:scratchbird://node/N   (preferred: cannot be mistaken for a host name)
//   SAN DNS:nodeN                  (the exact name; node2.example.com names a host, not a node)
//   subject CN=nodeN
// Every form present must agree: a certificate naming two nodes names none (it could be replayed
// as either). A certificate naming no node cannot carry cluster RPC, however it chains to tls_ca —
// so a client certificate or a stolen web-server certificate from the same CA does not make a node.
import { isNodeId, type NodeId } from '../core/ids'

/** The subset of tls.PeerCertificate (and X509Certificate) the rules read. */
export interface CertificateNames {
  readonly subject?: { readonly CN?: string | readonly string[] } | null
  /** "DNS:a, URI:b, IP Address:c" as Node reports it; absent without the extension. */
  readonly subjectaltname?: string
}

const NODE_NAME = /^node([1-9][0-9]{0,4})$/
const NODE_URI = /^scratchbird:\/\/node\/([1-9][0-9]{0,4})$/

function idOf (m: RegExpExecArray | null): NodeId | undefined {
  if (m === null) return undefined
  const id = Number(m[1])
  return isNodeId(id) ? id : undefined
}

/** The entries of a subjectaltname string: [type, value] pairs (Node quotes values holding commas as JSON strings). */
export function altNames (san: string | undefined): Array<[string, string]> {
  if (san === undefined || san === '') return []
  const out: Array<[string, string]> = []
  // "DNS:a, URI:\"b, c\"" — a value with a comma or quote is JSON-quoted by Node (CVE-2021-44533).
  const re = /(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g
  for (let m = re.exec(san); m !== null; m = re.exec(san)) {
    let v = m[2]!
    if (v.startsWith('"')) {
      try { v = JSON.parse(v) as string } catch { continue }
    }
    out.push([m[1]!, v])
  }
  return out
}

/** Every node id the certificate names, in any of the accepted forms. */
export function certNodeIds (cert: CertificateNames): Set<NodeId> {
  const ids = new Set<NodeId>()
  const add = (id: NodeId | undefined): void => { if (id !== undefined) ids.add(id) }
  const cn = cert.subject?.CN
  for (const name of cn === undefined ? [] : typeof cn === 'string' ? [cn] : cn) add(idOf(NODE_NAME.exec(name)))
  for (const [type, value] of altNames(cert.subjectaltname)) {
    if (type === 'URI') add(idOf(NODE_URI.exec(value)))
    else if (type === 'DNS') add(idOf(NODE_NAME.exec(value)))
  }
  return ids
}

export type NodeNameCheck =
  | { readonly ok: true, readonly node: NodeId }
  | { readonly ok: false, readonly why: string, readonly named: readonly NodeId[] }

/**
 * Whether `cert` names node `expected` and no other. `expected` undefined: any one node (a peer
 * reached at an address cluster.nodes does not list).
 */
export function checkCertNode (cert: CertificateNames, expected: NodeId | undefined): NodeNameCheck {
  const named = [...certNodeIds(cert)].sort((a, b) => a - b)
  if (named.length === 0) return { ok: false, why: 'the certificate names no node (expected CN=nodeN, SAN DNS:nodeN or SAN URI:scratchbird://node/N)', named }
  if (named.length > 1) return { ok: false, why: `the certificate names several nodes (${named.join(', ')})`, named }
  const node = named[0]!
  if (expected !== undefined && node !== expected) return { ok: false, why: `the certificate names node ${node}, not node ${expected}`, named }
  return { ok: true, node }
}
