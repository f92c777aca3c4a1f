package io.stellane.config;

import io.stellane.StellaneException;

/** A configuration value is missing, unknown, of the wrong type or out of range. */
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

    /** The key that is wrong. */
    public String key() {
        return key;
    }

    private static String quote(Object value) {
        return value instanceof String s ? '"' + s + '"' : String.valueOf(value);
    }
}
