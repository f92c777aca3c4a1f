package io.stellane.config;

import java.util.Objects;

/**
 * A configuration value that must never be shown: {@link #toString()} (and so
 * {@link RuntimeConfig#toString()} and every {@link ConfigException}) prints {@value #HIDDEN}
 * instead of it. Immutable, hence thread-safe.
 */
public final class Secret {
    /** What is shown in place of a secret. */
    public static final String HIDDEN = "(hidden)";

    private final String text;

    private Secret(String text) {
        this.text = Objects.requireNonNull(text, "text");
    }

    public static Secret of(String text) {
        return new Secret(text);
    }

    /** The secret itself; hand it only to what needs it, never to a log. */
    public String reveal() {
        return text;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Secret s && text.equals(s.text);
    }

    @Override
    public int hashCode() {
        return text.hashCode();
    }

    @Override
    public String toString() {
        return HIDDEN;
    }
}
