/**
 * 200 nodes over the memory network: random delivery order, a partition that
 * heals. Every intent reaches every node connected to its origin, each node
 * processes it once, and the declarer's silence set is exactly its targets
 * minus the nodes that answered by the deadline. Prints its seed.
 */
import { expect, it } from 'vitest'
import { createSim, entriesOf, pickSeed } from './support/sim.ts'
import type { Ir3Node } from '../src/core/node.ts'

const N = Number(process.env['SIM_NODES'] ?? 200)

async function checkIntent(origin: Ir3Node, id: string, reach: Set<string>, nodes: Ir3Node[], seed: number) {
  const where = `seed ${seed}, intent ${id.slice(0, 8)} from ${origin.id.slice(0, 8)}`
  for (const n of nodes) {
    if (n.id === origin.id) continue
    const got = (await entriesOf(n, 'intent-received')).filter((e) => e.body['id'] === id)
    if (reach.has(n.id))
      expect(got.length, `${where}: node ${n.id.slice(0, 8)} processed it ${got.length} times`).toBe(1)
    else expect(got.length, `${where}: unreachable node ${n.id.slice(0, 8)} got it`).toBe(0)
  }
  const declared = (await entriesOf(origin, 'intent-declared')).find((e) => e.body['id'] === id)!
  const targets = new Set(declared.body['targets'] as string[])
  const deadline = declared.body['deadline'] as number
  const onTime = new Set(
    (await origin.entries(0, origin.length))
      .filter((e) => e.kind === 'response-received' && (e.body as { intent: string }).intent === id && e.t <= deadline)
      .map((e) => (e.body as { from: string }).from),
  )
  const silent = new Set(
    (await entriesOf(origin, 'silence-recorded'))
      .filter((e) => e.body['intent'] === id)
      .map((e) => e.body['peer'] as string),
  )
  const expected = [...targets].filter((t) => !onTime.has(t)).sort()
  expect([...silent].sort(), `${where}: silence != targets - responders`).toEqual(expected)
  return { targets: targets.size, answered: onTime.size, silent: silent.size }
}

it(`${N} nodes: intents reach every connected node once; silence is exactly targets minus responders, across a healed partition`, async () => {
  const seed = pickSeed('mesh-sim')
  const sim = await createSim({ seed, latencyMs: [1, 25] })
  for (let i = 0; i < N; i++) {
    await sim.add()
    if (i % 10 === 9) await sim.run(100)
  }
  await sim.run(15_000, 10)
  const nodes = sim.nodes
  const all = sim.component(nodes[0]!)
  expect(all.size, `seed ${seed}: mesh not connected after join`).toBe(N)
  const degrees = nodes.map((n) => n.mesh!.readyPeers().length)
  expect(Math.min(...degrees), `seed ${seed}: a node without peers`).toBeGreaterThan(0)
  expect(Math.max(...degrees), `seed ${seed}: degree over the cap`).toBeLessThanOrEqual(10)

  // Partition into halves (links across close, the server won't relay across).
  const left = nodes.slice(0, N / 2)
  const right = nodes.slice(N / 2)
  sim.net.partition(
    left.map((n) => n.id),
    right.map((n) => n.id),
  )
  await sim.run(8_000, 10)
  const origin1 = left[3]!
  const reach1 = sim.component(origin1, left)
  const i1 = origin1.declare('ping', { during: 'partition' }, { ttl: 16, deadlineMs: 6_000 })
  await sim.run(8_000, 10)
  const r1 = await checkIntent(origin1, i1.id, reach1, nodes, seed)
  expect(r1.answered, `seed ${seed}`).toBeGreaterThan(0)

  // Heal; the halves find each other again through the server and gossip.
  sim.net.heal()
  await sim.run(45_000, 10)
  expect(sim.component(nodes[0]!).size, `seed ${seed}: mesh not reconnected after heal`).toBe(N)

  const origins = [nodes[7]!, nodes[N - 5]!, nodes[N / 2]!]
  const declared = origins.map((o) => ({
    o,
    id: o.declare('ping', { after: 'heal' }, { ttl: 16, deadlineMs: 8_000 }).id,
  }))
  const reach = sim.component(nodes[0]!)
  await sim.run(10_000, 10)
  for (const { o, id } of declared) {
    const r = await checkIntent(o, id, reach, nodes, seed)
    expect(r.answered / r.targets, `seed ${seed}: only ${r.answered} of ${r.targets} answered`).toBeGreaterThan(0.9)
  }
  const relayed = nodes.reduce((n, x) => n + x.intents!.stats.responsesSent.relayed, 0)
  const direct = nodes.reduce((n, x) => n + x.intents!.stats.responsesSent.direct, 0)
  const overBudget = nodes.reduce((n, x) => n + x.mesh!.stats.dropped.budget, 0)
  console.log(
    `mesh-sim: seed ${seed}: ${direct} answers direct, ${relayed} relayed; links created ${sim.net.stats.linksCreated}; ${overBudget} records or signals over budget`,
  )
}, 240_000)
