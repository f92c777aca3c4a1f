package io.stellane.recovery;

import java.util.Objects;

/** One header line as received or sent; lists of them keep order and duplicates. Immutable. */
public record HttpHeader(String name, String value) {
    public HttpHeader {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(value, "value");
    }
}
