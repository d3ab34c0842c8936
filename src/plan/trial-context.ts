// The VM context of expressions evaluated outside any statement: a column DEFAULT tried at CREATE
// TABLE, a domain's DEFAULT tried and its CHECKs run (plan/domain-rules.ts).
import { ManualClock } from '../core/clock'
import { Hlc } from '../core/hlc'
import { SeededRng } from '../core/rng'
import { UuidV7Generator } from '../core/uuid'
import type { VmContext } from '../vm/vm'

let context: VmContext | undefined

/**
 * A fixed clock and generators of its own: such an evaluation neither reads the wall clock nor
 * advances the node's HLC, and is the same on every node.
 */
export function trialContext (): VmContext {
  if (context === undefined) {
    const clock = new ManualClock()
    context = { params: [], clock, hlc: new Hlc({ nodeId: 1, clock, rng: new SeededRng(1) }), uuidV7: new UuidV7Generator(clock, new SeededRng(2)) }
  }
  return context
}
