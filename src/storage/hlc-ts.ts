import { uuidv8Counter, uuidv8Timestamp, type Hlc } from '../core/hlc'
import { hlcTs, type HlcTs } from './types'

/** A fresh local HLC event as the engine's HlcTs: above every stamp this node issued so far. */
export function nextHlcTs (hlc: Hlc): HlcTs {
  const id = hlc.generate()
  return hlcTs(uuidv8Timestamp(id), uuidv8Counter(id))
}
