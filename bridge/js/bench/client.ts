/**
 * The client's figures through a real gateway and daemon (started here, as in the tests):
 *
 *   - pipelined Agent.move calls per second, with automatic batching and without, in bursts
 *     (every call of a burst made in one tick) and with a sliding window of calls in flight;
 *   - lockstep storage.get and storage.put latency (one call at a time), p50 and p99.
 *
 * Each phase runs `rounds` times; the table gives the median and the range. Not a test.
 *
 *   npm run bench [-- --seconds 5 --rounds 3]
 */

import { parseArgs } from "node:util";

import type { LodestoneClient } from "@lodestone/client";

import { Stack, unique } from "../test/helpers/stack.js";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "5" }, rounds: { type: "string", default: "3" } },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

interface Row {
  name: string;
  unit: string;
  samples: number[];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function bursts(client: LodestoneClient, agents: string[], burst: number): Promise<number> {
  const handles = agents.map((name) => client.agent(name));
  let calls = 0;
  let i = 0;
  const end = Date.now() + seconds * 1000;
  const started = Date.now();
  while (Date.now() < end) {
    await Promise.all(Array.from({ length: burst }, () => handles[i++ % handles.length]!.move(i % 1000, 64, 0)));
    calls += burst;
  }
  return calls / ((Date.now() - started) / 1000);
}

async function window(client: LodestoneClient, agents: string[], size: number): Promise<number> {
  const handles = agents.map((name) => client.agent(name));
  let calls = 0;
  let i = 0;
  const end = Date.now() + seconds * 1000;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: size }, async () => {
      while (Date.now() < end) {
        await handles[i++ % handles.length]!.move(i % 1000, 64, 0);
        calls += 1;
      }
    }),
  );
  return calls / ((Date.now() - started) / 1000);
}

async function lockstep(call: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 200; i++) await call();
  const times: number[] = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const t0 = process.hrtime.bigint();
    await call();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function main(): Promise<void> {
  const stack = await Stack.start();
  try {
    const batched = stack.client();
    const unbatched = stack.client({ batch: false });
    const agents = Array.from({ length: 64 }, () => unique("bench"));
    await Promise.all(agents.map((name) => batched.agent(name).init()));
    const chest = batched.object("Chest", unique("bench"));
    await chest.put("k", { health: 20, position: { x: 1.5, y: 64, z: -3 } });

    const rows: Row[] = [
      { name: "Agent.move, bursts of 1000 in one tick, batched (64 agents)", unit: "calls/s", samples: [] },
      { name: "Agent.move, bursts of 1000, batch: false (64 agents)", unit: "calls/s", samples: [] },
      { name: "Agent.move, window of 256 in flight, batched (64 agents)", unit: "calls/s", samples: [] },
      { name: "Agent.move, bursts of 1000 in one tick, batched (1 agent)", unit: "calls/s", samples: [] },
      { name: "storage.get lockstep p50", unit: "ms", samples: [] },
      { name: "storage.get lockstep p99", unit: "ms", samples: [] },
      { name: "storage.put lockstep p50 (durable)", unit: "ms", samples: [] },
      { name: "storage.put lockstep p99 (durable)", unit: "ms", samples: [] },
    ];
    for (let round = 0; round < rounds; round++) {
      rows[0]!.samples.push(await bursts(batched, agents, 1000));
      rows[1]!.samples.push(await bursts(unbatched, agents, 1000));
      rows[2]!.samples.push(await window(batched, agents, 256));
      rows[3]!.samples.push(await bursts(batched, agents.slice(0, 1), 1000));
      const get = await lockstep(() => chest.get("k"));
      rows[4]!.samples.push(get.p50);
      rows[5]!.samples.push(get.p99);
      let n = 0;
      const put = await lockstep(() => chest.put("n", n++));
      rows[6]!.samples.push(put.p50);
      rows[7]!.samples.push(put.p99);
      process.stderr.write(`round ${round + 1}/${rounds} done\n`);
    }
    console.log(`| measure (${rounds} rounds of ${seconds} s; median, range) | value |`);
    console.log("|---|---|");
    for (const row of rows) {
      const digits = row.unit === "ms" ? 3 : 0;
      const fmt = (x: number): string => x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
      console.log(`| ${row.name} | ${fmt(median(row.samples))} ${row.unit} (${fmt(Math.min(...row.samples))} to ${fmt(Math.max(...row.samples))}) |`);
    }
  } finally {
    await stack.stop();
  }
}

await main();
