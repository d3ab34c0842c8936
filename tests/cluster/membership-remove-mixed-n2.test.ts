import { removeMixedScenario } from './remove-mixed-scenario'

// Issue 20 on real processes: REMOVE NODE of a node gone for good with a leaderless_quorum table
// and a Mode 1 table of replication_factor 2 (remove-mixed-scenario.ts says what is checked).
// Before layout.removing (session 15) it never ended: n stayed a member (leaving), so no survivor
// counted it gone (forced-removal.ts goneVoters), and a group {a, n} could neither elect nor
// commit without n — its shard took no write and never moved, so the decider never marked n left.
//
// The leaderless table keeps N = 2 here (W = 2, R = 1), so each shard's new Mode 1 replica is its
// new leaderless one too; membership-remove-mixed-lq3.test.ts runs it with the leaderless table at
// N = 3 (SB_MIXED_REMOVE_LQ3=1 here does the same).

const LQ3 = process.env.SB_MIXED_REMOVE_LQ3 !== undefined
removeMixedScenario({ mode1N: 2, lq: LQ3 ? { n: 3, w: 2, r: 2 } : { n: 2, w: 2, r: 1 }, dump: '/tmp/mrm2' })
