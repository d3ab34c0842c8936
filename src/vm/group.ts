// GROUP BY support for scan drivers: a bounded table from group-key values to the group's
// aggregate states. Keys are compared through their canonical key encoding (the primary-key
// mapping), so values SQL calls equal — 1.5 and 1.50, -0 and 0, every NaN — share one group, and
// NULLs group together as SQL requires.
import { ScratchBirdError } from '../core/errors'
import { encodeTuple, keyString, type TupleValue } from '../storage/keys'
import { encodeDecimalKey } from '../types/key-codec'
import { Decimal } from '../types/decimal'
import { SqlDate, SqlTimestamp } from '../types/datetime'
import { SqlUuid, type SqlValue } from '../types/values'
import type { AggState } from './aggregates'

/** Groups one shard may hold for one statement before it gives up (memory bound). */
export const MAX_GROUPS = 1_000_000

function keyElement (v: SqlValue): TupleValue {
  if (v === null || typeof v !== 'object') return typeof v === 'number' && Object.is(v, -0) ? 0 : v
  if (v instanceof Decimal) return encodeDecimalKey(v)
  if (v instanceof SqlUuid) return { uuid: v.uuid }
  if (v instanceof SqlDate) return BigInt(v.days)
  if (v instanceof SqlTimestamp) return v.micros
  return v
}

/** A string equal for two value lists exactly when they are in the same group. */
export function groupKey (values: readonly SqlValue[]): string {
  return keyString(encodeTuple(values.map(keyElement)))
}

export interface Group {
  readonly key: readonly SqlValue[]
  readonly aggregates: AggState[]
}

export class GroupTable {
  private readonly groups = new Map<string, Group>()

  constructor (private readonly newAggregates: () => AggState[], private readonly maxGroups = MAX_GROUPS) {}

  /** The group of `key`, created (with fresh states) on first sight. */
  get (key: readonly SqlValue[]): Group {
    const k = groupKey(key)
    let g = this.groups.get(k)
    if (g === undefined) {
      if (this.groups.size >= this.maxGroups) {
        throw new ScratchBirdError('SB_PROGRAM_LIMIT_EXCEEDED', `GROUP BY produced more than ${this.maxGroups} groups`, { limit: this.maxGroups })
      }
      g = { key: key.slice(), aggregates: this.newAggregates() }
      this.groups.set(k, g)
    }
    return g
  }

  get size (): number { return this.groups.size }

  /** Groups in first-seen order. */
  values (): IterableIterator<Group> { return this.groups.values() }
}
