// Which listener serves what (issue 18 item 3, DESIGN §7 "on its own listener"): with
// node.rpc_listen set, the client listener (node.listen) serves the client API only and the RPC
// listener the cluster RPC only, so a firewall can keep clients off the RPC. A request for the
// other listener's paths is refused with 404 SB_NOT_FOUND naming where it is served, rather than
// the bare "no such endpoint", so a misconfigured peer or client says what is wrong.
import { ScratchBirdError } from '../core/errors'
import type { Handler, Routes } from './http-server'

function refuse (message: string): Handler {
  return () => { throw new ScratchBirdError('SB_NOT_FOUND', message) }
}

/** Every method of `paths`, refused with `message`. */
function refused (paths: readonly string[], message: string): Routes {
  const h = refuse(message)
  return Object.fromEntries(paths.map(p => [p, { GET: h, POST: h, PUT: h, DELETE: h }]))
}

/** The client listener's routes: the client API, and the RPC path refused (the RPC has its own listener). */
export function clientListenerRoutes (client: Routes, rpcPaths: readonly string[]): Routes {
  return { ...refused(rpcPaths, 'cluster RPC is served on node.rpc_listen, not on the client listener (node.listen)'), ...client }
}

/** The RPC listener's routes: the RPC, and the client API's paths refused. */
export function rpcListenerRoutes (rpc: Routes, clientPaths: readonly string[]): Routes {
  return { ...refused(clientPaths, 'the client API is served on node.listen, not on the cluster RPC listener (node.rpc_listen)'), ...rpc }
}
