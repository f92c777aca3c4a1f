package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;

import java.nio.charset.StandardCharsets;

/**
 * What a response carries, as its factory made it, and the one encoder that turns it into bytes:
 * {@link #encode} for the wire (text written straight into a pooled buffer, arrays wrapped,
 * constants shared), {@link #bytes} for a response the journal stores for an idempotency key. A
 * {@link JsonValue} never gets this far: the dispatcher turns it into {@link Bytes} as soon as the
 * handler answers ({@link Json#encode}), with the server's mapper.
 */
sealed interface ResponseBody {
    Empty EMPTY = new Empty();

    record Empty() implements ResponseBody {
    }

    /** Not copied: the caller promised not to change them. */
    record Bytes(byte[] bytes) implements ResponseBody {
    }

    record Text(String text) implements ResponseBody {
    }

    /** Until the dispatcher serializes it. */
    record JsonValue(Object value) implements ResponseBody {
    }

    record Constant(Body body) implements ResponseBody {
    }

    /** Written as it is produced, never encoded in one piece. */
    record Streamed(Response.StreamProducer producer) implements ResponseBody {
    }

    /**
     * The body for the wire. An {@code instanceof} chain, most frequent kinds first: it runs once per
     * response on the worker.
     */
    static ByteBuf encode(ResponseBody body, ByteBufAllocator alloc) {
        if (body instanceof Constant c) {
            return c.body().buffer.duplicate();
        } else if (body instanceof Bytes b) {
            return Unpooled.wrappedBuffer(b.bytes());
        } else if (body instanceof Text t) {
            return ByteBufUtil.writeUtf8(alloc, t.text());
        } else if (body instanceof Empty) {
            return Unpooled.EMPTY_BUFFER;
        }
        throw unencodable(body);
    }

    /** The body as one array, for storing; null for a stream, which cannot be stored. */
    static byte[] bytes(ResponseBody body) {
        return switch (body) {
            case Empty e -> new byte[0];
            case Bytes b -> b.bytes();
            case Text t -> t.text().getBytes(StandardCharsets.UTF_8);
            case Constant c -> ByteBufUtil.getBytes(c.body().buffer, c.body().buffer.readerIndex(), c.body().buffer.readableBytes());
            case Streamed s -> null;
            case JsonValue j -> throw unencodable(j);
        };
    }

    private static IllegalStateException unencodable(ResponseBody body) {
        return new IllegalStateException(body instanceof Streamed ? "a streamed body is written as it is produced"
                : "a JSON body reached the writer unserialized; the dispatcher serializes it when the handler answers");
    }
}
