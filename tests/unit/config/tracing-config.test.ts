import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../../src/core/config/load'

// The tracing section (issue 18 item 8): off by default, and a bad value is a clear problem at start.

describe('tracing configuration', () => {
  it('is off by default with service name scratchbird', () => {
    expect(loadConfig({ text: '' }).tracing).toEqual({ otlp_endpoint: '', sample_ratio: 1, service_name: 'scratchbird', queue_spans: 2048 })
  })

  it('takes an OTLP/HTTP endpoint and a ratio', () => {
    expect(loadConfig({ text: 'tracing: {otlp_endpoint: "http://127.0.0.1:4318/v1/traces", sample_ratio: 0.25}' }).tracing)
      .toMatchObject({ otlp_endpoint: 'http://127.0.0.1:4318/v1/traces', sample_ratio: 0.25 })
  })

  it('refuses a non-http endpoint, a ratio outside 0..1 and a tiny queue, naming each', () => {
    expect(() => loadConfig({ text: 'tracing: {otlp_endpoint: "ftp://x", sample_ratio: 1.5, queue_spans: 1}' }))
      .toThrow(expect.objectContaining({
        code: 'SB_CONFIG_INVALID',
        message: expect.stringMatching(/tracing\.otlp_endpoint: expected an http:\/\/ or https:\/\/ URL[\s\S]*tracing\.sample_ratio: expected a number between 0 and 1[\s\S]*tracing\.queue_spans/)
      }))
  })
})
