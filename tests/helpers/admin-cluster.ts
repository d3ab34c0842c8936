import { afterAll, beforeAll } from 'vitest'
import { startCluster, type Cluster } from './cluster-harness'

// A cluster with a bootstrap administrator (security.bootstrap_admin 'admin', password from the
// environment, as an operator starts one), started once per file: the cluster tests of users,
// grants and tokens, which authenticate every statement.

export const ADMIN_PASSWORD = 'adm pw'
/** The Authorization header of the bootstrap administrator. */
export const ADMIN = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')

export interface AdminCluster {
  readonly cluster: Cluster
  /** POST /v1/sql through node `id` with this Authorization header. */
  sql: (id: number, text: string, authorization: string) => Promise<{ status: number, body: any }>
}

export function useAdminCluster (nodes: number): AdminCluster {
  let cluster: Cluster | undefined
  beforeAll(async () => {
    cluster = await startCluster({
      nodes,
      extraConfig: () => ({ node: { durability: 'none' }, security: { bootstrap_admin: 'admin' } }),
      env: () => ({ SCRATCHBIRD_ADMIN_PASSWORD: ADMIN_PASSWORD })
    })
  }, 180_000)
  afterAll(async () => { await cluster?.close() })
  const started = (): Cluster => {
    if (cluster === undefined) throw new Error('the admin cluster is not started (use it inside a test)')
    return cluster
  }
  return {
    get cluster () { return started() },
    sql: async (id, text, authorization) => {
      const r = await started().http(id, 'POST', '/v1/sql', { sql: text }, { headers: { authorization } })
      return { status: r.status, body: r.body }
    }
  }
}
