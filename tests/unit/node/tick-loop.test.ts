import { describe, expect, it } from 'vitest'
import { TickLoop } from '../../../src/node/tick-loop'

// The single-flight round loop of the leaderless bootstrap and move fills (src/node/tick-loop.ts).

describe('TickLoop', () => {
  it('never runs two rounds at once, and stop() waits for the one in flight', async () => {
    let running = 0
    let most = 0
    let rounds = 0
    let release: () => void = () => {}
    const firstHeld = new Promise<void>(resolve => { release = resolve })
    let started: () => void = () => {}
    const firstStarted = new Promise<void>(resolve => { started = resolve })
    const loop = new TickLoop(1, async () => {
      running++
      most = Math.max(most, running)
      rounds++
      if (rounds === 1) {
        started()
        await firstHeld
      }
      running--
    })
    loop.start()
    await firstStarted
    // Many timer ticks pass while the first round is held: they skip.
    await new Promise(resolve => setTimeout(resolve, 30))
    expect(rounds).toBe(1)
    let stopped = false
    const stopping = loop.stop().then(() => { stopped = true })
    expect(loop.stopped).toBe(true)
    await Promise.resolve()
    expect(stopped).toBe(false)
    release()
    await stopping
    expect(most).toBe(1)
    const after = rounds
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(rounds).toBe(after)
  })
})
