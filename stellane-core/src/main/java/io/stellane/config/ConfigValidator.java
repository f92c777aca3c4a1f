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
        if (c.maxWorkers() < c.minWorkers()) {
            throw new ConfigException("runtime.scaling.max_workers", c.maxWorkers(),
                    "at least runtime.scaling.min_workers (" + c.minWorkers() + ")");
        }
        if (c.recoveryEncryptionKeyFile() != null && c.recoveryEncryptionKey() != null) {
            // two keys with no rule for which wins: using either could open the journal with the wrong one
            throw new ConfigException(ConfigKey.ENCRYPTION_KEY_FILE, c.recoveryEncryptionKeyFile().toString(),
                    "conflicts with " + ConfigKey.byPath(ConfigKey.ENCRYPTION_KEY).orElseThrow().envName()
                            + ", which is set too; set only one of them");
        }
        if (c.recoveryPasswordFile() != null && c.recoveryPassword() != null) {
            throw new ConfigException(ConfigKey.PASSWORD_FILE, c.recoveryPasswordFile().toString(),
                    "conflicts with " + ConfigKey.byPath(ConfigKey.PASSWORD).orElseThrow().envName()
                            + ", which is set too; set only one of them");
        }
    }
}
