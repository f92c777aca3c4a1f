package io.stellane.examples.users;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.config.ConfigException;

import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Where the users live: a JDBC URL ({@code jdbc:h2:...} or {@code jdbc:postgresql:...}), the credentials,
 * and how many connections the pool may open. Validated on construction. Immutable; {@link #toString()}
 * hides the password.
 *
 * <p>In {@code stellane.toml}:
 * <pre>{@code
 * [database]
 * url = "jdbc:postgresql://127.0.0.1:5432/users"   # default: an H2 file under the data directory, 0600
 * user = "stellane"
 * password = "secret"
 * pool_size = 8                                     # 1..256, default 8
 * }</pre>
 */
public record DatabaseConfig(String jdbcUrl, String user, String password, int poolSize) {
    public static final int DEFAULT_POOL_SIZE = 8;
    public static final int MAX_POOL_SIZE = 256;
    /** The user of the default embedded H2 database. */
    public static final String DEFAULT_H2_USER = "sa";
    /** The default H2 database's name in the data directory: its files are {@code users.*}. */
    public static final String DEFAULT_H2_NAME = "users";

    static final String TABLE = "database";
    private static final Set<String> KEYS = Set.of("url", "user", "password", "pool_size");
    private static final String URL_ALLOWED = "a JDBC URL starting with jdbc:h2: or jdbc:postgresql:";

    public DatabaseConfig {
        if (jdbcUrl == null || Dialect.forUrl(jdbcUrl).isEmpty()) {
            throw new ConfigException(TABLE + ".url", jdbcUrl, URL_ALLOWED);
        }
        user = user == null ? "" : user;
        password = password == null ? "" : password;
        if (poolSize < 1 || poolSize > MAX_POOL_SIZE) {
            throw new ConfigException(TABLE + ".pool_size", poolSize, "an integer from 1 to " + MAX_POOL_SIZE);
        }
    }

    /** The embedded H2 database {@code <dataDir>/users.mv.db}, user {@code sa}, no password. */
    public static DatabaseConfig defaults(Path dataDir) {
        return new DatabaseConfig(defaultUrl(dataDir), DEFAULT_H2_USER, "", DEFAULT_POOL_SIZE);
    }

    /**
     * The H2 file URL under {@code dataDir}, through {@link PrivateFilePath} so that every file H2 creates
     * there is {@code 0600}. The database stays open until the repository closes its last connection
     * ({@code DB_CLOSE_ON_EXIT=FALSE}: the runtime's shutdown hook, not H2's, decides).
     */
    public static String defaultUrl(Path dataDir) {
        Objects.requireNonNull(dataDir, "dataDir");
        String dir = dataDir.toAbsolutePath().normalize().toString();
        if (dir.indexOf(';') >= 0) {
            // H2 would read what follows as URL settings
            throw new ConfigException("data_dir", dir, "a directory whose path has no ';'");
        }
        // WRITE_DELAY=0: a commit reaches the file before the create is acknowledged. H2's default
        // (500 ms) loses acknowledged users to a kill -9; the crash test (UsersCrashTest) shows it.
        // TRACE_LEVEL_FILE=0: no users.trace.db. Its errors reach the service as SQLExceptions, logged
        // once per interval; H2's own file took a stack trace per failed call, on the disk that was full.
        return "jdbc:h2:" + PrivateFilePath.SCHEME + ":" + dir + "/" + DEFAULT_H2_NAME
                + ";DB_CLOSE_ON_EXIT=FALSE;WRITE_DELAY=0;TRACE_LEVEL_FILE=0";
    }

    /**
     * Reads a {@code [database]} table (keys {@code url}, {@code user}, {@code password},
     * {@code pool_size}); absent keys take the {@link #defaults(Path)}. A null or missing table means all
     * defaults.
     *
     * @throws ConfigException naming the key, the value and what is allowed, for an unknown key, a value
     *                         of the wrong type, an unsupported URL or a pool size out of range
     */
    public static DatabaseConfig fromToml(JsonNode databaseTable, Path dataDir) {
        if (databaseTable == null || databaseTable.isMissingNode() || databaseTable.isNull()) {
            return defaults(dataDir);
        }
        if (!databaseTable.isObject()) {
            throw new ConfigException(TABLE, databaseTable.toString(),
                    "a table with keys url, user, password, pool_size");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = databaseTable.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!KEYS.contains(e.getKey())) {
                throw new ConfigException(TABLE + "." + e.getKey(), e.getValue().toString(),
                        "unknown key; allowed keys are url, user, password, pool_size");
            }
        }
        String url = string(databaseTable, "url", URL_ALLOWED);
        String user = string(databaseTable, "user", "a string");
        String password = string(databaseTable, "password", "a string");
        int poolSize = DEFAULT_POOL_SIZE;
        JsonNode size = databaseTable.get("pool_size");
        if (size != null) {
            if (!size.isIntegralNumber() || !size.canConvertToInt()) {
                throw new ConfigException(TABLE + ".pool_size", size.isTextual() ? size.asText() : size.toString(),
                        "an integer from 1 to " + MAX_POOL_SIZE);
            }
            poolSize = size.intValue();
        }
        if (url == null) {
            // the default H2 file keeps its default user unless the table names one
            return new DatabaseConfig(defaultUrl(dataDir), user == null ? DEFAULT_H2_USER : user, password, poolSize);
        }
        return new DatabaseConfig(url, user, password, poolSize);
    }

    /** The dialect of {@link #jdbcUrl()}. */
    public Dialect dialect() {
        return Dialect.forUrl(jdbcUrl).orElseThrow();
    }

    @Override
    public String toString() {
        return "DatabaseConfig[jdbcUrl=" + jdbcUrl + ", user=" + user + ", password="
                + (password.isEmpty() ? "" : "***") + ", poolSize=" + poolSize + "]";
    }

    private static String string(JsonNode table, String key, String allowed) {
        JsonNode v = table.get(key);
        if (v == null) {
            return null;
        }
        if (!v.isTextual()) {
            throw new ConfigException(TABLE + "." + key, v.toString(), allowed);
        }
        return v.textValue();
    }
}
