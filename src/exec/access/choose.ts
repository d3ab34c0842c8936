// The table's access method, chosen from its replication mode — the only place outside these
// access files that looks at the mode. Leaderless tables need the node's quorum replication;
// on a single node (no env.quorum) there is one replica, and they are MGA tables like any other.
// A session's temporary table is no replicated table at all: its access is its own (temp-access.ts).
import type { TableInfo } from '../../catalog/catalog'
import type { QuorumPort } from '../env'
import { LwwAccess, type LwwPorts } from './lww'
import { MgaAccess, type MgaPorts } from './mga'
import type { TableAccess } from './table-access'
import { tempAccessOf } from '../temp-access'

export type AccessPorts = MgaPorts & LwwPorts & Pick<QuorumPort, 'quorum'>

/** Per env, each table version's access: a TableInfo is immutable (a DDL makes a new one), so its access is chosen once. */
const chosen = new WeakMap<AccessPorts, WeakMap<TableInfo, TableAccess>>()

export function tableAccess (env: AccessPorts, table: TableInfo): TableAccess {
  // A session's temporary table has one access, made with it (exec/temp-access.ts).
  const temp = tempAccessOf(table)
  if (temp !== undefined) return temp
  let forEnv = chosen.get(env)
  if (forEnv === undefined) chosen.set(env, forEnv = new WeakMap())
  let access = forEnv.get(table)
  if (access === undefined) forEnv.set(table, access = choose(env, table))
  return access
}

/** Does `table` replicate by leaderless quorum here (in a cluster), versions and all (a table move reads it so)? */
export function quorumTable (env: Pick<QuorumPort, 'quorum'>, table: TableInfo): boolean {
  return table.replication.replication_mode === 'leaderless_quorum' && env.quorum !== undefined
}

function choose (env: AccessPorts, table: TableInfo): TableAccess {
  switch (table.replication.replication_mode) {
    case 'leaderless_quorum':
      if (env.quorum !== undefined) return new LwwAccess(env, env.quorum, table)
      return new MgaAccess(env, table)
    case 'primary_replica':
      return new MgaAccess(env, table)
  }
}
