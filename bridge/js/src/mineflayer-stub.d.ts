// Stands in for the mineflayer package while this package is built, so `declare module
// "mineflayer"` in mineflayer.ts compiles without installing mineflayer (an optional peer).
// A program that uses the plugin has mineflayer itself, and the declaration extends its Bot.
export interface Bot {}
export interface BotEvents {}
