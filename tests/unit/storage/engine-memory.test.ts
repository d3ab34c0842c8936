import { MemoryKv, MemoryStore } from '../../../src/storage/kv-memory'
import { registerEngineCompliance } from './compliance'

// The in-memory store outlives its handles, so "reopen" and "crash" see what was written.
registerEngineCompliance('in-memory', async () => {
  const store = new MemoryStore()
  return {
    open: async () => MemoryKv.open(store),
    destroy: async () => {}
  }
})
