package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.AsciiString;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * A constant body encoded once, shared by every response that sends it: the bytes live in one
 * read-only direct buffer and are written without copying. Make one per constant, in a static field.
 * Thread-safe.
 */
public final class Body {
    final ByteBuf buffer;
    final AsciiString contentType;
    final AsciiString contentLength;

    private Body(byte[] bytes, String contentType) {
        this.buffer = Unpooled.unreleasableBuffer(Unpooled.directBuffer(bytes.length).writeBytes(bytes)).asReadOnly();
        this.contentType = AsciiString.cached(Objects.requireNonNull(contentType, "contentType"));
        this.contentLength = AsciiString.cached(Integer.toString(bytes.length));
    }

    public static Body of(byte[] bytes, String contentType) {
        return new Body(bytes.clone(), contentType);
    }

    public static Body of(String text, String contentType) {
        return new Body(text.getBytes(StandardCharsets.UTF_8), contentType);
    }

    public int length() {
        return buffer.readableBytes();
    }
}
