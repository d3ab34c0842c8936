import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { NODE_EXAMPLE, renderDefaultYaml, renderManPage, roffEscape, SEED_CLUSTER_EXAMPLE } from '../../../src/core/config/docs'
import { defaultConfig, describeConfigKeys, loadConfig } from '../../../src/core/config/load'

const repoFile = (name: string) => resolve(import.meta.dirname, '../../..', name)

describe('generated configuration docs', () => {
  it('etc/scratchbird.yaml is what the schema generates (run: npx tsx scripts/gen-config-docs.ts)', () => {
    expect(readFileSync(repoFile('etc/scratchbird.yaml'), 'utf8')).toBe(renderDefaultYaml())
  })

  it('man/scratchbird.yaml.5 is what the schema generates (run: npx tsx scripts/gen-config-docs.ts)', () => {
    expect(readFileSync(repoFile('man/scratchbird.yaml.5'), 'utf8')).toBe(renderManPage())
  })

  it('the generated YAML loads to the defaults', () => {
    expect(loadConfig({ text: renderDefaultYaml() })).toEqual(defaultConfig())
  })

  it('documents every key, with a description, in both documents', () => {
    const yaml = renderDefaultYaml()
    const man = renderManPage()
    const keys = describeConfigKeys()
    expect(keys.length).toBeGreaterThan(50)
    for (const k of keys) {
      expect(k.description, k.path).not.toBe('')
      expect(man, k.path).toContain(`.B ${roffEscape(k.path)}\n`)
      const leaf = k.path.split(/[.[\]]+/).filter(Boolean).at(-1)!
      expect(yaml, k.path).toMatch(new RegExp(`^ *(# *)?(#   )?${leaf}[:( ]`, 'm'))
    }
  })

  it('the man page has the usual sections and its examples are valid configurations', () => {
    const man = renderManPage()
    for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'EXAMPLES', 'FILES', 'SEE ALSO']) {
      expect(man).toContain(`.SH ${section}\n`)
    }
    expect(man).toContain('.BR scratchbird (1)')
    expect(loadConfig({ text: `${SEED_CLUSTER_EXAMPLE}\n${NODE_EXAMPLE}` }).node.id).toBe(2)
  })

  it('its example is the seed cluster.yaml fixture as written (default_factor 2: Mode 1 keeps two copies)', () => {
    const seed = readFileSync(resolve(import.meta.dirname, '../../fixtures/config/seed-cluster.yaml'), 'utf8')
    expect(SEED_CLUSTER_EXAMPLE).toBe(seed)
  })

  it('the man page is well-formed roff (when groff is installed)', () => {
    let groff = true
    try { execFileSync('groff', ['--version'], { stdio: 'ignore' }) } catch { groff = false }
    if (!groff) return
    const warnings = execFileSync('groff', ['-man', '-Tutf8', '-ww', '-z', repoFile('man/scratchbird.yaml.5')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    expect(warnings).toBe('')
  })

  it('escapes roff control characters', () => {
    expect(roffEscape('.start\n\'quote\na-b \\ ≥ é')).toBe('\\&.start\n\\&\'quote\na\\-b \\e \\(>= \\[u00E9]')
  })
})
