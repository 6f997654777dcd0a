package dev.lodestone.bridge.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * A real {@code python -m daemon serve} process from this repository, on loopback ports.
 *
 * <p>The interpreter is the system property {@code lodestone.python} (default
 * {@code <repo>/.venv/bin/python}); the repository is {@code lodestone.repo} (default two levels
 * up from the working directory, which Maven sets to {@code bridge/java}). The process runs with
 * the repository as its working directory; {@code start} returns once it printed its
 * "serving" line, which names the bound endpoints. Its stderr goes to {@code daemon.log} beside
 * the data directory, quoted when it fails to start.
 */
public final class Daemon implements AutoCloseable {
    private static final long START_TIMEOUT_S = 30;

    private final Path home;
    private final Path dataDir;
    private final String rpcRequested;
    private final String pubRequested;
    private final boolean ownsHome;
    private Path config;
    private Process process;
    private String rpc;
    private String pub;

    private Daemon(Path home, String rpc, String pub, boolean ownsHome) {
        this.home = home;
        this.dataDir = home.resolve("data");
        this.rpcRequested = rpc;
        this.pubRequested = pub;
        this.ownsHome = ownsHome;
    }

    /** The repository root. */
    public static Path repo() {
        String configured = System.getProperty("lodestone.repo");
        Path repo = configured != null && !configured.isEmpty()
                ? Paths.get(configured) : Paths.get(System.getProperty("user.dir"), "..", "..");
        return repo.toAbsolutePath().normalize();
    }

    /** The Python interpreter that runs the daemon. */
    public static String python() {
        String configured = System.getProperty("lodestone.python");
        if (configured != null && !configured.isEmpty()) {
            return configured;
        }
        return repo().resolve(".venv/bin/python").toString();
    }

    /** A TCP port on 127.0.0.1 that was free a moment ago. */
    public static int freePort() {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Start a daemon on ephemeral ports with a fresh data directory (and a generated secret). */
    public static Daemon start() {
        return start(null, "tcp://127.0.0.1:*");
    }

    /**
     * Start a daemon with a fresh data directory whose {@code secret} file holds {@code secret}
     * ({@code null}: the daemon makes one), its RPC socket bound to {@code rpc}.
     */
    public static Daemon start(byte[] secret, String rpc) {
        Daemon daemon = prepare(secret, rpc);
        daemon.launch();
        return daemon;
    }

    /**
     * A daemon not started yet, with a fresh data directory (whose {@code secret} file holds
     * {@code secret}, or none): run {@link #command} to set it up, then {@link #start(String)}.
     */
    public static Daemon prepare(byte[] secret, String rpc) {
        Path home;
        try {
            home = Files.createTempDirectory("lodestone-bridge-test");
            Files.createDirectories(home.resolve("data"));
            if (secret != null) {
                Path file = home.resolve("data").resolve("secret");
                Files.write(file, secret);
                // The daemon refuses a secret that others may read.
                Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Daemon(home, rpc, "tcp://127.0.0.1:*", true);
    }

    /** Start a {@link #prepare prepared} daemon with {@code configToml} as its configuration file. */
    public Daemon start(String configToml) {
        config = home.resolve("lodestone.toml");
        try {
            Files.writeString(config, configToml, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        launch();
        return this;
    }

    /**
     * Run {@code python -m daemon ARGS} in the repository (for example {@code keys server
     * --data-dir <dataDir()>}) and return its standard output, trimmed.
     *
     * @throws IllegalStateException if it exits with a code other than 0
     */
    public String command(String... args) {
        List<String> command = new ArrayList<>(List.of(python(), "-m", "daemon"));
        command.addAll(List.of(args));
        try {
            Process run = new ProcessBuilder(command).directory(repo().toFile())
                    .redirectError(ProcessBuilder.Redirect.appendTo(home.resolve("daemon.log").toFile())).start();
            String out = new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!run.waitFor(60, TimeUnit.SECONDS) || run.exitValue() != 0) {
                throw new IllegalStateException("lodestone " + String.join(" ", args) + " failed:\n" + logTail());
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** The RPC endpoint it is bound to. */
    public String rpc() {
        return rpc;
    }

    /** The PUB endpoint it is bound to. */
    public String pub() {
        return pub;
    }

    /** The data directory. */
    public Path dataDir() {
        return dataDir;
    }

    /** Kill it with SIGKILL (no clean shutdown) and wait for it to be gone. */
    public void kill() {
        if (process != null) {
            process.destroyForcibly();
            waitGone();
        }
    }

    /**
     * Start it again on the same data directory and the same RPC endpoint (bind it to an explicit
     * port, not {@code *}, for this); the PUB endpoint is a new ephemeral one.
     */
    public void restart() {
        kill();
        launch();
    }

    private void launch() {
        String bindRpc = rpc != null ? rpc : rpcRequested;
        List<String> command = new ArrayList<>(List.of(python(), "-m", "daemon", "serve",
                "--data-dir", dataDir.toString(), "--rpc", bindRpc, "--pub", pubRequested));
        if (config != null) {
            command.addAll(List.of("--config", config.toString()));
        }
        ProcessBuilder builder = new ProcessBuilder(command)
                .directory(repo().toFile())
                .redirectErrorStream(false)
                .redirectError(ProcessBuilder.Redirect.appendTo(home.resolve("daemon.log").toFile()));
        Map<String, String> env = builder.environment();
        env.put("PYTHONUNBUFFERED", "1");
        for (String inherited : List.of("STATE_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                "JOURNAL_STREAM")) {
            env.remove(inherited);
        }
        try {
            process = builder.start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + python() + " (set -Dlodestone.python): " + e, e);
        }
        CompletableFuture<String> serving = new CompletableFuture<>();
        Process started = process;
        Thread reader = new Thread(() -> readStdout(started, serving), "lodestone-daemon-stdout");
        reader.setDaemon(true);
        reader.start();
        String line;
        try {
            line = serving.get(START_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the daemon started", e);
        } catch (ExecutionException | TimeoutException e) {
            kill();
            throw new IllegalStateException("the daemon did not start: " + e.getMessage() + "\n" + logTail(), e);
        }
        Map<String, String> fields = new HashMap<>();
        for (String part : line.trim().split("\\s+")) {
            int eq = part.indexOf('=');
            if (eq > 0) {
                fields.put(part.substring(0, eq), part.substring(eq + 1));
            }
        }
        rpc = fields.get("rpc");
        pub = fields.get("pub");
        if (rpc == null || pub == null) {
            throw new IllegalStateException("the daemon's serving line names no endpoints: " + line);
        }
    }

    /** Completes {@code serving} with the "serving" line, then keeps the pipe drained. */
    private static void readStdout(Process process, CompletableFuture<String> serving) {
        try (BufferedReader out = new BufferedReader(
                new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                if (!serving.isDone() && line.contains(" serving ")) {
                    serving.complete(line);
                }
            }
        } catch (IOException e) {
            serving.completeExceptionally(e);
        }
        serving.completeExceptionally(new IllegalStateException("the daemon exited before serving"));
    }

    /** The last lines of the daemon's stderr. */
    public String logTail() {
        try {
            List<String> lines = Files.readAllLines(home.resolve("daemon.log"), StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(no daemon log: " + e + ")";
        }
    }

    private void waitGone() {
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the daemon did not exit");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        process = null;
    }

    /** Stop it with SIGTERM (killed if it takes over 30 s) and delete its directory. */
    @Override
    public void close() {
        if (process != null) {
            process.destroy();
            try {
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
            waitGone();
        }
        if (ownsHome) {
            try (Stream<Path> paths = Files.walk(home)) {
                paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            } catch (IOException e) {
                // A leftover temp directory is harmless.
            }
        }
    }
}
