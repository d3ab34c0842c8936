import { removeMixedScenario } from './remove-mixed-scenario'

// REMOVE NODE of a dead node with a Mode 1 table of N = 2 next to a leaderless table of N = 3
// (W = R = 2): a Mode 1 replica is added on a node that already holds leaderless rows of the shard.
// Session 15 lost an acknowledged leaderless row so: the new replica took its own commit log —
// which held its leaderless applies, logged while the shard was not replicated there — as the
// group's and truncated it ("truncated its log after LSN 0 (7 entries the new primary lacks)"),
// and a snapshot install wiped the shard's whole row space. Now a Mode 1 group's truncation,
// snapshot and apply leave the leaderless tables' rows alone (storage/kept-tables.ts; unit tests in
// tests/unit/storage/kept-tables.test.ts fail without it). Whether this run meets the loss depends
// on timing (a later leaderless fill can put the rows back), so it guards the scenario end to end.

removeMixedScenario({ mode1N: 2, lq: { n: 3, w: 2, r: 2 }, dump: '/tmp/mrm-lq3' })
