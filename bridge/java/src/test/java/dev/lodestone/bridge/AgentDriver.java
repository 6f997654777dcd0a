package dev.lodestone.bridge;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One agent driven through the Java client, a command per line on stdin, a JSON line per command
 * on stdout: the other side of tests/cluster/test_clients.py, which drives the same agent from the
 * Python client at another node of a cluster.
 *
 * <p>Run: {@code java -cp target/lodestone-bridge-0.1.0.jar:target/test-classes
 * dev.lodestone.bridge.AgentDriver ENDPOINT AGENT}. Commands:
 *
 * <ul>
 *   <li>{@code state}: {@code {"ok": true, "result": STATE}};
 *   <li>{@code step X Y Z DAMAGE TYPE COUNT}: move, damage, inventory.add and a state read, sent in
 *       one batch frame ({@link LodestoneClient#batch()}); {@code {"ok": true, "result": {"move",
 *       "damage", "inventory", "state"}}};
 *   <li>{@code quit}.
 * </ul>
 *
 * <p>A call that fails answers {@code {"ok": false, "error": MESSAGE}}. The client keeps its
 * defaults (batching on, retries with idempotency keys) but for a longer timeout.
 */
public final class AgentDriver {
    private AgentDriver() {
    }

    public static void main(String[] argv) throws IOException {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (LodestoneClient client = LodestoneClient.builder().endpoint(argv[0])
                .timeout(Duration.ofSeconds(10)).build()) {
            AgentHandle agent = client.agent(argv[1]);
            out.println("{\"ok\": true, \"result\": \"ready\"}");
            String line;
            while ((line = in.readLine()) != null && !line.equals("quit")) {
                String[] words = line.trim().split(" ");
                try {
                    out.println("{\"ok\": true, \"result\": " + json(run(client, agent, words)) + "}");
                } catch (Exception e) {
                    Throwable cause = e.getCause() != null ? e.getCause() : e;
                    out.println("{\"ok\": false, \"error\": " + json(cause.toString()) + "}");
                }
            }
        }
    }

    private static Object run(LodestoneClient client, AgentHandle agent, String[] words) throws Exception {
        if (words[0].equals("state")) {
            return agent.state().get(30, TimeUnit.SECONDS);
        }
        if (!words[0].equals("step") || words.length != 7) {
            throw new IllegalArgumentException("unknown command: " + String.join(" ", words));
        }
        CompletableFuture<Map<String, Object>> move;
        CompletableFuture<Map<String, Object>> damage;
        CompletableFuture<List<Map<String, Object>>> inventory;
        CompletableFuture<Map<String, Object>> state;
        try (LodestoneClient.Batch batch = client.batch()) {
            move = agent.move(Double.parseDouble(words[1]), Double.parseDouble(words[2]), Double.parseDouble(words[3]));
            damage = agent.damage(Double.parseDouble(words[4]), "java");
            inventory = agent.addItem(words[5], Long.parseLong(words[6]));
            state = agent.state();
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("move", move.get(30, TimeUnit.SECONDS));
        result.put("damage", damage.get(30, TimeUnit.SECONDS));
        result.put("inventory", inventory.get(30, TimeUnit.SECONDS));
        result.put("state", state.get(30, TimeUnit.SECONDS));
        return result;
    }

    /** The JSON text of a value as the client returns them: maps, lists, strings, numbers, booleans, null. */
    static String json(Object value) {
        StringBuilder text = new StringBuilder();
        write(text, value);
        return text.toString();
    }

    private static void write(StringBuilder text, Object value) {
        if (value == null) {
            text.append("null");
        } else if (value instanceof Map<?, ?> map) {
            text.append('{');
            String comma = "";
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                text.append(comma);
                write(text, String.valueOf(entry.getKey()));
                text.append(": ");
                write(text, entry.getValue());
                comma = ", ";
            }
            text.append('}');
        } else if (value instanceof List<?> list) {
            text.append('[');
            String comma = "";
            for (Object item : list) {
                text.append(comma);
                write(text, item);
                comma = ", ";
            }
            text.append(']');
        } else if (value instanceof Number || value instanceof Boolean) {
            text.append(value);
        } else {
            text.append('"');
            for (char c : value.toString().toCharArray()) {
                if (c == '"' || c == '\\') {
                    text.append('\\').append(c);
                } else if (c < 0x20) {
                    text.append(String.format("\\u%04x", (int) c));
                } else {
                    text.append(c);
                }
            }
            text.append('"');
        }
    }
}
