package io.stellane.config;

import org.assertj.core.api.ThrowableAssert.ThrowingCallable;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Every config error must let the user fix it without reading code: key, value and what is allowed. */
final class ConfigAssertions {
    private ConfigAssertions() {
    }

    static void assertConfigError(ThrowingCallable call, String key, String value, String... allowed) {
        assertThatThrownBy(call)
                .isInstanceOf(ConfigException.class)
                // the exact "key = value" pair, so a value that merely appears elsewhere does not pass
                .hasMessageContaining(key + " = " + value)
                .hasMessageContainingAll(allowed)
                .extracting(e -> ((ConfigException) e).key()).isEqualTo(key);
    }
}
