package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.config.ConfigException;
import io.stellane.config.ConfigLoader;
import io.stellane.config.RuntimeConfig;
import io.stellane.examples.users.DatabaseConfig;
import io.stellane.server.ServerConfig;
import io.stellane.server.TlsConfig;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Everything {@code ./stellane serve} needs, resolved from (lowest to highest precedence) the defaults,
 * the TOML file, the {@code STELLANE_RUNTIME_*} environment (the {@code [runtime]} table only, through
 * {@link ConfigLoader}) and the command-line flags. Immutable.
 *
 * <p>The file: {@code --config FILE}, else the default file if it exists ({@code stellane.toml} in the
 * working directory, or what the system property {@value #DEFAULT_CONFIG_PROPERTY} names: the launcher
 * points it at the repository's {@code stellane.toml}). Tables: {@code [runtime]} (see
 * {@link RuntimeConfig}), {@code [server]} {@code host}, {@code port} and the limits of {@link ServerConfig}, with
 * {@code [server.tls]} for HTTPS (see {@link TlsConfig#fromToml}), {@code [management]} (see {@link Management})
 * and {@code [database]} (see {@link DatabaseConfig}). Any other table or key is an error.
 *
 * @param runtime    the runtime config; its recovery path is {@code <dataDir>/journal} unless the file or
 *                   the environment sets it
 * @param host       the address the service listens on
 * @param port       the port, 0..65535 (0: any free port)
 * @param server     the public server's limits and timeouts, and its TLS: the other keys of {@code [server]}
 *                   (see {@link ServerConfig#fromToml}); {@code --tls-cert} and {@code --tls-key} set the TLS
 *                   certificate and key
 * @param management where metrics, stats, the dashboard and the detailed health are served
 * @param database   where the users live
 * @param dataDir    the H2 database and the recovery journal (made {@code 0700} at startup)
 * @param configFile the file read, or null when none was
 */
public record AppConfig(RuntimeConfig runtime, String host, int port, ServerConfig server, Management management,
                        DatabaseConfig database, Path dataDir, Path configFile) {
    public static final String DEFAULT_CONFIG_PROPERTY = "stellane.config";
    public static final String DEFAULT_CONFIG_FILE = "stellane.toml";
    public static final String DEFAULT_HOST = "0.0.0.0";
    public static final int DEFAULT_PORT = 8080;
    public static final Path DEFAULT_DATA_DIR = Path.of("data");
    static final String RECOVERY_PATH_ENV = "STELLANE_RUNTIME_RECOVERY_PATH";

    private static final Set<String> TABLES = Set.of("runtime", "server", "management", "database");
    /** The keys of {@code [server]} read here; the rest are {@link ServerConfig}'s. */
    private static final Set<String> SERVER_KEYS = new java.util.LinkedHashSet<>(List.of("host", "port"));
    private static final Set<String> MANAGEMENT_KEYS = Set.of("host", "port", "serve_on_public_port", "tls");
    private static final String PORT_ALLOWED = "an integer from 0 to 65535";
    private static final String HOST_ALLOWED = "an IP address (e.g. 0.0.0.0, 127.0.0.1, ::1) or a host name that"
            + " resolves (e.g. localhost)";
    /** RFC 1123 labels; underscores too, which resolvers accept in practice. */
    private static final Pattern HOST_NAME =
            Pattern.compile("(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\\.?");

    public AppConfig {
        Objects.requireNonNull(runtime, "runtime");
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(server, "server");
        Objects.requireNonNull(management, "management");
        Objects.requireNonNull(database, "database");
        Objects.requireNonNull(dataDir, "dataDir");
    }

    /**
     * The management listener: metrics ({@code /metrics}), stats ({@code /stats}), the dashboard
     * ({@code /stellane/dashboard}) and the detailed {@code /health}, none of which the public port serves
     * unless {@code serveOnPublicPort}. In the file:
     * <pre>{@code
     * [management]
     * host = "127.0.0.1"             # default: loopback only
     * port = 8081                    # 0..65535, 0: any free port; not the [server] port
     * serve_on_public_port = false   # true: the public port serves them too
     * [management.tls]               # HTTPS, with the keys of [server.tls]; the same files share the certificate
     * certificate = "/etc/stellane/tls/cert.pem"
     * private_key = "/etc/stellane/tls/key.pem"
     * }</pre>
     *
     * @param host              the address the management listener binds
     * @param port              its port, 0..65535 (0: any free port)
     * @param serveOnPublicPort whether the public listener serves the same routes as well
     * @param tls               TLS on the management listener, or null for cleartext
     */
    public record Management(String host, int port, boolean serveOnPublicPort, TlsConfig tls) {
        public static final String DEFAULT_HOST = "127.0.0.1";
        public static final int DEFAULT_PORT = 8081;

        public Management {
            Objects.requireNonNull(host, "host");
        }

        /** Cleartext. */
        public Management(String host, int port, boolean serveOnPublicPort) {
            this(host, port, serveOnPublicPort, null);
        }

        /** Loopback, port {@value #DEFAULT_PORT}, nothing of it on the public port. */
        public static Management defaults() {
            return new Management(DEFAULT_HOST, DEFAULT_PORT, false, null);
        }
    }

    /** The help text of the app's options. */
    public static final String USAGE = """
            usage: ./stellane serve [--config FILE] [--port N] [--host ADDR] [--management-port N]
                                    [--management-host ADDR] [--backend NAME] [--data-dir DIR]
                                    [--tls-cert FILE --tls-key FILE]

            Runs the example users service in the foreground; Ctrl-C or SIGTERM stops it gracefully
            (in-flight requests finish).

              --config FILE            TOML file with [runtime], [server], [management] and [database]
                                       tables (default: stellane.toml of the repository, when it exists)
              --port N                 port to listen on, 0..65535 (0: any free port); overrides server.port
              --host ADDR              address to listen on; overrides server.host (default 0.0.0.0)
              --management-port N      port of /metrics, /stats, /stellane/dashboard and the detailed
                                       /health, 0..65535; overrides management.port (default 8081)
              --management-host ADDR   address of that listener; overrides management.host
                                       (default 127.0.0.1)
              --backend NAME           auto, nio, epoll or io_uring; overrides runtime.backend
              --data-dir DIR           directory for the H2 database and the recovery journal, made 0700,
                                       its files 0600 (default ./data)
              --tls-cert FILE          HTTPS on the public port: the certificate (PEM, then its
                                       intermediates); overrides server.tls.certificate; needs --tls-key
              --tls-key FILE           the certificate's private key (PEM, unencrypted); overrides
                                       server.tls.private_key; needs --tls-cert
              -h, --help               this text

            Every option takes its value either as the next argument or after '=' (--port=9000).
            STELLANE_RUNTIME_* environment variables override the [runtime] table (e.g.
            STELLANE_RUNTIME_WORKER_THREADS=4); flags override both.
            """;

    /** Parsed command-line flags; null means not given. */
    record Flags(Path config, Integer port, String host, Integer managementPort, String managementHost,
                 String backend, Path dataDir, Path tlsCert, Path tlsKey, boolean help) {
        static Flags parse(List<String> args) {
            Path config = null;
            Integer port = null;
            String host = null;
            Integer managementPort = null;
            String managementHost = null;
            String backend = null;
            Path dataDir = null;
            Path tlsCert = null;
            Path tlsKey = null;
            boolean help = false;
            for (int i = 0; i < args.size(); i++) {
                String a = args.get(i);
                String inline = null; // --option=value
                int eq = a.indexOf('=');
                if (a.startsWith("--") && eq > 2) {
                    inline = a.substring(eq + 1);
                    a = a.substring(0, eq);
                }
                String v = inline != null ? inline : i + 1 < args.size() ? args.get(i + 1) : null;
                int next = inline != null ? 0 : 1;
                switch (a) {
                    case "--config" -> { config = Path.of(value(a, v)); i += next; }
                    case "--port" -> { port = parsePort(a, value(a, v)); i += next; }
                    case "--host" -> { host = checkHost(a, nonBlank(a, value(a, v))); i += next; }
                    case "--management-port" -> { managementPort = parsePort(a, value(a, v)); i += next; }
                    case "--management-host" -> { managementHost = checkHost(a, nonBlank(a, value(a, v))); i += next; }
                    case "--backend" -> { backend = nonBlank(a, value(a, v)); i += next; }
                    case "--data-dir" -> { dataDir = Path.of(nonBlank(a, value(a, v))); i += next; }
                    case "--tls-cert" -> { tlsCert = Path.of(nonBlank(a, value(a, v))); i += next; }
                    case "--tls-key" -> { tlsKey = Path.of(nonBlank(a, value(a, v))); i += next; }
                    case "-h", "--help" -> {
                        if (inline != null) {
                            throw new ConfigException(a, inline, "no value; --help takes none");
                        }
                        help = true;
                    }
                    default -> throw new ConfigException(a, "unknown option; the options are --config, --port, --host,"
                            + " --management-port, --management-host, --backend, --data-dir, --tls-cert, --tls-key, --help");
                }
            }
            if ((tlsCert == null) != (tlsKey == null)) {
                throw tlsCert == null ? new ConfigException("--tls-key", "needs --tls-cert too: the certificate of that key")
                        : new ConfigException("--tls-cert", "needs --tls-key too: the private key of that certificate");
            }
            return new Flags(config, port, host, managementPort, managementHost, backend, dataDir, tlsCert, tlsKey, help);
        }

        private static String value(String option, String v) {
            if (v == null) {
                throw new ConfigException(option, "needs a value");
            }
            return v;
        }

        private static String nonBlank(String option, String v) {
            if (v.isBlank()) {
                throw new ConfigException(option, v, "a non-empty value");
            }
            return v;
        }

        private static int parsePort(String key, String text) {
            try {
                int p = Integer.parseInt(text.strip());
                if (p >= 0 && p <= 65535) {
                    return p;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new ConfigException(key, text, PORT_ALLOWED);
        }
    }

    /**
     * Resolves the config from command-line arguments and an environment (normally {@code System.getenv()}).
     * Does not touch the file system beyond reading the config file.
     *
     * @throws ConfigException naming the key (or flag), the value and what is allowed
     */
    public static AppConfig resolve(List<String> args, Map<String, String> env) {
        return resolve(Flags.parse(args), env);
    }

    static AppConfig resolve(Flags flags, Map<String, String> env) {
        Path file = flags.config();
        if (file == null) {
            Path def = Path.of(System.getProperty(DEFAULT_CONFIG_PROPERTY, DEFAULT_CONFIG_FILE));
            file = Files.isRegularFile(def) ? def : null;
        }
        JsonNode tree = file == null ? null : ConfigLoader.readTomlTree(file);
        if (tree != null) {
            checkTables(tree);
        }
        Path dataDir = flags.dataDir() != null ? flags.dataDir() : DEFAULT_DATA_DIR;

        RuntimeConfig base = file == null ? RuntimeConfig.defaults() : ConfigLoader.fromToml(file);
        RuntimeConfig runtime = ConfigLoader.applyEnvironment(base, env);
        RuntimeConfig.Builder b = runtime.toBuilder();
        boolean pathSet = (tree != null && !tree.at("/runtime/recovery/path").isMissingNode())
                || env.containsKey(RECOVERY_PATH_ENV);
        if (!pathSet) {
            b.recoveryPath(dataDir.resolve("journal"));
        }
        if (flags.backend() != null) {
            b.backendType(flags.backend());
        }
        runtime = b.build();
        if (flags.backend() != null) {
            try {
                runtime = runtime.validate();
            } catch (ConfigException e) {
                throw new ConfigException("--backend", flags.backend(), "a backend name: auto, nio, epoll, io_uring");
            }
        }

        JsonNode serverTable = tree == null ? null : tree.get("server");
        ServerConfig limits = ServerConfig.fromToml("server", serverTable, ServerConfig.defaults(), SERVER_KEYS);
        if (flags.tlsCert() != null) {
            TlsConfig tls = limits.tls() == null ? TlsConfig.of(flags.tlsCert(), flags.tlsKey())
                    : limits.tls().toBuilder().certificate(flags.tlsCert()).privateKey(flags.tlsKey()).build();
            limits = limits.toBuilder().tls(tls).build();
        }
        String host = serverTable == null ? DEFAULT_HOST : host(serverTable, "server", DEFAULT_HOST);
        int port = serverTable == null ? DEFAULT_PORT : port(serverTable, "server", DEFAULT_PORT);
        if (flags.host() != null) {
            host = flags.host();
        }
        if (flags.port() != null) {
            port = flags.port();
        }
        Management management = management(table(tree, "management", MANAGEMENT_KEYS), flags, port);
        DatabaseConfig database = DatabaseConfig.fromToml(tree == null ? null : tree.get("database"), dataDir);
        return new AppConfig(runtime, host, port, limits, management, database, dataDir, file);
    }

    private static Management management(JsonNode table, Flags flags, int publicPort) {
        Management d = Management.defaults();
        String host = table == null ? d.host() : host(table, "management", d.host());
        int port = table == null ? d.port() : port(table, "management", d.port());
        boolean servePublicly = d.serveOnPublicPort();
        JsonNode p = table == null ? null : table.get("serve_on_public_port");
        if (p != null) {
            if (!p.isBoolean()) {
                throw new ConfigException("management.serve_on_public_port", shown(p), "true or false");
            }
            servePublicly = p.booleanValue();
        }
        JsonNode tlsTable = table == null ? null : table.get("tls");
        TlsConfig tls = tlsTable == null ? null : TlsConfig.fromToml("management.tls", tlsTable);
        String portKey = "management.port";
        if (flags.managementHost() != null) {
            host = flags.managementHost();
        }
        if (flags.managementPort() != null) {
            port = flags.managementPort();
            portKey = "--management-port";
        }
        // one port for both would not fail on every backend: with SO_REUSEPORT (epoll, io_uring) a
        // loopback bind next to a wildcard one succeeds and quietly takes the loopback connections
        if (port != 0 && port == publicPort) {
            throw new ConfigException(portKey, port, "a port other than the public one (" + publicPort
                    + "); to serve metrics and the dashboard there too, set management.serve_on_public_port = true");
        }
        return new Management(host, port, servePublicly, tls);
    }

    /** The table {@code name} of {@code tree} after checking its keys, or null when the file has none. */
    private static JsonNode table(JsonNode tree, String name, Set<String> keys) {
        JsonNode t = tree == null ? null : tree.get(name);
        if (t == null) {
            return null;
        }
        String allowed = String.join(", ", keys.stream().sorted().toList());
        if (!t.isObject()) {
            throw new ConfigException(name, t.toString(), "a table with keys " + allowed);
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = t.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!keys.contains(e.getKey())) {
                throw new ConfigException(name + "." + e.getKey(), shown(e.getValue()),
                        "unknown key; allowed keys are " + allowed);
            }
        }
        return t;
    }

    private static String host(JsonNode table, String name, String fallback) {
        JsonNode h = table.get("host");
        if (h == null) {
            return fallback;
        }
        if (!h.isTextual() || h.textValue().isBlank()) {
            throw new ConfigException(name + ".host", shown(h), HOST_ALLOWED);
        }
        return checkHost(name + ".host", h.textValue());
    }

    /**
     * {@code host} when a listener can bind it: an IP address, or a host name that resolves (looked up
     * here, so that a typo is reported as the option it came from rather than as a failed bind).
     *
     * @throws ConfigException naming {@code key}, the host and what is allowed
     */
    static String checkHost(String key, String host) {
        try {
            InetAddress.ofLiteral(host);
            return host;
        } catch (IllegalArgumentException notALiteral) {
            // a name, a scoped IPv6 address, or a malformed address such as 999.1.1.1
        }
        boolean ipv6 = host.indexOf(':') >= 0; // resolved without a lookup
        if (!ipv6 && (host.matches("[0-9.]+") || !HOST_NAME.matcher(host).matches())) {
            throw new ConfigException(key, host, HOST_ALLOWED);
        }
        try {
            InetAddress.getByName(host);
            return host;
        } catch (UnknownHostException e) {
            throw new ConfigException(key, host, HOST_ALLOWED + (ipv6 ? "" : "; this name does not resolve"));
        }
    }

    private static int port(JsonNode table, String name, int fallback) {
        JsonNode p = table.get("port");
        if (p == null) {
            return fallback;
        }
        if (!p.isIntegralNumber() || !p.canConvertToInt() || p.intValue() < 0 || p.intValue() > 65535) {
            throw new ConfigException(name + ".port", shown(p), PORT_ALLOWED);
        }
        return p.intValue();
    }

    /** A TOML value as the user wrote it: strings quoted (by ConfigException), numbers and tables not. */
    private static Object shown(JsonNode v) {
        return v.isTextual() ? v.textValue() : v;
    }

    private static void checkTables(JsonNode tree) {
        for (Iterator<Map.Entry<String, JsonNode>> it = tree.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!TABLES.contains(e.getKey())) {
                throw new ConfigException(e.getKey(), shown(e.getValue()),
                        "unknown key; allowed tables are [runtime], [server], [management], [database]");
            }
        }
    }
}
