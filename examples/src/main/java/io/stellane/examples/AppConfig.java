package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.config.ConfigException;
import io.stellane.config.ConfigLoader;
import io.stellane.config.RuntimeConfig;
import io.stellane.examples.users.DatabaseConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Everything {@code ./stellane serve} needs, resolved from (lowest to highest precedence) the defaults,
 * the TOML file, the {@code STELLANE_RUNTIME_*} environment (the {@code [runtime]} table only, through
 * {@link ConfigLoader}) and the command-line flags. Immutable.
 *
 * <p>The file: {@code --config FILE}, else the default file if it exists ({@code stellane.toml} in the
 * working directory, or what the system property {@value #DEFAULT_CONFIG_PROPERTY} names: the launcher
 * points it at the repository's {@code stellane.toml}). Tables: {@code [runtime]} (see
 * {@link RuntimeConfig}), {@code [server]} {@code host}, {@code port}, and {@code [database]} (see
 * {@link DatabaseConfig}). Any other table or key is an error.
 *
 * @param runtime    the runtime config; its recovery path is {@code <dataDir>/journal} unless the file or
 *                   the environment sets it
 * @param host       the address to listen on
 * @param port       the port, 0..65535 (0: any free port)
 * @param database   where the users live
 * @param dataDir    the H2 database and the recovery journal (created {@code 0700} at startup)
 * @param configFile the file read, or null when none was
 */
public record AppConfig(RuntimeConfig runtime, String host, int port, DatabaseConfig database, Path dataDir,
                        Path configFile) {
    public static final String DEFAULT_CONFIG_PROPERTY = "stellane.config";
    public static final String DEFAULT_CONFIG_FILE = "stellane.toml";
    public static final String DEFAULT_HOST = "0.0.0.0";
    public static final int DEFAULT_PORT = 8080;
    public static final Path DEFAULT_DATA_DIR = Path.of("data");
    static final String RECOVERY_PATH_ENV = "STELLANE_RUNTIME_RECOVERY_PATH";

    private static final Set<String> TABLES = Set.of("runtime", "server", "database");
    private static final Set<String> SERVER_KEYS = Set.of("host", "port");
    private static final String PORT_ALLOWED = "an integer from 0 to 65535";
    private static final String HOST_ALLOWED = "a host name or IP address string, e.g. \"0.0.0.0\"";

    public AppConfig {
        Objects.requireNonNull(runtime, "runtime");
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(database, "database");
        Objects.requireNonNull(dataDir, "dataDir");
    }

    /** The help text of the app's options. */
    public static final String USAGE = """
            usage: ./stellane serve [--config FILE] [--port N] [--host ADDR] [--backend NAME] [--data-dir DIR]

            Runs the example users service in the foreground; Ctrl-C or SIGTERM stops it gracefully
            (in-flight requests finish).

              --config FILE    TOML file with [runtime], [server] and [database] tables
                               (default: stellane.toml of the repository, when it exists)
              --port N         port to listen on, 0..65535 (0: any free port); overrides server.port
              --host ADDR      address to listen on; overrides server.host (default 0.0.0.0)
              --backend NAME   auto, nio, epoll or io_uring; overrides runtime.backend
              --data-dir DIR   directory for the H2 database and the recovery journal, created 0700
                               (default ./data)
              -h, --help       this text

            STELLANE_RUNTIME_* environment variables override the [runtime] table (e.g.
            STELLANE_RUNTIME_WORKER_THREADS=4); flags override both.
            """;

    /** Parsed command-line flags; null means not given. */
    record Flags(Path config, Integer port, String host, String backend, Path dataDir, boolean help) {
        static Flags parse(List<String> args) {
            Path config = null;
            Integer port = null;
            String host = null;
            String backend = null;
            Path dataDir = null;
            boolean help = false;
            for (int i = 0; i < args.size(); i++) {
                String a = args.get(i);
                String v = i + 1 < args.size() ? args.get(i + 1) : null;
                switch (a) {
                    case "--config" -> { config = Path.of(value(a, v)); i++; }
                    case "--port" -> { port = parsePort(a, value(a, v)); i++; }
                    case "--host" -> { host = nonBlank(a, value(a, v)); i++; }
                    case "--backend" -> { backend = nonBlank(a, value(a, v)); i++; }
                    case "--data-dir" -> { dataDir = Path.of(nonBlank(a, value(a, v))); i++; }
                    case "-h", "--help" -> help = true;
                    default -> throw new ConfigException(a, "unknown option; the options are --config, --port, --host,"
                            + " --backend, --data-dir, --help");
                }
            }
            return new Flags(config, port, host, backend, dataDir, help);
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

        JsonNode server = tree == null ? null : tree.get("server");
        String host = DEFAULT_HOST;
        int port = DEFAULT_PORT;
        if (server != null) {
            if (!server.isObject()) {
                throw new ConfigException("server", server.toString(), "a table with keys host, port");
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = server.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (!SERVER_KEYS.contains(e.getKey())) {
                    throw new ConfigException("server." + e.getKey(), shown(e.getValue()),
                            "unknown key; allowed keys are host, port");
                }
            }
            JsonNode h = server.get("host");
            if (h != null) {
                if (!h.isTextual() || h.textValue().isBlank()) {
                    throw new ConfigException("server.host", shown(h), HOST_ALLOWED);
                }
                host = h.textValue();
            }
            JsonNode p = server.get("port");
            if (p != null) {
                if (!p.isIntegralNumber() || !p.canConvertToInt() || p.intValue() < 0 || p.intValue() > 65535) {
                    throw new ConfigException("server.port", shown(p), PORT_ALLOWED);
                }
                port = p.intValue();
            }
        }
        if (flags.host() != null) {
            host = flags.host();
        }
        if (flags.port() != null) {
            port = flags.port();
        }
        DatabaseConfig database = DatabaseConfig.fromToml(tree == null ? null : tree.get("database"), dataDir);
        return new AppConfig(runtime, host, port, database, dataDir, file);
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
                        "unknown key; allowed tables are [runtime], [server], [database]");
            }
        }
    }
}
