import { removeMixedScenario } from './remove-mixed-scenario'

// Issue 20 on real processes: REMOVE NODE of a node gone for good when the cluster holds BOTH a
// leaderless_quorum table (N = 3, W = R = 2) and a Mode 1 table (N = 3): the scenario and what
// it checks are in remove-mixed-scenario.ts; membership-remove-mixed-n2.test.ts runs it with N = 2.

removeMixedScenario({ mode1N: 3, lq: { n: 3, w: 2, r: 2 }, dump: '/tmp/mrm' })
