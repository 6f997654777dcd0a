package dev.lodestone.bridge;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.zeromq.ZMQ;

/**
 * The keys a client needs for a daemon that has {@code [security] curve = true}: the daemon's
 * public key and this client's key pair, each 40 characters of Z85 (docs/configuration.md,
 * "Security"). Give them to {@link LodestoneClient.Builder#curve} and
 * {@link LodestoneSubscriber.Builder#curve}: every connection is then encrypted, and the daemon
 * lets it in only if this client's public key is on its allow-list. A client whose key is not
 * allowed gets no reply: its calls fail with {@link LodestoneTimeoutException}.
 *
 * <p>Make the files on the daemon's host with {@code lodestone keys server} (the daemon's
 * {@code server.key}) and {@code lodestone keys client NAME} ({@code NAME.key_secret}, to copy to
 * the plugin's host), and read them with {@link #load}. Immutable; {@link #toString} never shows
 * the secret key.
 */
public final class CurveKeys {
    private static final Pattern KEY_LINE = Pattern.compile("^\\s*(public|secret)-key\\s*=\\s*\"(.{40})\"\\s*$");

    private final String serverKey;
    private final String publicKey;
    private final String secretKey;

    private CurveKeys(String serverKey, String publicKey, String secretKey) {
        this.serverKey = checked(serverKey, "the server key");
        this.publicKey = checked(publicKey, "the client's public key");
        this.secretKey = checked(secretKey, "the client's secret key");
    }

    /**
     * Keys given as Z85 text.
     *
     * @param serverKey the daemon's public key ({@code lodestone keys server} prints it)
     * @param publicKey this client's public key
     * @param secretKey this client's secret key
     * @throws IllegalArgumentException if a key is not 40 characters of Z85
     */
    public static CurveKeys of(String serverKey, String publicKey, String secretKey) {
        return new CurveKeys(serverKey, publicKey, secretKey);
    }

    /**
     * Keys read from ZeroMQ certificate files, as {@code lodestone keys} writes them.
     *
     * @param serverKeyFile the daemon's {@code server.key} (its public key)
     * @param clientSecretFile this client's {@code NAME.key_secret} (its public and secret key)
     * @throws IOException if a file cannot be read
     * @throws IllegalArgumentException if a file lacks a key it should hold
     */
    public static CurveKeys load(Path serverKeyFile, Path clientSecretFile) throws IOException {
        String server = read(serverKeyFile, "public");
        return new CurveKeys(server, read(clientSecretFile, "public"), read(clientSecretFile, "secret"));
    }

    /** The daemon's public key (Z85). */
    public String serverKey() {
        return serverKey;
    }

    /** This client's public key (Z85): the one the daemon's {@code client_keys} must list. */
    public String publicKey() {
        return publicKey;
    }

    /** Make {@code socket} a CURVE client of the daemon; before it connects. */
    void apply(ZMQ.Socket socket) {
        socket.setCurveServerKey(ZMQ.Curve.z85Decode(serverKey));
        socket.setCurvePublicKey(ZMQ.Curve.z85Decode(publicKey));
        socket.setCurveSecretKey(ZMQ.Curve.z85Decode(secretKey));
    }

    private static String read(Path file, String which) throws IOException {
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            Matcher match = KEY_LINE.matcher(line);
            if (match.matches() && match.group(1).equals(which)) {
                return match.group(2);
            }
        }
        throw new IllegalArgumentException(file + " holds no " + which + "-key line"
                + ("secret".equals(which) ? "; give the client's NAME.key_secret file" : ""));
    }

    private static String checked(String key, String what) {
        Objects.requireNonNull(key, what);
        if (key.length() != 40) {
            throw new IllegalArgumentException(what + " is not a CURVE key (40 Z85 characters)");
        }
        try {
            if (ZMQ.Curve.z85Decode(key).length == 32) {
                return key;
            }
        } catch (RuntimeException e) {
            // Not Z85: refused below.
        }
        throw new IllegalArgumentException(what + " is not a CURVE key (40 Z85 characters)");
    }

    @Override
    public String toString() {
        return "CurveKeys[server=" + serverKey + ", public=" + publicKey + "]";
    }
}
