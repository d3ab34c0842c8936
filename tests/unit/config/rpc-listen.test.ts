import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import { loadConfig } from '../../../src/core/config/load'

function problems (text: string): string[] {
  try { loadConfig({ text }) } catch (e) {
    if (isScratchBirdError(e, 'SB_CONFIG_INVALID')) return e.details.problems as string[]
    throw e
  }
  return []
}

describe('node.rpc_listen', () => {
  it('is unset by default (the RPC shares node.listen) and takes a listen address', () => {
    expect(loadConfig({ text: '' }).node.rpc_listen).toBeUndefined()
    expect(loadConfig({ text: 'node: {rpc_listen: "10.0.0.1:7000"}' }).node.rpc_listen).toBe('10.0.0.1:7000')
    expect(loadConfig({ text: 'node: {listen: "127.0.0.1:0", rpc_listen: "127.0.0.1:0"}' }).node.rpc_listen).toBe('127.0.0.1:0')
  })

  it('refuses node.listen\'s own address and a bad address', () => {
    expect(problems('node: {listen: "127.0.0.1:8080", rpc_listen: "127.0.0.1:8080"}')).toEqual([
      'node.rpc_listen: expected an address other than node.listen (127.0.0.1:8080), or nothing to serve the RPC on node.listen, got "127.0.0.1:8080"'
    ])
    expect(problems('node: {rpc_listen: "nope"}')[0]).toMatch(/^node\.rpc_listen: expected a HOST:PORT address/)
  })
})
