package io.stellane.config;

import io.stellane.StellaneException;

/**
 * A configuration value is missing, unknown, of the wrong type or out of range, or a config file
 * cannot be read or parsed. The message names the key (TOML key, environment variable or file),
 * the value as given and what is allowed. Immutable, hence thread-safe.
 */
public class ConfigException extends StellaneException {
    private final String key;

    /**
     * @param key     the full key, e.g. {@code runtime.worker_threads} or {@code STELLANE_RUNTIME_WORKERS}
     * @param value   the offending value as given
     * @param allowed what would have been accepted
     */
    public ConfigException(String key, Object value, String allowed) {
        super("invalid config " + key + " = " + quote(value) + ": " + allowed);
        this.key = key;
    }

    public ConfigException(String key, String message) {
        super("invalid config " + key + ": " + message);
        this.key = key;
    }

    /** For a failure with an underlying cause, e.g. an I/O or TOML syntax error in the file {@code key}. */
    public ConfigException(String key, String message, Throwable cause) {
        super("invalid config " + key + ": " + message, cause);
        this.key = key;
    }

    /** The key that is wrong. */
    public String key() {
        return key;
    }

    private static String quote(Object value) {
        return value instanceof String s ? '"' + s + '"' : String.valueOf(value);
    }
}
