/**
 * The Java client of the Lodestone daemon (wire protocol v1, docs/protocol.md in the repository).
 *
 * <p>{@link dev.lodestone.bridge.LodestoneClient} sends requests and completes
 * {@link java.util.concurrent.CompletableFuture}s on an executor the caller chooses;
 * {@link dev.lodestone.bridge.ObjectHandle} is one object's storage and alarm;
 * {@link dev.lodestone.bridge.AgentHandle}, {@link dev.lodestone.bridge.ForemanHandle},
 * {@link dev.lodestone.bridge.MissionControlHandle} and {@link dev.lodestone.bridge.TelemetryHandle}
 * are typed calls on the built-in classes;
 * {@link dev.lodestone.bridge.LodestoneSubscriber} follows the change stream;
 * {@link dev.lodestone.bridge.CurveKeys} are the keys for a daemon with CURVE on. Failures are
 * {@link dev.lodestone.bridge.LodestoneException}s, one subclass per wire error code. Everything
 * else in this package is private to it; JeroMQ and msgpack-core are relocated under
 * {@code dev.lodestone.bridge.internal.shaded} in the published jar.
 */
package dev.lodestone.bridge;
