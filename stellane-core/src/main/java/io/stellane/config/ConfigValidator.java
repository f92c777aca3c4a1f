package io.stellane.config;

/**
 * Range checks of {@link RuntimeConfig}. The ranges live in {@link ConfigKey#ALL} next to each key,
 * so a field cannot be added to the loader and forgotten here. Stateless, hence thread-safe.
 */
final class ConfigValidator {
    private ConfigValidator() {
    }

    /** Throws {@link ConfigException} for the first field, in table order, that is out of range. */
    static void validate(RuntimeConfig c) {
        for (ConfigKey<?> key : ConfigKey.ALL) {
            key.check(c);
        }
    }
}
