package io.stellane.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.config.ConfigChange;
import io.stellane.config.ConfigException;
import io.stellane.config.ConfigLoader;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * TLS on a server's listeners ({@link ServerConfig#tls()}): the certificate and its key as PEM files,
 * client certificates, the engine, the protocol versions and cipher suites, and how long a handshake
 * may take. Immutable; {@link #of} gives the defaults for a certificate and key, {@link #toBuilder()}
 * changes a copy, {@link #fromToml} reads a {@code [server.tls]} table.
 *
 * <p>The files are read, checked and loaded when the server listens (a file that cannot be read, is
 * not PEM, holds an expired or not yet valid certificate, or a key that does not belong to the
 * certificate stops the start, naming the file), and read again whenever they change, every
 * {@code reloadInterval}: new handshakes get the new certificate, connections already open keep
 * their session. {@code docs/OPERATIONS.md} ("TLS") has the operator's side.
 *
 * @param certificate      PEM file with the server's certificate first, then the intermediates that
 *                         lead to its CA
 * @param privateKey       PEM file with the certificate's private key, unencrypted: PKCS#8
 *                         ({@code BEGIN PRIVATE KEY}) or RSA PKCS#1 ({@code BEGIN RSA PRIVATE KEY})
 * @param clientAuth       whether clients present a certificate (default {@link ClientAuth#NONE})
 * @param clientCa         PEM file with the CA certificates a client certificate must chain to; set
 *                         exactly when {@code clientAuth} is not {@code NONE}
 * @param engine           which TLS implementation runs the handshakes and records (default
 *                         {@link Engine#AUTO})
 * @param protocols        the TLS versions offered, of {@code TLSv1.3} and {@code TLSv1.2} (default both)
 * @param ciphers          the cipher suites, by their IANA names, in order of preference (default
 *                         {@link #DEFAULT_CIPHERS}); those the engine lacks are left out, and none left
 *                         is an error
 * @param handshakeTimeout how long a client has to finish its handshake once connected; exceeded: the
 *                         connection is closed and {@link ServerLimit#TLS_HANDSHAKE_TIMEOUT} counted
 *                         (default 10 s)
 * @param reloadInterval   how often the files are looked at for changes (default 10 s)
 */
public record TlsConfig(
        Path certificate,
        Path privateKey,
        ClientAuth clientAuth,
        Path clientCa,
        Engine engine,
        List<String> protocols,
        List<String> ciphers,
        Duration handshakeTimeout,
        Duration reloadInterval) {

    /** Whether and how clients authenticate with a certificate of their own (mutual TLS). */
    public enum ClientAuth {
        /** No client certificate is asked for. */
        NONE,
        /** One is asked for; a client without one is served, a client with one that fails the check is not. */
        OPTIONAL,
        /** A client without a certificate that chains to {@code clientCa} fails its handshake. */
        REQUIRED
    }

    /** The TLS implementation. */
    public enum Engine {
        /** OpenSSL (BoringSSL, through netty-tcnative) when it loads on this machine, else the JDK's. */
        AUTO,
        /** OpenSSL (BoringSSL, through netty-tcnative); the server does not start where it does not load. */
        OPENSSL,
        /** The JDK's own engine (JSSE). */
        JDK
    }

    /** The versions a server may offer: older ones have known weaknesses and no modern client needs them. */
    public static final List<String> SUPPORTED_PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");

    /**
     * The default cipher suites: the TLS 1.3 ones, then for TLS 1.2 only ECDHE key exchange (forward
     * secrecy) with AEAD ciphers (AES-GCM, ChaCha20-Poly1305), ECDSA certificates before RSA ones.
     */
    public static final List<String> DEFAULT_CIPHERS = List.of(
            "TLS_AES_128_GCM_SHA256",
            "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");

    public TlsConfig {
        Objects.requireNonNull(certificate, "certificate");
        Objects.requireNonNull(privateKey, "privateKey");
        Objects.requireNonNull(clientAuth, "clientAuth");
        Objects.requireNonNull(engine, "engine");
        if (clientAuth == ClientAuth.NONE && clientCa != null) {
            throw new IllegalArgumentException("clientCa is set but clientAuth is NONE: set clientAuth to OPTIONAL"
                    + " or REQUIRED to ask clients for certificates, or leave clientCa out");
        }
        if (clientAuth != ClientAuth.NONE && clientCa == null) {
            throw new IllegalArgumentException("clientAuth " + clientAuth + " needs clientCa: the CA certificates"
                    + " client certificates must chain to");
        }
        protocols = List.copyOf(protocols);
        if (protocols.isEmpty() || !SUPPORTED_PROTOCOLS.containsAll(protocols)
                || new LinkedHashSet<>(protocols).size() != protocols.size()) {
            throw new IllegalArgumentException("protocols must be one or both of " + SUPPORTED_PROTOCOLS + ", not " + protocols);
        }
        ciphers = List.copyOf(ciphers);
        if (ciphers.isEmpty()) {
            throw new IllegalArgumentException("ciphers must name at least one cipher suite");
        }
        positive(handshakeTimeout, "handshakeTimeout");
        positive(reloadInterval, "reloadInterval");
    }

    private static void positive(Duration v, String name) {
        Objects.requireNonNull(v, name);
        if (v.isNegative() || v.isZero()) {
            throw new IllegalArgumentException(name + " must be > 0, not " + v);
        }
    }

    /** TLS with {@code certificate} and {@code privateKey} (PEM files) and every other setting at its default. */
    public static TlsConfig of(Path certificate, Path privateKey) {
        return new Builder(certificate, privateKey).build();
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    /** The files this config reads: the certificate, the key, and the client CA when set. */
    List<Path> files() {
        return clientCa == null ? List.of(certificate, privateKey) : List.of(certificate, privateKey, clientCa);
    }

    /** The fields whose values differ in {@code next}, named as in TOML under {@code prefix} ({@code server.tls}). */
    List<ConfigChange> changesTo(String prefix, TlsConfig next) {
        List<ConfigChange> out = new ArrayList<>();
        change(out, prefix + ".certificate", certificate, next.certificate);
        change(out, prefix + ".private_key", privateKey, next.privateKey);
        change(out, prefix + ".client_auth", name(clientAuth), name(next.clientAuth));
        change(out, prefix + ".client_ca", clientCa, next.clientCa);
        change(out, prefix + ".engine", name(engine), name(next.engine));
        change(out, prefix + ".protocols", protocols, next.protocols);
        change(out, prefix + ".ciphers", ciphers, next.ciphers);
        change(out, prefix + ".handshake_timeout", handshakeTimeout, next.handshakeTimeout);
        change(out, prefix + ".reload_interval", reloadInterval, next.reloadInterval);
        return out;
    }

    private static void change(List<ConfigChange> out, String key, Object a, Object b) {
        if (!Objects.equals(a, b)) {
            out.add(new ConfigChange(key, shown(a), shown(b)));
        }
    }

    static String shown(Object v) {
        if (v instanceof Duration d) {
            return '"' + d.toString().substring(2).toLowerCase(Locale.ROOT) + '"';
        }
        return v instanceof Path || v instanceof String ? '"' + v.toString() + '"' : String.valueOf(v);
    }

    private static String name(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    // ---------------------------------------------------------------- TOML

    /** The keys of a {@code [server.tls]} table, in order. */
    public static final List<String> TOML_KEYS = List.of("certificate", "private_key", "client_auth", "client_ca",
            "engine", "protocols", "ciphers", "handshake_timeout", "reload_interval");

    private static final String DURATION = "a duration such as 500ms, 10s or 1m, above 0";
    private static final String PATH = "the path of a PEM file, as a string";

    /**
     * Reads a TLS table such as {@code [server.tls]}: {@code certificate} and {@code private_key} are
     * required; {@code client_auth} is {@code "none"}, {@code "optional"} or {@code "required"};
     * {@code engine} is {@code "auto"}, {@code "openssl"} or {@code "jdk"}; {@code protocols} and
     * {@code ciphers} are arrays of strings; the durations are strings such as {@code "10s"}.
     *
     * @param table the table's full name, for messages (e.g. {@code server.tls})
     * @throws ConfigException naming the key, the value and what is allowed
     */
    public static TlsConfig fromToml(String table, JsonNode node) {
        if (!node.isObject()) {
            throw new ConfigException(table, shown(node), "a table with keys " + String.join(", ", TOML_KEYS));
        }
        Set<String> given = new LinkedHashSet<>();
        node.fieldNames().forEachRemaining(given::add);
        for (String k : given) {
            if (!TOML_KEYS.contains(k)) {
                throw new ConfigException(table + "." + k, shown(node.get(k)), "unknown key; allowed keys in ["
                        + table + "]: " + String.join(", ", TOML_KEYS));
            }
        }
        for (String required : List.of("certificate", "private_key")) {
            if (!given.contains(required)) {
                throw new ConfigException(table + "." + required, "missing: [" + table + "] needs certificate and"
                        + " private_key (PEM files)");
            }
        }
        Builder b = new Builder(path(table, node, "certificate"), path(table, node, "private_key"));
        if (node.has("client_auth")) {
            b.clientAuth(choice(table, node, "client_auth", ClientAuth.class));
        }
        if (node.has("client_ca")) {
            b.clientCa(path(table, node, "client_ca"));
        }
        if (node.has("engine")) {
            b.engine(choice(table, node, "engine", Engine.class));
        }
        if (node.has("protocols")) {
            List<String> ps = strings(table, node, "protocols", "one or both of \"TLSv1.3\", \"TLSv1.2\"");
            for (String p : ps) {
                if (!SUPPORTED_PROTOCOLS.contains(p)) {
                    throw new ConfigException(table + ".protocols", p, "one or both of \"TLSv1.3\", \"TLSv1.2\"");
                }
            }
            b.protocols(ps);
        }
        if (node.has("ciphers")) {
            b.ciphers(strings(table, node, "ciphers", "an array of cipher suite names, such as"
                    + " [\"TLS_AES_128_GCM_SHA256\", \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"]"));
        }
        if (node.has("handshake_timeout")) {
            b.handshakeTimeout(duration(table, node, "handshake_timeout"));
        }
        if (node.has("reload_interval")) {
            b.reloadInterval(duration(table, node, "reload_interval"));
        }
        try {
            return b.build();
        } catch (IllegalArgumentException e) { // client_auth and client_ca that do not fit together, a repeated protocol
            throw new ConfigException(table, e.getMessage().replace("clientAuth", "client_auth")
                    .replace("clientCa", "client_ca"));
        }
    }

    private static Object shown(JsonNode v) {
        return v.isTextual() ? v.textValue() : v;
    }

    private static Path path(String table, JsonNode node, String key) {
        JsonNode v = node.get(key);
        if (!v.isTextual() || v.textValue().isBlank()) {
            throw new ConfigException(table + "." + key, shown(v), PATH);
        }
        return Path.of(v.textValue());
    }

    private static <E extends Enum<E>> E choice(String table, JsonNode node, String key, Class<E> type) {
        JsonNode v = node.get(key);
        List<String> names = new ArrayList<>();
        for (E e : type.getEnumConstants()) {
            names.add('"' + name(e) + '"');
        }
        String allowed = "one of " + String.join(", ", names);
        if (v.isTextual()) {
            for (E e : type.getEnumConstants()) {
                if (name(e).equals(v.textValue().strip().toLowerCase(Locale.ROOT))) {
                    return e;
                }
            }
        }
        throw new ConfigException(table + "." + key, shown(v), allowed);
    }

    private static List<String> strings(String table, JsonNode node, String key, String allowed) {
        JsonNode v = node.get(key);
        if (!v.isArray() || v.isEmpty()) {
            throw new ConfigException(table + "." + key, shown(v), allowed);
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isTextual() || e.textValue().isBlank()) {
                throw new ConfigException(table + "." + key, shown(v), allowed);
            }
            if (out.contains(e.textValue())) {
                throw new ConfigException(table + "." + key, shown(v), allowed + ", each once");
            }
            out.add(e.textValue());
        }
        return out;
    }

    private static Duration duration(String table, JsonNode node, String key) {
        JsonNode v = node.get(key);
        if (!v.isTextual()) {
            throw new ConfigException(table + "." + key, shown(v), DURATION);
        }
        Duration d;
        try {
            d = ConfigLoader.parseDuration(key, v.textValue());
        } catch (ConfigException e) {
            throw new ConfigException(table + "." + key, v.textValue(), DURATION);
        }
        if (d.isZero() || d.isNegative()) {
            throw new ConfigException(table + "." + key, v.textValue(), DURATION);
        }
        return d;
    }

    // ---------------------------------------------------------------- builder

    /** A mutable builder, starting from the defaults. Not thread-safe. */
    public static final class Builder {
        private Path certificate;
        private Path privateKey;
        private ClientAuth clientAuth = ClientAuth.NONE;
        private Path clientCa;
        private Engine engine = Engine.AUTO;
        private List<String> protocols = SUPPORTED_PROTOCOLS;
        private List<String> ciphers = DEFAULT_CIPHERS;
        private Duration handshakeTimeout = Duration.ofSeconds(10);
        private Duration reloadInterval = Duration.ofSeconds(10);

        private Builder(Path certificate, Path privateKey) {
            this.certificate = certificate;
            this.privateKey = privateKey;
        }

        private Builder(TlsConfig c) {
            certificate = c.certificate;
            privateKey = c.privateKey;
            clientAuth = c.clientAuth;
            clientCa = c.clientCa;
            engine = c.engine;
            protocols = c.protocols;
            ciphers = c.ciphers;
            handshakeTimeout = c.handshakeTimeout;
            reloadInterval = c.reloadInterval;
        }

        public Builder certificate(Path v) { certificate = v; return this; }
        public Builder privateKey(Path v) { privateKey = v; return this; }
        public Builder clientAuth(ClientAuth v) { clientAuth = v; return this; }
        public Builder clientCa(Path v) { clientCa = v; return this; }
        /** Client certificates as {@code auth} (OPTIONAL or REQUIRED) chaining to the CAs of {@code ca}; NONE and null: none. */
        public Builder clientAuth(ClientAuth auth, Path ca) { clientAuth = auth; clientCa = ca; return this; }
        public Builder engine(Engine v) { engine = v; return this; }
        public Builder protocols(List<String> v) { protocols = v; return this; }
        public Builder ciphers(List<String> v) { ciphers = v; return this; }
        public Builder handshakeTimeout(Duration v) { handshakeTimeout = v; return this; }
        public Builder reloadInterval(Duration v) { reloadInterval = v; return this; }

        public TlsConfig build() {
            return new TlsConfig(certificate, privateKey, clientAuth, clientCa, engine, protocols, ciphers,
                    handshakeTimeout, reloadInterval);
        }
    }
}
