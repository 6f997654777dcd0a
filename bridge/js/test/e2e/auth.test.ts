import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { WebSocket } from "ws";

import { ForbiddenError, LodestoneClient, UnauthenticatedError, connect, type WebSocketConstructor } from "@lodestone/client";

import { Stack, makeToken, unique } from "../helpers/stack.js";

let stack: Stack;
const writer = makeToken("js-writer", "write");
const reader = makeToken("js-reader", "read");
const agentsOnly = makeToken("js-agents", "write", ["Agent"]);

before(async () => {
  stack = await Stack.start({ gateway: [writer.config, reader.config, agentsOnly.config].join("\n") });
});

after(async () => {
  await stack.stop();
});

describe("a gateway with tokens", () => {
  it("lets a good token in, by header or by access_token", async () => {
    const byHeader = stack.client({ token: writer.token, WebSocket: WebSocket as unknown as WebSocketConstructor, auth: "header" });
    await byHeader.object("Chest", unique("c")).put("k", 1);
    // A WebSocket class given by the caller is taken for a browser's: the token goes in the URL.
    const byQuery = stack.client({ token: writer.token, WebSocket: WebSocket as unknown as WebSocketConstructor });
    await byQuery.ping();
  });

  it("refuses a bad or missing token with UnauthenticatedError (HTTP 401)", async () => {
    // The ws package reports the refused upgrade's status (a browser's WebSocket does not).
    const nodeWs = { WebSocket: WebSocket as unknown as WebSocketConstructor, auth: "header" } as const;
    await assert.rejects(stack.client({ token: "lst_wrong", ...nodeWs }).ping(), UnauthenticatedError);
    await assert.rejects(stack.client(nodeWs).ping(), UnauthenticatedError);
    await assert.rejects(connect({ url: stack.url, token: "lst_wrong", ...nodeWs }), UnauthenticatedError);
  });

  it("refuses a read token's writes with ForbiddenError, and serves its reads", async () => {
    const name = unique("c");
    await stack.client({ token: writer.token }).object("Chest", name).put("k", "v");
    const client = stack.client({ token: reader.token });
    assert.equal(await client.object("Chest", name).get("k"), "v");
    await assert.rejects(client.object("Chest", name).put("k", "w"), ForbiddenError);
    await assert.rejects(client.agent(unique("steve")).init(), ForbiddenError);
    assert.equal(await client.object("Chest", name).get("k"), "v");
  });

  it("keeps a class-limited token to its classes, in calls and subscriptions", async () => {
    const client: LodestoneClient = stack.client({ token: agentsOnly.token });
    await client.agent(unique("steve")).init();
    await assert.rejects(client.object("Chest", unique("c")).put("k", 1), ForbiddenError);
    const allowed = client.subscribe("change.Agent.");
    await allowed.ready;
    const refused = client.subscribe("change.");
    await assert.rejects(refused.ready, ForbiddenError);
    await assert.rejects(refused.next(), ForbiddenError);
    allowed.close();
  });
});
