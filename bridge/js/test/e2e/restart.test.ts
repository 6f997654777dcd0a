/**
 * Restarts under a connected client: the daemon crashing (SIGKILL) and coming back, the gateway
 * crashing and coming back, and a daemon that stops answering. Counters incremented by
 * non-idempotent ops (`Agent.blocks`, read-check-write transactions) must come out exact:
 * every call is resent with its idempotency key, so none is applied twice and none is lost.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { LodestoneTimeoutError, type AgentHandle, type LodestoneClient, type ObjectHandle } from "@lodestone/client";

import { Stack, unique } from "../helpers/stack.js";

let stack: Stack;
let client: LodestoneClient;

before(async () => {
  // The gateway answers TIMEOUT (retryable) for requests the daemon took with it after 2 s.
  stack = await Stack.start({ gateway: "upstream_timeout_s = 2" });
  client = stack.client();
  await client.ready();
});

after(async () => {
  if (stack.daemon?.signalCode === null) stack.daemon.kill("SIGCONT");
  await stack.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `workers` loops of `each` sequential `blocks({mined: 1})` calls; resolves with how many succeeded. */
async function mine(steve: AgentHandle, workers: number, each: number, done: { count: number }): Promise<void> {
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let i = 0; i < each; i++) {
        await steve.blocks({ mined: 1 });
        done.count += 1;
      }
    }),
  );
}

/** `times` read-check-write increments of `key`, one after the other. */
async function count(counter: ObjectHandle, times: number, done: { count: number }): Promise<void> {
  for (let i = 0; i < times; i++) {
    const value = (await counter.get<number>("n")) ?? 0;
    await counter.transaction({ checks: [{ key: "n", value }], ops: [{ op: "put", key: "n", value: value + 1 }] });
    done.count += 1;
  }
}

/** Resolve once `done.count` reaches `at`; reject if `load` fails first. */
async function untilCount(done: { count: number }, at: number, load: Promise<unknown>): Promise<void> {
  let failed: unknown;
  load.catch((error: unknown) => (failed = error ?? new Error("the load failed")));
  while (done.count < at) {
    if (failed !== undefined) throw failed;
    await sleep(2);
  }
}

describe("restarts under a connected client", () => {
  it("a daemon crash and restart: calls in flight complete, none applied twice", async () => {
    const steve = client.agent(unique("steve"));
    await steve.init();
    const counter = client.object("Counter", unique("counter"));
    await counter.put("n", 0);
    const mined = { count: 0 };
    const counted = { count: 0 };
    const load = Promise.all([mine(steve, 8, 40, mined), count(counter, 60, counted)]);
    await untilCount(mined, 60, load);
    assert.ok(client.pendingCalls > 0, "calls are in flight at the crash");
    await stack.stopDaemon("SIGKILL");
    const atCrash = mined.count;
    await sleep(300);
    await stack.startDaemon();
    await load;
    assert.ok(atCrash < 320, "the load went on after the crash");
    assert.equal(mined.count, 320);
    assert.equal((await steve.state()).stats.blocksMined, 320);
    assert.equal(await counter.get("n"), 60);
  });

  it("calls made while the daemon is down complete once it is back", async () => {
    const steve = client.agent(unique("steve"));
    await steve.init();
    await stack.stopDaemon("SIGTERM");
    const calls = Promise.all([
      ...Array.from({ length: 20 }, () => steve.blocks({ mined: 1 })),
      steve.state(),
      client.ping(),
    ]);
    await sleep(1000);
    assert.ok(client.pendingCalls >= 22, "the calls wait while the daemon is down");
    await stack.startDaemon();
    await calls;
    assert.equal((await steve.state()).stats.blocksMined, 20);
  });

  it("a gateway crash and restart: the client reconnects and resends, none applied twice", async () => {
    const steve = client.agent(unique("steve"));
    await steve.init();
    const counter = client.object("Counter", unique("counter"));
    await counter.put("n", 0);
    const mined = { count: 0 };
    const counted = { count: 0 };
    let reopened = 0;
    const stop = client.on("open", () => (reopened += 1));
    const load = Promise.all([mine(steve, 8, 40, mined), count(counter, 60, counted)]);
    await untilCount(mined, 60, load);
    await stack.stopGateway("SIGKILL");
    await sleep(300);
    await stack.startGateway();
    await load;
    stop();
    assert.equal(reopened, 1);
    assert.equal((await steve.state()).stats.blocksMined, 320);
    assert.equal(await counter.get("n"), 60);
  });

  it("a daemon that stops answering: the call times out, and its idem applies the write once", async () => {
    const steve = client.agent(unique("steve"));
    await steve.init();
    stack.daemon!.kill("SIGSTOP");
    let timedOut: LodestoneTimeoutError | undefined;
    const started = Date.now();
    try {
      await steve.blocks({ mined: 1 }, { timeoutMs: 500 });
    } catch (error) {
      if (error instanceof LodestoneTimeoutError) timedOut = error;
      else throw error;
    }
    stack.daemon!.kill("SIGCONT");
    assert.ok(timedOut, "the call timed out");
    assert.ok(Date.now() - started < 2000);
    assert.equal(timedOut.code, "TIMEOUT");
    assert.equal(timedOut.retryable, true);
    assert.match(timedOut.idem!, /^[0-9a-f]{32}$/);
    // The stopped daemon got the request and runs it once it goes on; sending it again with the
    // same key gets the recorded result instead of mining a second block.
    await steve.blocks({ mined: 1 }, { idem: timedOut.idem });
    await steve.blocks({ mined: 1 }, { idem: timedOut.idem });
    assert.equal((await steve.state()).stats.blocksMined, 1);
  });
});
