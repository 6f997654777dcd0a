package dev.lodestone.bridge;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * Mission control ({@code MissionControl.*} ops, docs/protocol.md "MissionControl"); from
 * {@link LodestoneClient#missions()}. A mission is {@code {id, name, description, status,
 * objectives: [{id, type, target, status, assignedTo}], assignedAgents, createdAt, updatedAt}},
 * its status {@code planned}, {@code active}, {@code completed} or {@code failed} (the last two
 * final: changing one fails with {@link ConflictException}).
 */
public final class MissionControlHandle extends ClassHandle {
    static final String CLASS = "MissionControl";

    MissionControlHandle(LodestoneClient client, Target target, CallOptions options) {
        super(client, target, options);
    }

    /** A handle on the same mission control whose calls use {@code options}. */
    public MissionControlHandle withOptions(CallOptions options) {
        return new MissionControlHandle(client, target, Objects.requireNonNull(options, "options"));
    }

    /** {@link #create(String, String, List)} without a description. */
    public CompletableFuture<Map<String, Object>> create(String name, List<? extends Map<String, ?>> objectives) {
        return create(name, null, objectives);
    }

    /**
     * A new mission, {@code planned}, id {@code m<n>}; each objective is {@code {type, target,
     * id?}} (1..256 of them; {@code type} one of mine, build, explore, defend; ids default to
     * {@code o1}, {@code o2}, ...).
     */
    public CompletableFuture<Map<String, Object>> create(String name, String description,
            List<? extends Map<String, ?>> objectives) {
        List<Map<String, Object>> wire = new ArrayList<>();
        for (Map<String, ?> objective : objectives) {
            wire.add(new LinkedHashMap<>(objective));
        }
        return write("create", args("name", name, "description", description, "objectives", wire), asMap("create"));
    }

    /** The mission {@code mission}; {@link NotFoundException} if there is none. */
    public CompletableFuture<Map<String, Object>> get(String mission) {
        return read("get", args("mission", mission), asMap("get"));
    }

    /** Up to 100 missions with {@code status}, oldest first. */
    public CompletableFuture<List<Map<String, Object>>> list(String status) {
        return list(status, 100);
    }

    /** Up to {@code limit} (1..1000) missions with {@code status}, oldest first. */
    public CompletableFuture<List<Map<String, Object>>> list(String status, int limit) {
        return read("list", args("status", status, "limit", limit), listField("list", "missions"));
    }

    /**
     * Put {@code agent} on {@code mission}; returns the mission, now {@code active}.
     * {@link NotFoundException} for an unknown mission or an agent that never spawned.
     */
    public CompletableFuture<Map<String, Object>> assign(String mission, String agent) {
        return write("assign", args("mission", mission, "agent", agent), asMap("assign"));
    }

    /** {@link #updateObjective(String, String, String, String)} without changing who it is assigned to. */
    public CompletableFuture<Map<String, Object>> updateObjective(String mission, String objective, String status) {
        return updateObjective(mission, objective, status, null);
    }

    /**
     * Set an objective's status (pending, in_progress, completed) and, unless {@code null}, the
     * agent on the mission it is assigned to; returns the mission, {@code completed} once its last
     * objective is.
     */
    public CompletableFuture<Map<String, Object>> updateObjective(String mission, String objective, String status,
            String assignedTo) {
        return write("objective.update", args("mission", mission, "objective", objective, "status", status,
                "assigned_to", assignedTo), asMap("objective.update"));
    }

    /** Fail {@code mission}; returns it, {@code failed}. */
    public CompletableFuture<Map<String, Object>> fail(String mission) {
        return write("fail", args("mission", mission), asMap("fail"));
    }
}
