import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../../src/core/config/load'
import { authStartPlan, bootstrapAdmin, isLoopbackListen } from '../../../src/node/auth-setup'

const cfg = (doc: Record<string, unknown>) => validateConfig(doc)

describe('client authentication at start', () => {
  it('knows loopback listeners', () => {
    for (const l of ['127.0.0.1:8080', '127.1.2.3:0', 'localhost:5432', '[::1]:80', 'off']) expect([l, isLoopbackListen(l)]).toEqual([l, true])
    for (const l of ['0.0.0.0:8080', '10.0.0.5:5432', '[::]:80', 'db.example.com:5432']) expect([l, isLoopbackListen(l)]).toEqual([l, false])
  })

  it('runs open on loopback without users (with a WARNING), and refuses trust or an open node beyond loopback', () => {
    expect(authStartPlan(cfg({}), false, null)).toEqual({ openAllowed: true, warnings: [expect.stringMatching(/^no users exist yet/)] })
    expect(authStartPlan(cfg({}), true, null)).toEqual({ openAllowed: true, warnings: [] })
    expect(authStartPlan(cfg({ security: { auth: 'trust' } }), true, null).warnings).toEqual([expect.stringMatching(/^security\.auth is trust/)])
    const exposed = { node: { listen: '0.0.0.0:8080' } }
    expect(() => authStartPlan(cfg({ ...exposed, security: { auth: 'trust' } }), true, null)).toThrow(expect.objectContaining({ code: 'SB_CONFIG_INVALID', details: { key: 'security.auth' } }))
    expect(() => authStartPlan(cfg(exposed), false, null)).toThrow(expect.objectContaining({ code: 'SB_CONFIG_INVALID', details: { key: 'security.bootstrap_admin' } }))
    expect(authStartPlan(cfg(exposed), false, { name: 'admin', password: 'x' })).toEqual({ openAllowed: false, warnings: [] })
    expect(authStartPlan(cfg(exposed), true, null)).toEqual({ openAllowed: false, warnings: [] })
    expect(authStartPlan(cfg({ security: { pg_password: 'legacy' } }), false, null).warnings[0]).toMatch(/pg_password is deprecated: it applies only until the first user exists/)
  })

  it('reads the bootstrap administrator\'s password from its file or the environment, and refuses neither', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-auth-'))
    writeFileSync(join(dir, 'pw'), '  s3cret  \nignored\n')
    expect(bootstrapAdmin(cfg({}), {})).toBeNull()
    expect(bootstrapAdmin(cfg({ security: { bootstrap_admin: 'admin', bootstrap_admin_password_file: join(dir, 'pw') } }), {})).toEqual({ name: 'admin', password: 's3cret' })
    expect(bootstrapAdmin(cfg({ security: { bootstrap_admin: 'admin' } }), { SCRATCHBIRD_ADMIN_PASSWORD: 'env pw' })).toEqual({ name: 'admin', password: 'env pw' })
    expect(() => bootstrapAdmin(cfg({ security: { bootstrap_admin: 'admin' } }), {})).toThrow(expect.objectContaining({ code: 'SB_CONFIG_INVALID' }))
    expect(() => bootstrapAdmin(cfg({ security: { bootstrap_admin: 'admin', bootstrap_admin_password_file: join(dir, 'missing') } }), {})).toThrow(/cannot read/)
    expect(() => cfg({ security: { bootstrap_admin: 'Not A Name' } })).toThrow(expect.objectContaining({ code: 'SB_CONFIG_INVALID' }))
  })
})
