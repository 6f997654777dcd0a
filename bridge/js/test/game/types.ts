// Type-checked (never run) against mineflayer's own types: the plugin loads into a real Bot,
// and `bot.lodestone` and the `lodestone:error` event are typed on it without a cast.
import { createBot } from "mineflayer";

import type { AgentState } from "@lodestone/client";
import { lodestone, lodestoneOf, type LodestoneBot } from "@lodestone/client/mineflayer";

export function typed(): void {
  const bot = createBot({ host: "127.0.0.1", username: "steve", version: "1.21.4" });
  bot.loadPlugin(lodestone({ url: "ws://127.0.0.1:8765", token: "lst_x", positionIntervalMs: 250 }));
  bot.on("lodestone:error", (error: Error) => console.warn(error.message));
  bot.once("spawn", async () => {
    const mirror: LodestoneBot = bot.lodestone;
    await mirror.ready;
    const state: AgentState = await bot.lodestone.agent.state();
    await lodestoneOf(bot).agent.task.assign("mine", { block: "oak_log" });
    console.log(state.health, mirror.stored?.inventory.get("oak_log"));
  });
}
